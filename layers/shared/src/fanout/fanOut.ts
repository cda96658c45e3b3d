/**
 * Delivers one frame to many connections: bounded concurrency, retry with
 * jittered backoff on 429 and 5xx, and deletion of exactly the connections
 * that answer 410 Gone (twice, a second apart). A per-connection failure
 * never fails the whole delivery, and neither does running out of time: IoT
 * invokes the telemetry function asynchronously and Lambda retries a failed
 * (or timed-out) async invocation, so failing here would re-deliver to
 * everyone who already received the frame.
 */
import type { ConnectionStore } from '../store/connectionStore.js';
import { MAX_PAYLOAD_BYTES, byteLength } from '../protocol/frames.js';
import { type PostOutcome, type PostToConnection, classifyPostError, httpStatusOf } from '../protocol/postToConnection.js';
import type { Counter, Log } from '../runtime/observability.js';
import { backoffDelay, sleep } from '../runtime/retry.js';

/** Sends one frame to one connection; rejects with the SDK's error shape (`name`, `$metadata.httpStatusCode`). */
export interface FanOutResult {
  recipients: number;
  delivered: number;
  gone: number;
  failed: number;
  retried: number;
  rejected?: 'payload_too_large';
  /** The deadline stopped the fan-out before its source ran out. */
  stopped?: boolean;
}

