/** The per-holder connection cap against a real DynamoDB-compatible server (dynalite on 127.0.0.1). */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { ANONYMOUS, createConnectRoute, createConnectionStore, createHolderConnections, holderPartition } from '@serverless-iot-dashboard/shared';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';
import { loadEvent } from '../../helpers/events.js';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const T0 = 1_795_597_200_000;

describe('connections per token holder (dynalite)', function () {
  this.timeout(60_000);
  let dynamo: TestDynamo;
  let tableName: string;

  before(async () => {
    dynamo = await startDynamo();
  });
  after(() => dynamo.stop());
  beforeEach(async () => {
    tableName = await dynamo.freshTable();
  });

  const slots = async (sub: string) =>
    (await dynamo.doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': holderPartition(sub) } }))).Items ?? [];

  it('lets 20 of 300 simultaneous connects of one holder in, each in a slot of its own, and refuses the other 280', async function () {
    // 300 contending claims, up to 20 conditional writes each, on one dynalite: seconds on a loaded machine.
    this.timeout(120_000);
    const holders = createHolderConnections({ doc: dynamo.doc, tableName, max: 20 });

    const outcomes = await Promise.all(Array.from({ length: 300 }, (_, i) => holders.claim('alice', `c${i}`)));

    const taken = outcomes.filter((slot) => slot !== undefined);
    expect(taken).to.have.length(20);
    expect(new Set(taken).size).to.equal(20);
    expect(await slots('alice')).to.have.length(20);
    // Another holder is not affected.
    expect(await holders.claim('bob', 'b0')).to.be.a('number');
  });

  it('frees the place when the connection is removed ($disconnect, a 410, the expiry sweeper), and the next connect gets it', async () => {
    const holders = createHolderConnections({ doc: dynamo.doc, tableName, max: 2 });
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const connect = createConnectRoute({ store, log: silentLog, requireAuth: true, holders });
    const event = (connectionId: string) => {
      const e = loadEvent('connect');
      e.requestContext.connectionId = connectionId;
      e.requestContext.authorizer = { principalId: 'alice', sub: 'alice', devices: 'dev-1', publish: 'false', exp: String(Math.floor(Date.now() / 1000) + 3600) };
      delete e.queryStringParameters;
      return e;
    };

    await connect(event('c1'));
    await connect(event('c2'));
    const refused = await connect(event('c3')).then(() => undefined, (error: Error & { statusCode?: number }) => error);
    expect(refused?.statusCode, 'the third connect of one holder').to.equal(403);
    expect(refused?.message).to.match(/at most 2 connections/);
    expect(await store.getConnection('c3')).to.equal(undefined);

    await store.removeConnection('c1');
    await connect(event('c4'));
    expect(await store.getConnection('c4')).to.deep.include({ sub: 'alice' });
    expect((await slots('alice')).map((s) => s.connectionId).sort()).to.deep.equal(['c2', 'c4']);
  });

  it('frees the place of a socket dropped without any removal once its slot expires, past the 2-hour connection limit', async () => {
    let now = T0;
    const holders = createHolderConnections({ doc: dynamo.doc, tableName, max: 1, now: () => now });
    expect(await holders.claim('carol', 'lost')).to.equal(0);
    expect(await holders.claim('carol', 'next')).to.equal(undefined);

    now = T0 + 2 * 3600_000; // API Gateway has closed it by now; its slot is still held (10 min of margin)
    expect(await holders.claim('carol', 'next')).to.equal(undefined);
    now = T0 + (2 * 3600 + 10 * 60) * 1000;
    expect(await holders.claim('carol', 'next')).to.equal(0);
    expect((await slots('carol')).map((s) => s.connectionId)).to.deep.equal(['next']);
  });

  it('counts no holder without auth (the local AUTH=off stack): every anonymous connect is let in', async () => {
    const holders = createHolderConnections({ doc: dynamo.doc, tableName, max: 1 });
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const connect = createConnectRoute({ store, log: silentLog, requireAuth: false, holders });
    for (const id of ['a1', 'a2', 'a3']) {
      const e = loadEvent('connect');
      e.requestContext.connectionId = id;
      delete e.requestContext.authorizer;
      delete e.queryStringParameters;
      await connect(e);
    }
    expect(await slots(ANONYMOUS.sub)).to.have.length(0);
  });
});
