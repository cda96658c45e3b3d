import { expect } from 'chai';
import FakeTimers from '@sinonjs/fake-timers';
import {
  type PostToConnection,
  type RecipientLookup,
  type SqsRecord,
  createTelemetryBatchHandler,
  noopCounter,
} from '@serverless-iot-dashboard/shared';

type FakeClock = ReturnType<typeof FakeTimers.createClock>;

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const START = 1_795_597_200_000;

/** `count` devices, one reading each, each device watched by one connection of its own: `count` groups of one. */
const singleTenantBatch = (count: number) => {
  const records: SqsRecord[] = [];
  const recipients = new Map<string, string[]>();
  for (let i = 0; i < count; i++) {
    const deviceId = `dev-${i}`;
    records.push({ messageId: `m-${i}`, body: JSON.stringify({ deviceId, ts: START - 100, receivedAt: START, t: i }) });
    recipients.set(deviceId, [`c-${i}`]);
  }
  const lookup = async (): Promise<RecipientLookup> => ({ recipients, requests: 1, readUnits: 1, refreshed: 0 });
  return { records, lookup };
};

/**
 * An HTTP agent with `sockets` keep-alive sockets, on a fake clock: a post holds a socket for `postMs`, and a post
 * made while every socket is busy waits in the agent's queue, where no deadline sees it. Counts the posts handed
 * to it and not yet answered (in flight plus queued), at most.
 */
const socketPool = (clock: FakeClock, sockets: number, postMs: number) => {
  let busy = 0;
  let outstanding = 0;
  let maxOutstanding = 0;
  const queue: (() => void)[] = [];
  const delivered = new Set<string>();
  const release = () => {
    busy--;
    queue.shift()?.();
  };
  const post: PostToConnection = (connectionId) =>
    new Promise<void>((resolve) => {
      outstanding++;
      maxOutstanding = Math.max(maxOutstanding, outstanding);
      const start = () => {
        busy++;
        clock.setTimeout(() => {
          outstanding--;
          delivered.add(connectionId);
          release();
          resolve();
        }, postMs);
      };
      if (busy < sockets) start();
      else queue.push(start);
    });
  return { post, delivered, maxOutstanding: () => maxOutstanding };
};

/** Steps the fake clock from timer to timer until `work` settles (bounded in steps). */
const drive = async <T>(clock: FakeClock, work: Promise<T>): Promise<T> => {
  let settled = false;
  const done = work.finally(() => (settled = true));
  for (let step = 0; !settled && step < 200_000; step++) await clock.nextAsync();
  expect(settled, 'the batch settled').to.equal(true);
  return done;
};

describe('telemetry batch: one bound on posts in flight for the whole batch', () => {
  it('keeps 5,000 single-tenant groups within 64 posts in flight on a 64-socket pool, and returns by its 200 ms deadline', async () => {
    const clock = FakeTimers.createClock(START, 1_000_000);
    const { records, lookup } = singleTenantBatch(5000);
    const pool = socketPool(clock, 64, 20);
    const deadline = START + 200;
    const handler = createTelemetryBatchHandler({
      lookup,
      store: { removeConnection: async () => undefined },
      post: pool.post,
      log: silentLog,
      counter: noopCounter,
      concurrency: 64,
      now: () => clock.now,
      deadline: () => deadline,
      fanOutOptions: { now: () => clock.now, sleep: (ms) => new Promise<void>((resolve) => clock.setTimeout(() => resolve(), ms)) },
    });

    const response = await drive(clock, handler({ Records: records }));

    // One post started just before the deadline may finish one post (20 ms) after it; nothing queued past it.
    expect(clock.now - START, 'time the batch took (ms)').to.be.at.most(200 + 20);
    expect(pool.maxOutstanding(), 'posts handed to the agent at once').to.be.at.most(64);
    // Every reading is delivered or handed back to the queue, never both and never neither.
    const handedBack = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    expect(pool.delivered.size).to.be.greaterThan(0);
    expect(pool.delivered.size + handedBack.size).to.equal(5000);
    for (const connectionId of pool.delivered) expect(handedBack.has(`m-${connectionId.slice(2)}`)).to.equal(false);
  });

  it('fans out to an audience of 150,000 groups without a RangeError (no spread over the audience)', async function () {
    // Plans 150,000 frames: seconds of CPU on a loaded machine, and no timer in it to race.
    this.timeout(180_000);
    const { records, lookup } = singleTenantBatch(150_000);
    const handler = createTelemetryBatchHandler({
      lookup,
      store: { removeConnection: async () => undefined },
      post: async () => undefined,
      log: silentLog,
      counter: noopCounter,
      // Past its deadline before it starts: the frames are planned, none is posted, every reading goes back.
      deadline: () => Date.now() - 1,
    });

    const response = await handler({ Records: records });

    expect(response.batchItemFailures).to.have.length(150_000);
  });
});
