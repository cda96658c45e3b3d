/** The fan-out's recipient cache against a real DynamoDB-compatible server (dynalite on 127.0.0.1). */
import { expect } from 'chai';
import fc from 'fast-check';
import { createConnectionStore, createRecipientCache } from '@serverless-iot-dashboard/shared';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';

const truth = async (store: ReturnType<typeof createConnectionStore>, deviceId: string) => {
  const ids: string[] = [];
  for await (const page of store.recipientPages(deviceId)) ids.push(...page);
  return ids.sort();
};

describe('recipient cache (dynalite)', function () {
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

  it('answers a warm lookup with one strongly consistent read of one item instead of two Queries', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const cache = createRecipientCache({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'specific', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    await store.putConnection({ connectionId: 'everything', sub: 'b', scope: '*', publish: false, devices: '*' });

    const cold = await cache.lookup(['dev-1']);
    const warm = await cache.lookup(['dev-1']);

    expect(cold.recipients.get('dev-1')!.sort()).to.deep.equal(['everything', 'specific']);
    expect(cold).to.include({ requests: 4, refreshed: 2 }); // the table-wide version, the keys' versions, then dev#dev-1 and dev#*
    expect(warm.recipients.get('dev-1')!.sort()).to.deep.equal(['everything', 'specific']);
    expect(warm).to.include({ requests: 1, refreshed: 0 });
    expect(warm.readUnits).to.be.at.most(1);
  });

  it("yields the store's pages in the store's order (device partition, then '*' without repeats), so a handed-on position resumes from the table", async () => {
    // Arrange: 'both' subscribes to dev-1 and to every device; 'gone' is past its token's exp.
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const cache = createRecipientCache({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'c-3', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    await store.putConnection({ connectionId: 'c-1', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    await store.putConnection({ connectionId: 'both', sub: 'b', scope: '*', publish: false, devices: ['dev-1'] });
    await store.subscribe('both', '*');
    await store.putConnection({ connectionId: 'all-2', sub: 'c', scope: '*', publish: false, devices: '*' });
    await store.putConnection({ connectionId: 'all-1', sub: 'c', scope: '*', publish: false, devices: '*' });
    await store.putConnection({ connectionId: 'gone', sub: 'd', scope: '*', publish: false, devices: ['dev-1'], tokenExpiresAt: Math.floor(Date.now() / 1000) - 10 });
    const read = async (source: Pick<typeof store, 'recipientPages'>, options: Parameters<typeof store.recipientPages>[1] = {}) => {
      const pages: { key: string; ids: string[] }[] = [];
      const expired: string[] = [];
      let key = '';
      for await (const ids of source.recipientPages('dev-1', { ...options, expired: (e) => expired.push(...e), onPage: (k) => void (key = k) })) pages.push({ key, ids: [...ids] });
      return { pages, expired };
    };

    // Act
    const fromStore = await read(store);
    const fromCache = await read(cache);
    const resumed = await read(store, { from: { key: '*', after: 'all-1' } });

    // Assert
    expect(fromStore.pages).to.deep.equal([
      { key: 'dev-1', ids: ['both', 'c-1', 'c-3'] },
      { key: '*', ids: ['all-1', 'all-2'] },
    ]);
    expect(fromCache.pages).to.deep.equal(fromStore.pages);
    expect(fromCache.expired).to.deep.equal(['gone']);
    expect(fromStore.expired).to.deep.equal(['gone']);
    expect(resumed.pages).to.deep.equal([{ key: '*', ids: ['all-2'] }]);
  });

  it('refuses to resume a lookup from a position: that reads the table, never the cache', async () => {
    const cache = createRecipientCache({ doc: dynamo.doc, tableName });
    let error: Error | undefined;
    try {
      for await (const _ of cache.recipientPages('dev-1', { from: { key: 'dev-1', after: 'c-1' } })) void _;
    } catch (caught) {
      error = caught as Error;
    }
    expect(error?.message).to.match(/cannot resume .* from a position .*ConnectionStore\.recipientPages/);
  });

  it('after a change elsewhere, re-reads the versions of its keys but re-queries none of them', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const cache = createRecipientCache({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'all', sub: 'a', scope: '*', publish: false, devices: '*' });
    await cache.lookup(['dev-1']);

    await store.putConnection({ connectionId: 'other', sub: 'b', scope: '*', publish: false, devices: ['dev-2'] });
    const afterChange = await cache.lookup(['dev-1']);
    const settled = await cache.lookup(['dev-1']);

    expect(afterChange).to.include({ requests: 2, refreshed: 0 });
    expect(afterChange.recipients.get('dev-1')).to.deep.equal(['all']);
    expect(settled).to.include({ requests: 1, refreshed: 0 });
  });

  it('looks up every device of a batch with one request when nothing changed', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const cache = createRecipientCache({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'all', sub: 'a', scope: '*', publish: false, devices: '*' });
    const devices = Array.from({ length: 60 }, (_, i) => `dev-${i}`);
    await cache.lookup(devices);

    const warm = await cache.lookup(devices);

    expect(warm.requests).to.equal(1);
    expect([...warm.recipients.values()].every((ids) => ids.length === 1 && ids[0] === 'all')).to.equal(true);
  });

  it('shares one table-wide version read among lookups that start together, and not with a lookup that starts after it was sent', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const cache = createRecipientCache({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'all', sub: 'a', scope: '*', publish: false, devices: '*' });
    await cache.lookup(['dev-1', 'dev-2', 'dev-3']);

    const together = await Promise.all(['dev-1', 'dev-2', 'dev-3'].map((deviceId) => cache.lookup([deviceId])));
    const first = cache.lookup(['dev-1']);
    // Once the first lookup's read is on its way (an event-loop turn later), a new lookup sends its own.
    await new Promise((resolve) => setImmediate(resolve));
    const second = cache.lookup(['dev-2']);
    const apart = await Promise.all([first, second]);

    expect(together.map((out) => out.requests).reduce((a, b) => a + b)).to.equal(1);
    expect(together.every((out, i) => out.recipients.get(`dev-${i + 1}`)![0] === 'all')).to.equal(true);
    expect(apart.map((out) => out.requests)).to.deep.equal([1, 1]);
  });

  it('a lookup that shares a read still never sees a connection whose unsubscribe was answered before it started', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const cache = createRecipientCache({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'leaver', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    await cache.lookup(['dev-1']);

    const before = cache.lookup(['dev-1']);
    await store.unsubscribe('leaver', ['dev-1']);
    const after = await cache.lookup(['dev-1']);
    await before;

    expect(after.recipients.get('dev-1')).to.deep.equal([]);
    expect(after.requests).to.be.at.least(1);
  });

  it('never returns a connection once its unsubscribe or $disconnect has been answered, and sees a new subscription at once', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const cache = createRecipientCache({ doc: dynamo.doc, tableName });
    await store.putConnection({ connectionId: 'leaver', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    await store.putConnection({ connectionId: 'wildcard', sub: 'b', scope: '*', publish: false, devices: '*' });
    expect((await cache.lookup(['dev-1'])).recipients.get('dev-1')!.sort()).to.deep.equal(['leaver', 'wildcard']);

    await store.unsubscribe('leaver', ['dev-1']);
    expect((await cache.lookup(['dev-1'])).recipients.get('dev-1')).to.deep.equal(['wildcard']);

    await store.subscribe('leaver', ['dev-1']);
    expect((await cache.lookup(['dev-1'])).recipients.get('dev-1')!.sort()).to.deep.equal(['leaver', 'wildcard']);

    await store.removeConnection('wildcard');
    expect((await cache.lookup(['dev-1'])).recipients.get('dev-1')).to.deep.equal(['leaver']);
  });

  it('holds the invariant while lookups race an unsubscribe: none that starts after the answer sees the connection', async () => {
    const store = createConnectionStore({ doc: dynamo.doc, tableName });
    const containers = [createRecipientCache({ doc: dynamo.doc, tableName }), createRecipientCache({ doc: dynamo.doc, tableName })];
    for (let round = 0; round < 5; round++) {
      const id = `racer-${round}`;
      await store.putConnection({ connectionId: id, sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
      await Promise.all(containers.map((c) => c.lookup(['dev-1'])));
      let answeredAt = Infinity;
      const observations: { startedAt: number; sees: boolean }[] = [];
      const looking = (async () => {
        for (let i = 0; i < 30; i++) {
          const container = containers[i % 2]!;
          const startedAt = performance.now();
          const out = await container.lookup(['dev-1']);
          observations.push({ startedAt, sees: out.recipients.get('dev-1')!.includes(id) });
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, round * 3));
      await store.unsubscribe(id, ['dev-1']);
      answeredAt = performance.now();
      await looking;

      const late = observations.filter((o) => o.startedAt > answeredAt);
      expect(late.filter((o) => o.sees), `round ${round}`).to.deep.equal([]);
      expect((await containers[0]!.lookup(['dev-1'])).recipients.get('dev-1')).to.not.include(id);
    }
  });

  it('agrees with the table after every answered change, for any sequence of changes (two containers)', async () => {
    const devices = ['dev-1', 'dev-2', '*'] as const;
    const connections = ['c1', 'c2', 'c3'];
    const change = fc.record({
      kind: fc.constantFrom('connect', 'subscribe', 'unsubscribe', 'disconnect'),
      connectionId: fc.constantFrom(...connections),
      device: fc.constantFrom(...devices),
      container: fc.constantFrom(0, 1),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(change, { minLength: 1, maxLength: 12 }), async (changes) => {
        const table = await dynamo.freshTable();
        const store = createConnectionStore({ doc: dynamo.doc, tableName: table });
        const containers = [createRecipientCache({ doc: dynamo.doc, tableName: table }), createRecipientCache({ doc: dynamo.doc, tableName: table })];
        for (const { kind, connectionId, device, container } of changes) {
          const known = await store.getConnection(connectionId);
          const selection = device === '*' ? '*' : [device];
          if (kind === 'connect' && !known) await store.putConnection({ connectionId, sub: 'x', scope: '*', publish: false, devices: selection });
          if (kind === 'subscribe' && known) await store.subscribe(connectionId, selection);
          if (kind === 'unsubscribe' && known) await store.unsubscribe(connectionId, selection);
          if (kind === 'disconnect') await store.removeConnection(connectionId);
          const out = await containers[container]!.lookup(['dev-1', 'dev-2']);
          for (const d of ['dev-1', 'dev-2']) expect(out.recipients.get(d)!.sort(), `${kind} ${connectionId} ${device}: ${d}`).to.deep.equal(await truth(store, d));
        }
      }),
      { numRuns: 15 },
    );
  });

  it('drops a subscription from a cached entry once it expires, and re-queries an entry older than maxAgeMs', async () => {
    let now = Date.now();
    const store = createConnectionStore({ doc: dynamo.doc, tableName, ttlSeconds: 60, now: () => now });
    const cache = createRecipientCache({ doc: dynamo.doc, tableName, maxAgeMs: 10_000, now: () => now });
    await store.putConnection({ connectionId: 'c1', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    expect((await cache.lookup(['dev-1'])).recipients.get('dev-1')).to.deep.equal(['c1']);

    now += 5_000;
    expect(await cache.lookup(['dev-1'])).to.include({ refreshed: 0 });
    now += 6_000;
    expect(await cache.lookup(['dev-1'])).to.include({ refreshed: 2 });
    now += 50_000;
    expect((await cache.lookup(['dev-1'])).recipients.get('dev-1')).to.deep.equal([]);
  });
});
