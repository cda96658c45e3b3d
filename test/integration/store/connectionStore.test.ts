/** The connection store against a real DynamoDB-compatible server (dynalite on 127.0.0.1). */
import { BatchWriteCommand, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { NotFound, createConnectionStore } from '@serverless-iot-dashboard/shared';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';

const collect = async (pages: AsyncIterable<string[]>) => {
  const all: string[] = [];
  let count = 0;
  for await (const page of pages) {
    all.push(...page);
    count++;
  }
  return { ids: all, pages: count };
};

describe('connection store (dynalite)', function () {
  this.timeout(60000);
  let dynamo: TestDynamo;
  let tableName: string;

  before(async () => {
    dynamo = await startDynamo();
  });
  after(() => dynamo.stop());
  beforeEach(async () => {
    tableName = await dynamo.freshTable();
  });

  it('stores a connection with its scope and subscriptions, and finds it as a recipient', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });

    await store.putConnection({ connectionId: 'c1', sub: 'alice', scope: ['dev-1', 'dev-2'], publish: false, devices: ['dev-1'] });

    expect(await store.getConnection('c1')).to.deep.include({ sub: 'alice', scope: ['dev-1', 'dev-2'], publish: false, devices: ['dev-1'] });
    expect((await collect(store.recipientPages('dev-1'))).ids).to.deep.equal(['c1']);
    expect((await collect(store.recipientPages('dev-2'))).ids).to.deep.equal([]);
  });

  it('resumes a recipient lookup right after a position, in either partition, even after earlier subscriptions were deleted', async () => {
    // Arrange: a, b, c on the device; b, d, e on every device; pages of 2
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    for (const id of ['a', 'b', 'c']) await store.putConnection({ connectionId: id, sub: id, scope: '*', publish: false, devices: ['dev-1'] });
    for (const id of ['d', 'e']) await store.putConnection({ connectionId: id, sub: id, scope: '*', publish: false, devices: '*' });
    await store.subscribe('b', '*');

    // Act: resume after b on the device, then delete a (as a 410 would) and resume after d on "*"
    const onDevice = await collect(store.recipientPages('dev-1', { pageSize: 2, from: { key: 'dev-1', after: 'b' } }));
    await store.removeConnection('a');
    const keys: string[] = [];
    const onAll = await collect(store.recipientPages('dev-1', { pageSize: 2, from: { key: '*', after: 'd' }, onPage: (k) => keys.push(k) }));

    // Assert
    expect(onDevice.ids).to.deep.equal(['c', 'd', 'e']);
    expect(onAll.ids).to.deep.equal(['e']);
    expect(keys).to.deep.equal(['*']);
  });

  it('finds subscribers of the device and of every device, each once', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'specific', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    await store.putConnection({ connectionId: 'everything', sub: 'b', scope: '*', publish: false, devices: '*' });
    await store.putConnection({ connectionId: 'both', sub: 'c', scope: '*', publish: false, devices: ['dev-1'] });
    await store.subscribe('both', '*');
    await store.putConnection({ connectionId: 'other', sub: 'd', scope: '*', publish: false, devices: ['dev-2'] });

    const { ids } = await collect(store.recipientPages('dev-1'));

    expect(ids.sort()).to.deep.equal(['both', 'everything', 'specific']);
  });

  it('subscribes and unsubscribes, keeping the connection item and the subscription items in step', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'c1', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });

    expect(await store.subscribe('c1', ['dev-2', 'dev-3'])).to.deep.equal(['dev-1', 'dev-2', 'dev-3']);
    expect(await store.unsubscribe('c1', ['dev-1'])).to.deep.equal(['dev-2', 'dev-3']);

    expect((await store.getConnection('c1'))!.devices).to.deep.equal(['dev-2', 'dev-3']);
    expect((await collect(store.recipientPages('dev-1'))).ids).to.deep.equal([]);
    expect((await collect(store.recipientPages('dev-3'))).ids).to.deep.equal(['c1']);
  });

  it('refuses to subscribe a connection that is not registered, and stores nothing', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });

    let error: unknown;
    await store.subscribe('ghost', ['dev-1']).catch((e) => (error = e));

    expect(error).to.be.instanceOf(NotFound);
    expect((await collect(store.recipientPages('dev-1'))).ids).to.deep.equal([]);
  });

  it('removes a connection and every subscription it had, leaving the table empty', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'c1', sub: 'a', scope: '*', publish: false, devices: ['dev-1', 'dev-2'] });
    await store.subscribe('c1', '*');

    await store.removeConnection('c1');

    const scan = await dynamo.doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'conn#c1' } }));
    expect(scan.Items).to.deep.equal([]);
    for (const device of ['dev-1', 'dev-2', '*']) expect((await collect(store.recipientPages(device))).ids).to.deep.equal([]);
  });

  it('ignores expired items on read, because DynamoDB deletes them late (and dynalite never)', async () => {
    let now = Date.now();
    const store = createConnectionStore({ doc: dynamo.doc, tableName, ttlSeconds: 60, now: () => now });
    await store.putConnection({ connectionId: 'c1', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });

    now += 61_000;

    expect(await store.getConnection('c1')).to.equal(undefined);
    expect((await collect(store.recipientPages('dev-1'))).ids).to.deep.equal([]);
    expect(await store.touch('c1')).to.equal(true); // the item is still there until TTL deletes it
  });

  it('extends the TTL on touch, and reports a connection that is gone', async () => {
    let now = Date.now();
    const store = createConnectionStore({ doc: dynamo.doc, tableName, ttlSeconds: 60, now: () => now });
    await store.putConnection({ connectionId: 'c1', sub: 'a', scope: '*', publish: false, devices: [] as never });
    const before = (await dynamo.doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'conn#c1', sk: 'meta' } }))).Item!.expiresAt;

    now += 30_000;
    await store.touch('c1');

    const after = (await dynamo.doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'conn#c1', sk: 'meta' } }))).Item!.expiresAt;
    expect(after - before).to.equal(30);
    expect(await store.touch('never-connected')).to.equal(false);
  });

  it('pages through more than 1 MB of subscribers of one device', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const pad = 'x'.repeat(1000); // ~1 KB items: 1,200 of them exceed DynamoDB's 1 MB Query page
    const ids = Array.from({ length: 1200 }, (_, i) => `conn-${String(i).padStart(5, '0')}`);
    for (let i = 0; i < ids.length; i += 25) {
      const batch = ids.slice(i, i + 25).map((id) => ({ PutRequest: { Item: { pk: 'dev#dev-1', sk: id, expiresAt, pad } } }));
      await dynamo.doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: batch } }));
    }

    const tally = { requests: 0, readUnits: 0 };
    const { ids: found, pages } = await collect(store.recipientPages('dev-1', { tally }));

    expect(pages).to.be.greaterThan(1);
    expect(tally.requests).to.equal(pages + 1); // the device's pages, then one Query of dev#*
    expect(tally.readUnits).to.be.within(100, 200); // ~1.2 MB at 0.5 RRU per 4 KB
    expect(found.length).to.equal(1200);
    expect(new Set(found)).to.deep.equal(new Set(ids));
  });
});
