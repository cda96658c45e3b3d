/**
 * Token expiry in the store, the fan-out path and the sweeper, against dynalite
 * with a controlled clock and a fake DeleteConnection.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import {
  EXPIRY_INDEX_NAME,
  NotFound,
  createConnectionCloser,
  createConnectionStore,
  createExpirySweep,
  createHandOn,
  createShardedDelivery,
  createFanOut,
  createTelemetryHandler,
  noopCounter,
} from '@serverless-iot-dashboard/shared';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';
import { loadEvent } from '../../helpers/events.js';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const T0 = 1_795_597_200_000;

const collect = async (pages: AsyncIterable<string[]>) => {
  const ids: string[] = [];
  for await (const page of pages) ids.push(...page);
  return ids;
};

describe('token expiry (dynalite)', function () {
  this.timeout(60_000);
  let dynamo: TestDynamo;
  let tableName: string;
  let clock: number;
  const now = () => clock;
  const store = () => createConnectionStore({ doc: dynamo.doc, tableName, now });
  const disconnects: string[] = [];
  let disconnectAnswer: (id: string) => Promise<void>;
  const closer = (s = store()) =>
    createConnectionCloser({
      disconnect: async (id) => {
        disconnects.push(id);
        await disconnectAnswer(id);
      },
      store: s,
      log: silentLog,
      counter: noopCounter,
    });
  const connect = (s: ReturnType<typeof store>, connectionId: string, tokenExpiresAt: number | undefined, devices: string[] | '*' = ['dev-1']) =>
    s.putConnection({ connectionId, sub: 'alice', scope: '*', publish: true, devices, tokenExpiresAt });
  const tableItems = async () => (await dynamo.doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'dev#dev-1' } }))).Items ?? [];

  before(async () => {
    dynamo = await startDynamo();
  });
  after(() => dynamo.stop());
  beforeEach(async () => {
    tableName = await dynamo.freshTable();
    clock = T0;
    disconnects.length = 0;
    disconnectAnswer = async () => undefined;
  });

  it("caps the item's TTL at the token's exp and keeps the exp with the connection", async () => {
    const s = store();
    const exp = T0 / 1000 + 60;

    const record = await connect(s, 'c1', exp);

    expect(record).to.include({ tokenExpiresAt: exp, expiresAt: exp });
    expect((await s.getConnection('c1'))!.tokenExpiresAt).to.equal(exp);
  });

  it('serves no route past exp: the connection reads as gone, a ping is refused, a subscribe is NotFound', async () => {
    // Arrange
    const s = store();
    await connect(s, 'c1', T0 / 1000 + 60);
    expect(await s.touch('c1'), 'a ping before exp').to.equal(true);

    // Act: one second past exp (the ping above pushed the TTL two hours out; the token still ends it).
    clock = T0 + 61_000;

    // Assert
    expect(await s.getConnection('c1')).to.equal(undefined);
    expect(await s.touch('c1')).to.equal(false);
    expect(await s.subscribe('c1', ['dev-2']).catch((e: Error) => e)).to.be.instanceOf(NotFound);
  });

  it('never returns a connection past exp as a recipient, and reports it as expired to the caller', async () => {
    // Arrange
    const s = store();
    await connect(s, 'short', T0 / 1000 + 60);
    await connect(s, 'long', T0 / 1000 + 3600);
    clock = T0 + 61_000;
    const expired: string[] = [];

    // Act
    const recipients = await collect(s.recipientPages('dev-1', { expired: (ids) => expired.push(...ids) }));

    // Assert
    expect(recipients).to.deep.equal(['long']);
    expect(expired).to.deep.equal(['short']);
  });

  it('keeps a subscription added after a ping within the token: it expires with the token, not with the ping', async () => {
    const s = store();
    await connect(s, 'c1', T0 / 1000 + 60);
    await s.touch('c1');
    await s.subscribe('c1', ['dev-2']);

    clock = T0 + 61_000;

    expect(await collect(s.recipientPages('dev-2'))).to.deep.equal([]);
  });

  it('closes a recipient met past exp from the telemetry fan-out (DeleteConnection), delivering nothing to it, and deletes its items', async () => {
    // Arrange
    const s = store();
    await connect(s, 'expired', T0 / 1000 + 60);
    await connect(s, 'live', T0 / 1000 + 3600);
    clock = T0 + 61_000;
    const posted: string[] = [];
    const fanOut = createFanOut({ store: s, post: async (id) => void posted.push(id), log: silentLog, counter: noopCounter });
    const deliver = createShardedDelivery({ fanOut, shardSize: 1000, log: silentLog, counter: noopCounter });
    const handOn = createHandOn({ deliver, store: s, log: silentLog, counter: noopCounter });
    const handler = createTelemetryHandler({ handOn, log: silentLog, counter: noopCounter, closer: closer(s) });

    // Act
    const outcome = await handler({ ...loadEvent<Record<string, unknown>>('telemetry'), deviceId: 'dev-1' });

    // Assert
    expect(outcome.delivered).to.equal(1);
    expect(posted).to.deep.equal(['live']);
    expect(disconnects).to.deep.equal(['expired']);
    expect((await tableItems()).map((i) => i.sk)).to.deep.equal(['live']);
  });

  it('sweeps every connection past exp through the index (idle ones included), closing each once and deleting its items', async () => {
    // Arrange: 30 expired connections over the index shards, one live, one without a token expiry (auth off).
    const s = store();
    for (let i = 0; i < 30; i++) await connect(s, `old-${i}`, T0 / 1000 + 10 + i);
    await connect(s, 'live', T0 / 1000 + 3600);
    await connect(s, 'anonymous', undefined);
    clock = T0 + 3_000_000;
    const sweep = createExpirySweep({ doc: dynamo.doc, tableName, closer: closer(s), log: silentLog, now, pageSize: 7 });

    // Act
    const result = await sweep();
    const again = await sweep();

    // Assert
    expect(result).to.include({ expired: 30, closed: 30, failed: 0, stopped: false });
    expect(new Set(disconnects).size).to.equal(30);
    expect(again.expired).to.equal(0);
    expect((await tableItems()).map((i) => i.sk).sort()).to.deep.equal(['anonymous', 'live']);
    const indexed = await dynamo.doc.send(new QueryCommand({ TableName: tableName, IndexName: EXPIRY_INDEX_NAME, KeyConditionExpression: 'expiryShard = :s', ExpressionAttributeValues: { ':s': 'exp#0' } }));
    expect((indexed.Items ?? []).every((i) => i.pk === 'conn#live')).to.equal(true);
  });

  it('deletes the items of an expired connection that is already gone (410), and keeps those whose DeleteConnection failed for the next sweep', async () => {
    // Arrange
    const s = store();
    await connect(s, 'gone', T0 / 1000 + 10);
    await connect(s, 'flaky', T0 / 1000 + 10);
    clock = T0 + 60_000;
    disconnectAnswer = async (id) => {
      if (id === 'gone') throw Object.assign(new Error('Gone'), { name: 'GoneException', $metadata: { httpStatusCode: 410 } });
      throw Object.assign(new Error('boom'), { name: 'InternalServerErrorException', $metadata: { httpStatusCode: 500 } });
    };
    const sweep = createExpirySweep({ doc: dynamo.doc, tableName, closer: closer(s), log: silentLog, now });

    // Act
    const result = await sweep();

    // Assert
    expect(result).to.include({ expired: 2, gone: 1, failed: 1, closed: 0 });
    expect((await tableItems()).map((i) => i.sk)).to.deep.equal(['flaky']);
  });
});
