/**
 * Lambda's asynchronous invocation (what IoT rule actions use): the caller
 * does not wait, and a failed invocation is retried twice, with delays.
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
 * AWS waits about 1 and then 2 minutes; locally the delays default to 1 s and
 * 2 s and are configurable, so tests and demos do not wait for minutes.
 *
 * `maxConcurrent` bounds the invocations running at once; the others wait in
 * the queue, as events do when a function's concurrency is exhausted
 * (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html). A
 * waiting event's Timeout starts when it runs. Locally every invocation of a
 * function shares one sandbox thread and its socket pool, so past a few at
 * once more running only piles requests up in that pool.
 */

export const DEFAULT_ASYNC_RETRY_DELAYS_MS = [1000, 2000];

export interface AsyncOutcome {
  ok: boolean;
  attempts: number;
  error?: Error;
}

/** What was invoked: for the OnFailure destination's invocation record. */
export interface AsyncJob {
  functionId: string;
  event: unknown;
}

export interface AsyncInvoker {
  /** Queues an invocation and returns at once. `attempt` is 1 for the first try. */
  enqueue(run: (attempt: number) => Promise<unknown>, onDone?: (outcome: AsyncOutcome) => void, job?: AsyncJob): void;
  /** Resolves when every queued invocation, retries included, has finished. */
  settled(): Promise<void>;
  /** Drops pending retries (their invocations are abandoned, like events in a deleted queue) and waits for the ones running. */
  close(): Promise<void>;
  readonly pending: number;
}

export interface AsyncInvokerOptions {
  retryDelaysMs?: number[];
  /** Invocations running at once; the others wait in the queue for a turn (unbounded by default). */
  maxConcurrent?: number;
  /**
   * Called once when an invocation has failed every attempt: where Lambda sends
   * the invocation record to the function's OnFailure destination.
   * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
   */
  onExhausted?: (job: AsyncJob, outcome: AsyncOutcome) => void | Promise<void>;
}

export const createAsyncInvoker = ({
  retryDelaysMs = DEFAULT_ASYNC_RETRY_DELAYS_MS,
  maxConcurrent = Number.POSITIVE_INFINITY,
  onExhausted,
}: AsyncInvokerOptions = {}): AsyncInvoker => {
  const inFlight = new Set<Promise<void>>();
  let running = 0;
  const waiting: (() => void)[] = [];
  /** Resolves false when the queue closed while this attempt waited for its turn. */
  const turn = (): Promise<boolean> | boolean => {
    if (running < maxConcurrent) {
      running++;
      return true;
    }
    return new Promise((resolve) =>
      waiting.push(() => {
        if (closed) return resolve(false);
        running++;
        resolve(true);
      }),
    );
  };
  const done = () => {
    running--;
    waiting.shift()?.();
  };
  const sleepers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  let closed = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          sleepers.delete(sleeper);
          resolve();
        }, ms),
        wake: () => resolve(),
      };
      sleepers.add(sleeper);
    });

  const run = async (call: (attempt: number) => Promise<unknown>, onDone?: (outcome: AsyncOutcome) => void, job?: AsyncJob) => {
    let error: Error | undefined;
    for (let attempt = 1; attempt <= retryDelaysMs.length + 1; attempt++) {
      if (attempt > 1) {
        await sleep(retryDelaysMs[attempt - 2] ?? 0);
        if (closed) break;
      }
      if (!(await turn())) break;
      try {
        await call(attempt);
        onDone?.({ ok: true, attempts: attempt });
        return;
      } catch (caught) {
        error = caught as Error;
      } finally {
        done();
      }
    }
    const outcome = { ok: false, attempts: retryDelaysMs.length + 1, error };
    onDone?.(outcome);
    // Not when the queue was closed mid-retry: those events are abandoned, as in a deleted function.
    if (job && onExhausted && !closed) await onExhausted(job, outcome);
  };

  return {
    get pending() {
      return inFlight.size;
    },
    enqueue(call, onDone, job) {
      if (closed) return;
      const promise = run(call, onDone, job)
        .catch(() => undefined)
        .finally(() => inFlight.delete(promise));
      inFlight.add(promise);
    },
    async settled() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    async close() {
      closed = true;
      for (const sleeper of sleepers) {
        clearTimeout(sleeper.timer);
        sleeper.wake();
      }
      sleepers.clear();
      // Events still waiting for their turn are abandoned with the queue.
      for (const wake of waiting.splice(0)) wake();
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
};