export interface FanOutOptions {
  store: Pick<ConnectionStore, 'removeConnection'>;
  post: PostToConnection;
  log: Log;
  counter: Counter;
  /** Posts in flight at once. Keep it at or below the HTTP agent's socket pool. */
  concurrency?: number;
  /**
   * Attempts per connection, the first included. 10: a throttled account can
   * answer 429 to a quarter of the posts for a while, and four attempts then
   * lose 0.4% of the deliveries (0.25^4) while ten lose one in a million; the
   * jittered waits add up to 5.6 s at most (2.8 s on average), well inside
   * the functions' timeouts and API Gateway's 29 s integration timeout.
   */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * How long a connection that answered 410 gets before it is asked again and,
   * if still gone, deleted. API Gateway answers 410 to a connection whose
   * $connect has stored it but not yet returned
   * (https://repost.aws/knowledge-center/410-gone-api-gateway); deleting it
   * then would leave a live dashboard that never receives anything. The
   * second ask comes after everyone else's deliveries, so it delays no one.
   */
  goneRecheckMs?: number;
  random?: () => number;
  /** The clock: epoch milliseconds now, and a wait (a spec steps a fake one). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** One post of a `deliverEach`: its frame, and the result it counts towards (one per frame, shared by its recipients). */
export interface DeliveryJob {
  connectionId: string;
  body: string;
  result: FanOutResult;
}

export interface DeliverOptions {
  /**
   * Epoch milliseconds by which the fan-out must return. Past it nothing is
   * retried or started (a retry that would end past it counts as failed, and
   * the recipients not reached yet are logged, not posted to): an invocation
   * that times out fails as a whole, and Lambda's retry would deliver the
   * message to everyone again.
   */
  deadline?: number;
  /**
   * When given, the recipients the deadline leaves unreached after a first
   * try (a throttled post it has no time to retry, a 410 it has no time to ask
   * again) are pushed here, neither counted failed nor logged, for a handoff
   * to carry on (see handoff.ts). Every id in it was not delivered.
   */
  leftover?: string[];
  /**
   * Each worker takes one recipient even past the deadline, so that an invocation that starts late (a cold start
   * on a busy host) still makes progress: a chain of handoffs then always ends, instead of passing the same cursor
   * on until the age limit. Bounded by one post per worker (no retry past the deadline). The hand-on sets it.
   */
  progress?: boolean;
}

/**
 * The deadline for a fan-out in a Lambda invocation: its remaining time, less
 * a tenth (at least a second) kept for returning. Middy ends a handler as the
 * remaining time runs out, and that is a failed invocation.
 */
export const fanOutDeadline = (context?: { getRemainingTimeInMillis?: () => number } | null, now = Date.now()): number | undefined => {
  const remaining = context?.getRemainingTimeInMillis?.();
  if (typeof remaining !== 'number' || !Number.isFinite(remaining)) return undefined;
  return now + remaining - Math.max(1000, remaining * 0.1);
};

async function* flatten(source: AsyncIterable<readonly string[]> | Iterable<readonly string[]>): AsyncGenerator<string> {
  for await (const page of source) yield* page;
}

export const createFanOut = ({
  store,
  post,
  log,
  counter,
  concurrency = 64,
  maxAttempts = 10,
  baseDelayMs = 50,
  maxDelayMs = 1000,
  goneRecheckMs = 1000,
  random = Math.random,
  now = Date.now,
  sleep: wait = sleep,
}: FanOutOptions) => {
  const outOfTime = (deadline: number | undefined, waitMs = 0) => deadline !== undefined && now() + waitMs >= deadline;

  /** `goneOnce` collects the ids that answer 410 on a first pass, to be asked again; without it, a 410 deletes. */
  const deliverOne = async (connectionId: string, body: string, result: FanOutResult, deadline: number | undefined, goneOnce?: string[], leftover?: string[]) => {
    for (let attempt = 1; ; attempt++) {
      let outcome: Exclude<PostOutcome, 'delivered'>;
      let error: unknown;
      try {
        await post(connectionId, body);
        result.delivered++;
        return;
      } catch (caught) {
        error = caught;
        outcome = classifyPostError(caught);
      }
      if (outcome === 'gone') {
        if (goneOnce) {
          goneOnce.push(connectionId);
          return;
        }
        result.gone++;
        try {
          await store.removeConnection(connectionId);
        } catch (removeError) {
          log.warn('could not delete a stale connection', { connectionId, error: (removeError as Error).message });
        }
        return;
      }
      const delay = backoffDelay(attempt, baseDelayMs, maxDelayMs, random);
      if (outcome === 'retry' && attempt < maxAttempts && !outOfTime(deadline, delay)) {
        result.retried++;
        await wait(delay);
        continue;
      }
      if (outcome === 'retry' && attempt < maxAttempts && leftover) {
        leftover.push(connectionId);
        return;
      }
      result.failed++;
      log.warn('delivery failed', {
        connectionId,
        attempts: attempt,
        error: (error as Error)?.name,
        status: httpStatusOf(error),
        ...(outcome === 'retry' && attempt < maxAttempts ? { reason: 'out of time' } : {}),
      });
      return;
    }
  };

  /**
   * Runs `jobs`, `concurrency` posts in flight at once over all of them, until the deadline (see `progress`): a job
   * not started by then is left for the caller to find (its result's `recipients` stays short). Returns whether the
   * deadline stopped it.
   */
  const run = async (
    jobs: AsyncIterator<DeliveryJob> | Iterator<DeliveryJob>,
    { deadline, leftover, progress = false }: DeliverOptions,
  ): Promise<boolean> => {
    const goneOnce: DeliveryJob[] = [];
    const pool = async (source: AsyncIterator<DeliveryJob> | Iterator<DeliveryJob>, deliverTo: (job: DeliveryJob) => Promise<void>) => {
      let stopped = false;
      const worker = async () => {
        for (let first = progress; first || !outOfTime(deadline); first = false) {
          const next = await source.next();
          if (next.done) return;
          await deliverTo(next.value);
        }
        stopped = true;
      };
      await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
      return stopped;
    };
    const stopped = await pool(jobs, (job) => {
      job.result.recipients++;
      const asked: string[] = [];
      return deliverOne(job.connectionId, job.body, job.result, deadline, asked, leftover).then(() => {
        if (asked.length > 0) goneOnce.push(job);
      });
    });
    if (goneOnce.length > 0 && !outOfTime(deadline)) {
      await wait(deadline === undefined ? goneRecheckMs : Math.max(0, Math.min(goneRecheckMs, deadline - now())));
      // Still 410 when asked again: gone, and deleted. Left unasked by the deadline: kept for a later message (or $disconnect, or the TTL).
      const recheck = goneOnce.values();
      await pool(recheck, (job) => deliverOne(job.connectionId, job.body, job.result, deadline, undefined, leftover));
      // With a handoff, the ones not asked again travel on with it and are asked there (a loop: no spread over an audience).
      if (leftover) for (const job of recheck) leftover.push(job.connectionId);
    } else if (leftover) {
      for (const job of goneOnce) leftover.push(job.connectionId);
    }
    return stopped;
  };

  /**
   * Delivers `body` to every connection id that `pages` yields, except `exclude`.
   * Pages are pulled only as workers free up, so memory stays bounded by the
   * page size, however many recipients there are.
   */
  const deliver = async (
    pages: AsyncIterable<readonly string[]> | Iterable<readonly string[]>,
    body: string,
    exclude?: string,
    options: DeliverOptions = {},
  ): Promise<FanOutResult> => {
    const result: FanOutResult = { recipients: 0, delivered: 0, gone: 0, failed: 0, retried: 0 };
    const size = byteLength(body);
    if (size > MAX_PAYLOAD_BYTES) {
      log.error('frame exceeds the 128 KB WebSocket payload quota; not delivered', { bytes: size });
      counter.count('PayloadTooLarge', 1);
      return { ...result, rejected: 'payload_too_large' };
    }
    async function* jobs(): AsyncGenerator<DeliveryJob> {
      for await (const connectionId of flatten(pages)) if (connectionId !== exclude) yield { connectionId, body, result };
    }
    const stopped = await run(jobs(), options);
    if (stopped) result.stopped = true;
    if (stopped && !options.leftover) log.warn('fan-out ran out of time: the recipients not reached yet get nothing', { ...result, deadline: new Date(options.deadline!).toISOString() });
    counter.count('Delivered', result.delivered);
    counter.count('Gone', result.gone);
    counter.count('Failed', result.failed);
    counter.count('Retried', result.retried);
    return result;
  };

  /**
   * Posts each job's own frame to its connection: one bound (`concurrency`) on the posts in flight over all of
   * them, however many frames they carry, and the deadline checked before each post is started. The caller checks
   * each frame's size, and counts from each job's `result`.
   */
  const deliverEach = (jobs: AsyncIterable<DeliveryJob> | Iterable<DeliveryJob>, options: DeliverOptions = {}): Promise<boolean> =>
    run(Symbol.asyncIterator in jobs ? jobs[Symbol.asyncIterator]() : jobs[Symbol.iterator](), options);

  return { deliver, deliverEach };
};

export type FanOut = ReturnType<typeof createFanOut>;
