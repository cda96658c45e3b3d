/**
 * Issue 24's late deliveries, as a queue on a fake clock: readings published at 10 a second, each fan-out holding
 * its invocation for 1.2 s (its slowest recipient's jittered retries under FAULTS=post:429:0.2,post:500:0.05, as
 * measured by `npm run bench -- --only faultLatency`). With npm start's default concurrency every one of 60
 * readings starts its fan-out at once; with the old 4, the queue grew and the last waited over 8 s.
 */
import FakeTimers from '@sinonjs/fake-timers';
import { expect } from 'chai';
import { createAsyncInvoker } from '../../../local/lambda/asyncInvoke.js';
import { DEFAULT_ASYNC_CONCURRENCY } from '../../../local/stack/stack.js';

type FakeClock = ReturnType<typeof FakeTimers.createClock>;

/** Enqueues `readings` fan-outs `intervalMs` apart, each taking `holdMs`; returns each one's wait in the queue. */
const queueWaits = async (clock: FakeClock, maxConcurrent: number, { readings = 60, intervalMs = 100, holdMs = 1200 } = {}) => {
  const invoker = createAsyncInvoker({ maxConcurrent, retryDelaysMs: [] });
  const waits: number[] = [];
  for (let i = 0; i < readings; i++) {
    clock.setTimeout(() => {
      const queuedAt = clock.now;
      invoker.enqueue(async () => {
        waits.push(clock.now - queuedAt);
        await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), holdMs));
      });
    }, i * intervalMs);
  }
  // Step from timer to timer until every fan-out ran (bounded in steps).
  for (let step = 0; waits.length < readings && step < 10_000; step++) await clock.nextAsync();
  await clock.runAllAsync();
  await invoker.settled();
  return waits;
};

describe('local Lambda: asynchronous concurrency and late readings (issue 24)', () => {
  it('starts every fan-out of 60 readings at 10/s without queueing them, at npm start\'s default concurrency', async () => {
    const waits = await queueWaits(FakeTimers.createClock(0, 100_000), DEFAULT_ASYNC_CONCURRENCY);
    expect(waits).to.have.length(60);
    expect(Math.max(...waits), 'longest wait in the queue (ms)').to.equal(0);
  });

  it('shows what made readings late with 4 at once: the last ones wait for every earlier fan-out, past 8 s', async () => {
    const waits = await queueWaits(FakeTimers.createClock(0, 100_000), 4);
    expect(waits).to.have.length(60);
    expect(waits.at(-1)!, 'the last reading waited (ms)').to.be.greaterThan(8000);
  });
});
