import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import {
  type FanoutTask,
  type PostToConnection,
  type RecipientPagesOptions,
  createFanOut,
  createHandOn,
  createShardedDelivery,
} from '@serverless-iot-dashboard/shared';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const awsError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

/** The connection store's recipient lookup over in-memory partitions, paged and resumable as the real one is. */
const fakeStore = (partitions: Record<string, string[]>, pageSize: number) => ({
  reads: [] as { key: string; after?: string }[],
  async *recipientPages(deviceId: string, { from, onPage }: RecipientPagesOptions = {}) {
    const keys = deviceId === '*' ? ['*'] : [deviceId, '*'];
    const start = from ? keys.indexOf(from.key) : 0;
    const seen = new Set<string>();
    for (const [index, key] of keys.entries()) {
      const ids = [...(partitions[key] ?? [])].sort();
      const after = index === start ? from?.after : undefined;
      this.reads.push({ key, after });
      for (let i = 0; i < ids.length; i += pageSize) {
        const page = ids.slice(i, i + pageSize).filter((id) => !seen.has(id));
        page.forEach((id) => seen.add(id));
        const fresh = page.filter((id) => after === undefined || id > after);
        if (fresh.length > 0 && index >= start) {
          onPage?.(key);
          yield fresh;
        }
      }
    }
  },
});

/**
 * One invocation's machinery, on a clock that only posts move: each post takes
 * 1 ms of `Date.now()`, so a deadline `k` ms away stops the fan-out after
 * about `k` posts, the same way on every run.
 */
const invocation = ({
  store,
  posted,
  clock,
  concurrency = 1,
  shardSize = 1000,
  throttleOnce = new Set<string>(),
  now,
  maxEventAgeMs,
}: {
  store: ReturnType<typeof fakeStore>;
  posted: { id: string; body: string }[];
  clock: sinon.SinonFakeTimers;
  concurrency?: number;
  shardSize?: number;
  throttleOnce?: Set<string>;
  now?: () => number;
  maxEventAgeMs?: number;
}) => {
  const dispatched: FanoutTask[] = [];
  const post: PostToConnection = async (id, body) => {
    clock.tick(1);
    if (throttleOnce.delete(id)) throw awsError('LimitExceededException', 429);
    posted.push({ id, body });
  };
  const fanOut = createFanOut({ store: { removeConnection: async () => undefined }, post, log: silentLog, counter: { count() {} }, concurrency, baseDelayMs: 0, maxDelayMs: 0 });
  const dispatch = async (task: FanoutTask) => void dispatched.push(JSON.parse(JSON.stringify(task)) as FanoutTask);
  const counts: Record<string, number> = {};
  const counter = { count: (name: string, n: number) => void (counts[name] = (counts[name] ?? 0) + n) };
  const deliver = createShardedDelivery({ fanOut, dispatch, shardSize, log: silentLog, counter });
  const handOn = createHandOn({ deliver, store, dispatch, log: silentLog, counter, now, maxEventAgeMs });
  return { handOn, dispatched, counts };
};

const ids = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
const reading = (receivedAt = Date.now()): FanoutTask => ({
  body: JSON.stringify({ type: 'telemetry', id: 'r1', deviceId: 'dev-1', ts: 1_000, receivedAt, data: {} }),
  id: 'r1',
  deviceId: 'dev-1',
  receivedAt,
  connectionIds: [],
  cursor: { deviceId: 'dev-1' },
});

