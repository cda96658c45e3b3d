/**
 * Fan-out end to end on real servers: dynalite for the table, a management
 * API stub that answers 410/429/500 the way API Gateway does, and the
 * product's own signed poster in between.
 */
import { expect } from 'chai';
import {
  createConnectionStore,
  createFanOut,
  createSignedPoster,
  noopCounter,
  telemetryEnvelope,
} from '@serverless-iot-dashboard/shared';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';
import { loadEvent } from '../../helpers/events.js';
import { type ManagementStub, startManagementStub } from '../../helpers/managementStub.js';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

const collect = async (pages: AsyncIterable<string[]>) => {
  const ids: string[] = [];
  for await (const page of pages) ids.push(...page);
  return ids;
};

/** Runs `task` over `items` with at most `limit` in flight. */
const inParallel = async <T>(items: T[], limit: number, task: (item: T) => Promise<unknown>) => {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await task(items[next++]!);
  }));
};

describe('fan-out against dynalite and a management API stub', function () {
  this.timeout(120000);
  let dynamo: TestDynamo;
  let stub: ManagementStub;

  before(async () => {
    dynamo = await startDynamo();
  });
  after(() => dynamo.stop());
  beforeEach(async () => {
    stub = await startManagementStub();
  });
  afterEach(() => stub.stop());

  it('reaches 2,000 subscribers exactly once, retries 429/500, and deletes exactly the stale connections', async () => {
    const tableName = await dynamo.freshTable();
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const live = Array.from({ length: 2000 }, (_, i) => `live-${i}`);
    const stale = Array.from({ length: 50 }, (_, i) => `stale-${i}`);
    const bystander = 'other-device';
    await inParallel([...live, ...stale], 16, (id) =>
      store.putConnection({ connectionId: id, sub: id, scope: '*', publish: false, devices: id.endsWith('7') ? '*' : ['dev-1'] }),
    );
    await store.putConnection({ connectionId: bystander, sub: 'x', scope: '*', publish: false, devices: ['dev-2'] });
    stub.answer = (id, attempt) => {
      if (id.startsWith('stale-')) return 410;
      if (id.endsWith('3') && attempt === 1) return 429;
      if (id.endsWith('5') && attempt === 1) return 500;
      return 200;
    };
    const post = createSignedPoster({ endpoint: stub.endpoint, region: 'us-east-1', maxSockets: 64, credentials: async () => CREDENTIALS });
    const fanOut = createFanOut({ store, post, log: silentLog, counter: noopCounter, concurrency: 64, baseDelayMs: 5, maxDelayMs: 20 });
    const frame = telemetryEnvelope(loadEvent('telemetry'));

    const started = performance.now();
    const result = await fanOut.deliver(store.recipientPages('dev-1'), JSON.stringify(frame));
    const elapsedMs = performance.now() - started;
    console.log(`      fan-out to ${result.recipients} recipients took ${elapsedMs.toFixed(0)} ms`);

    expect(result).to.include({ recipients: 2050, delivered: 2000, gone: 50, failed: 0, retried: 400 });
    const delivered = stub.posts.map((p) => p.connectionId);
    expect(delivered.length).to.equal(2000);
    expect(new Set(delivered)).to.deep.equal(new Set(live));
    expect(JSON.parse(stub.posts[0]!.body)).to.include({ type: 'telemetry', id: frame.id });
    expect(stub.maxInFlight).to.be.at.most(64);
    const remaining = await collect(store.recipientPages('dev-1'));
    expect(remaining.length).to.equal(2000);
    expect(remaining.some((id) => id.startsWith('stale-'))).to.equal(false);
    for (const id of stale) expect(await store.getConnection(id), id).to.equal(undefined);
    expect(await store.getConnection(bystander)).to.not.equal(undefined);
  });

  it('reports partial failure without throwing when some posts keep failing', async () => {
    const tableName = await dynamo.freshTable();
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    for (const id of ['a', 'b', 'c']) await store.putConnection({ connectionId: id, sub: id, scope: '*', publish: false, devices: ['dev-1'] });
    stub.answer = (id) => (id === 'b' ? 500 : 200);
    const post = createSignedPoster({ endpoint: stub.endpoint, region: 'us-east-1', credentials: async () => CREDENTIALS });
    const fanOut = createFanOut({ store, post, log: silentLog, counter: noopCounter, baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 3 });

    const result = await fanOut.deliver(store.recipientPages('dev-1'), '{"type":"pong","ts":1}');

    expect(result).to.include({ delivered: 2, failed: 1, retried: 2, gone: 0 });
    expect(await store.getConnection('b')).to.not.equal(undefined);
  });
});
