/** Sharded fan-out on real servers: 5,000 recipients in dynalite, workers invoked in parallel. */
import { expect } from 'chai';
import {
  type FanoutShard,
  createConnectionStore,
  createFanOut,
  createFanoutWorkerHandler,
  createHandOn,
  createShardedDelivery,
  createSignedPoster,
  noopCounter,
} from '@serverless-iot-dashboard/shared';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';
import { type ManagementStub, startManagementStub } from '../../helpers/managementStub.js';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

describe('sharded fan-out past one invocation', function () {
  this.timeout(120000);
  let dynamo: TestDynamo;
  let stub: ManagementStub;

  before(async () => {
    dynamo = await startDynamo();
    stub = await startManagementStub();
  });
  after(async () => {
    await stub.stop();
    await dynamo.stop();
  });

  it('reaches each of 5,000 subscribers exactly once across the telemetry function and its workers', async () => {
    const tableName = await dynamo.freshTable();
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const ids = Array.from({ length: 5000 }, (_, i) => `conn-${i}`);
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    for (let i = 0; i < ids.length; i += 25) {
      const { BatchWriteCommand } = await import('@aws-sdk/lib-dynamodb');
      const batch = ids.slice(i, i + 25).map((id) => ({ PutRequest: { Item: { pk: 'dev#dev-1', sk: id, expiresAt } } }));
      await dynamo.doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: batch } }));
    }
    const newFanOut = () =>
      createFanOut({ store, post: createSignedPoster({ endpoint: stub.endpoint, region: 'us-east-1' }), log: silentLog, counter: noopCounter });
    // Each "worker" is a separate fan-out with its own socket pool, as a separate Lambda would be.
    const workerResults: Promise<unknown>[] = [];
    const dispatch = async (shard: FanoutShard) => {
      const deliver = createShardedDelivery({ fanOut: newFanOut(), shardSize: 1000, log: silentLog, counter: noopCounter });
      const worker = createFanoutWorkerHandler({ handOn: createHandOn({ deliver, store, log: silentLog, counter: noopCounter }), log: silentLog, counter: noopCounter });
      workerResults.push(worker(JSON.parse(JSON.stringify(shard))));
    };
    const deliver = createShardedDelivery({ fanOut: newFanOut(), dispatch, shardSize: 1000, log: silentLog, counter: noopCounter });

    const result = await deliver(store.recipientPages('dev-1'), '{"type":"telemetry","id":"m1"}', 'm1');
    await Promise.all(workerResults);

    expect(result).to.include({ delivered: 1000, shards: 4, sharded: 4000 });
    const received = stub.posts.map((p) => p.connectionId);
    expect(received.length).to.equal(5000);
    expect(new Set(received)).to.deep.equal(new Set(ids));
  });
});