describe('fan-out handoff', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_700_000_000_000, toFake: ['Date'] });
  });
  afterEach(() => clock.restore());

  it('hands on a cursor when the deadline falls mid-page, and the worker resumes at the next recipient', async () => {
    // Arrange: 30 recipients in pages of 10; the deadline lets about 14 posts through
    const store = fakeStore({ 'dev-1': ids(30) }, 10);
    const posted: { id: string; body: string }[] = [];
    const first = invocation({ store, posted, clock });

    // Act
    const result = await first.handOn.run(reading(), { deadline: Date.now() + 14 });
    const [task] = first.dispatched;
    const stoppedAt = posted.length;
    const worker = invocation({ store, posted, clock });
    await worker.handOn.run(task!, { queued: true });

    // Assert
    expect(result).to.include({ handoffs: 1, handedOn: 0, stopped: true });
    expect(stoppedAt).to.be.within(10, 19);
    expect(task).to.deep.include({ cursor: { deviceId: 'dev-1', key: 'dev-1', after: posted[stoppedAt - 1]!.id }, connectionIds: [], hop: 1 });
    expect(posted[stoppedAt]!.id, 'the worker starts right after the last recipient taken').to.equal(ids(30)[stoppedAt]);
    expect(posted.map((p) => p.id)).to.deep.equal(ids(30));
    expect(worker.dispatched).to.deep.equal([]);
  });

  it("reads a run's own lookup (the telemetry function's recipient cache) with its own expired sink, and the worker resumes from the hand-on's store", async () => {
    // Arrange: the cache holds the same recipients in one page per partition; the hand-on's store pages them by 10
    const store = fakeStore({ 'dev-1': ids(30) }, 10);
    const cached = fakeStore({ 'dev-1': ids(30) }, 1000);
    const expiredSeen: string[][] = [];
    const cache = {
      async *recipientPages(deviceId: string, options: RecipientPagesOptions = {}) {
        expect(options.from, 'the first invocation reads from the start').to.equal(undefined);
        options.expired?.(['old']);
        yield* cached.recipientPages(deviceId, options);
      },
    };
    const posted: { id: string; body: string }[] = [];
    const first = invocation({ store, posted, clock });

    // Act
    await first.handOn.run(reading(), { deadline: Date.now() + 14, store: cache, expired: (e) => void expiredSeen.push(e) });
    const storeReadsBefore = store.reads.length;
    const worker = invocation({ store, posted, clock });
    await worker.handOn.run(first.dispatched[0]!, { queued: true });

    // Assert
    expect(storeReadsBefore, "the first invocation never read the hand-on's store").to.equal(0);
    expect(expiredSeen).to.deep.equal([['old']]);
    expect(first.dispatched[0]!.cursor).to.deep.include({ key: 'dev-1' });
    expect(store.reads[0], 'the worker resumes from the table right after the last id taken').to.deep.equal({ key: 'dev-1', after: first.dispatched[0]!.cursor!.after });
    expect(posted.map((p) => p.id)).to.deep.equal(ids(30));
  });

  it('resumes in the every-device partition without repeating the ids the device partition had', async () => {
    // Arrange: b and c subscribe to the device and to "*"
    const store = fakeStore({ 'dev-1': ['a', 'b', 'c'], '*': ['b', 'c', 'd', 'e', 'f'] }, 2);
    const posted: { id: string; body: string }[] = [];
    const first = invocation({ store, posted, clock });

    // Act: stop after a, b, c, d
    await first.handOn.run(reading(), { deadline: Date.now() + 4 });
    await invocation({ store, posted, clock }).handOn.run(first.dispatched[0]!, { queued: true });

    // Assert
    expect(first.dispatched[0]!.cursor).to.deep.equal({ deviceId: 'dev-1', key: '*', after: 'd' });
    expect(posted.map((p) => p.id)).to.deep.equal(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('hands on the rest of a shard when the deadline falls mid-shard', async () => {
    // Arrange: 12 recipients, 4 per invocation: the first takes 4 and shards 8 as two shards of 4
    const store = fakeStore({ 'dev-1': ids(12) }, 5);
    const posted: { id: string; body: string }[] = [];
    const first = invocation({ store, posted, clock, shardSize: 4 });
    await first.handOn.run(reading(), {});
    const [shard] = first.dispatched;

    // Act: the first shard's worker has time for 2 posts only
    const worker = invocation({ store, posted, clock, shardSize: 4 });
    await worker.handOn.run(shard!, { deadline: Date.now() + 2, queued: true });
    const [rest] = worker.dispatched;
    await invocation({ store, posted, clock, shardSize: 4 }).handOn.run(rest!, { queued: true });
    await invocation({ store, posted, clock, shardSize: 4 }).handOn.run(first.dispatched[1]!, { queued: true });

    // Assert
    expect(shard!.connectionIds).to.deep.equal(ids(12).slice(4, 8));
    expect(rest).to.deep.include({ connectionIds: ids(12).slice(6, 8), hop: 1, receivedAt: shard!.receivedAt });
    expect(rest!.cursor).to.equal(undefined);
    expect(posted.map((p) => p.id).sort()).to.deep.equal(ids(12));
  });

  it('hands on a throttled recipient that the deadline left no time to retry, and it is reached once', async () => {
    // Arrange
    const store = fakeStore({ 'dev-1': ids(6) }, 6);
    const posted: { id: string; body: string }[] = [];
    const first = invocation({ store, posted, clock, concurrency: 2, throttleOnce: new Set(['c004']) });

    // Act: the deadline falls while c004's 429 waits for a retry
    const result = await first.handOn.run(reading(), { deadline: Date.now() + 5 });
    await invocation({ store, posted, clock }).handOn.run(first.dispatched[0]!, { queued: true });

    // Assert
    expect(result.failed).to.equal(0);
    expect(first.dispatched[0]!.connectionIds).to.include('c004');
    expect(posted.map((p) => p.id).sort()).to.deep.equal(ids(6));
  });

  it('sheds a reading past the age limit: the rest get a resync frame, not the reading, and it is counted', async () => {
    // Arrange: a reading received 301 s ago, with a 300 s limit
    const store = fakeStore({ 'dev-1': ids(8) }, 8);
    const posted: { id: string; body: string }[] = [];
    const first = invocation({ store, posted, clock, maxEventAgeMs: 300_000 });
    const old = reading(Date.now() - 301_000);

    // Act
    const result = await first.handOn.run(old, { deadline: Date.now() + 3 });
    const [task] = first.dispatched;
    await invocation({ store, posted, clock, maxEventAgeMs: 300_000 }).handOn.run(task!, { queued: true });

    // Assert
    expect(result).to.include({ shed: true, handoffs: 1 });
    expect(first.counts.Shed).to.equal(1);
    expect(task).to.include({ kind: 'resync', id: 'r1.resync' });
    const bodies = posted.map((p) => JSON.parse(p.body) as { type: string });
    expect(bodies.slice(0, 3).every((b) => b.type === 'telemetry')).to.equal(true);
    expect(bodies.slice(3)).to.deep.equal(Array(5).fill({ type: 'resync', deviceId: 'dev-1', from: 1_000, to: 1_000, id: 'r1', reason: 'shed' }));
    expect(posted.map((p) => p.id)).to.deep.equal(ids(8));
  });

  it('sheds a handed-on reading that waited in the queue past the age limit, at the start of the worker', async () => {
    // Arrange
    const store = fakeStore({ 'dev-1': ids(3) }, 8);
    const posted: { id: string; body: string }[] = [];
    const worker = invocation({ store, posted, clock, maxEventAgeMs: 300_000 });
    const stale = { ...reading(Date.now() - 400_000), hop: 2 };

    // Act
    const result = await worker.handOn.run(stale, { queued: true });

    // Assert
    expect(result).to.include({ shed: true, delivered: 3, handoffs: 0 });
    expect(worker.counts.Shed).to.equal(1);
    expect(posted.every((p) => (JSON.parse(p.body) as { type: string }).type === 'resync')).to.equal(true);
  });

  it('drops a resync that is itself past the age limit, and says how many it leaves', async () => {
    // Arrange
    const store = fakeStore({ 'dev-1': ids(5) }, 8);
    const posted: { id: string; body: string }[] = [];
    const worker = invocation({ store, posted, clock, maxEventAgeMs: 300_000 });
    const resync: FanoutTask = { ...reading(Date.now() - 301_000), kind: 'resync', connectionIds: ['x1', 'x2'], hop: 3 };

    // Act
    const result = await worker.handOn.run(resync, { deadline: Date.now() + 1, queued: true });

    // Assert
    expect(worker.dispatched).to.deep.equal([]);
    expect(worker.counts.ResyncShed).to.equal(1);
    expect(result.delivered).to.equal(1);
  });

  it('refuses a worker payload that is not a fan-out task', () => {
    const { handOn } = invocation({ store: fakeStore({}, 1), posted: [], clock });
    expect(handOn.parse({ body: 'x', id: 'm', connectionIds: ['a', 7] })).to.equal(undefined);
    expect(handOn.parse({ body: 'x', id: 'm', cursor: { deviceId: 'a/b' } })).to.equal(undefined);
    expect(handOn.parse({ body: 'x', id: 'm', cursor: { deviceId: 'dev-1', key: 'dev-2' } })).to.equal(undefined);
    expect(handOn.parse({ body: 'x', id: 'm', connectionIds: ['a'] })).to.deep.equal({ body: 'x', id: 'm', connectionIds: ['a'] });
  });

  it('makes progress in an invocation that starts past its deadline (a late cold start), so the chain ends', async () => {
    // Arrange: 12 recipients, 2 posts at a time, and every invocation already out of time when it starts
    const store = fakeStore({ 'dev-1': ids(12) }, 5);
    const posted: { id: string; body: string }[] = [];
    const queue: FanoutTask[] = [reading()];
    let hops = 0;

    // Act
    while (queue.length > 0 && hops < 50) {
      const run = invocation({ store, posted, clock, concurrency: 2 });
      await run.handOn.run(queue.shift()!, { deadline: Date.now() - 1_000, queued: hops > 0 });
      queue.push(...run.dispatched);
      hops++;
    }

    // Assert: one post per worker per invocation, each recipient once, and no handoff after the last
    expect(queue, 'the chain ended').to.deep.equal([]);
    expect(posted.map((p) => p.id)).to.deep.equal(ids(12));
    expect(hops).to.equal(7);
  });

  it('reaches every recipient exactly once along the chain, wherever the deadlines fall', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(49), { maxLength: 10 }),
        async (own, shared, pageSize, shardSize, concurrency, budgets, throttled) => {
          const device = ids(own, 'd');
          const everyDevice = [...ids(shared, 's'), ...device.slice(0, 3)];
          const store = fakeStore({ 'dev-1': device, '*': everyDevice }, pageSize);
          const expected = [...new Set([...device, ...everyDevice])].sort();
          const posted: { id: string; body: string }[] = [];
          const throttleOnce = new Set(throttled.map((i) => expected[i % Math.max(1, expected.length)]!).filter(Boolean));
          const queue: FanoutTask[] = [reading()];
          for (let hop = 0; queue.length > 0; hop++) {
            expect(hop, 'the chain ends').to.be.lessThan(500);
            const task = queue.shift()!;
            const run = invocation({ store, posted, clock, concurrency, shardSize, throttleOnce });
            await run.handOn.run(task, { deadline: Date.now() + budgets[hop % budgets.length]!, queued: hop > 0 });
            queue.push(...run.dispatched);
          }
          expect(posted.map((p) => p.id).sort()).to.deep.equal(expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});
