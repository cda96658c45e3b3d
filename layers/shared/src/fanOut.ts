/**
 * Delivers one frame to many connections: bounded concurrency, retry with
 * jittered backoff on 429 and 5xx, and deletion of exactly the connections
 * that answer 410 Gone. A per-connection failure never fails the whole
 * delivery: IoT invokes the telemetry function asynchronously and Lambda
 * retries a failed async invocation, so throwing here would re-deliver to
 * everyone who already received the frame.
 */
import type { ConnectionStore } from './connectionStore.js';
import { MAX_PAYLOAD_BYTES, byteLength } from './frames.js';
import type { Counter, Log } from './observability.js';
import { backoffDelay, sleep } from './retry.js';

/** Sends one frame to one connection; rejects with the SDK's error shape (`name`, `$metadata.httpStatusCode`). */
export type PostToConnection = (connectionId: string, body: string) => Promise<void>;

export interface FanOutResult {
  recipients: number;
  delivered: number;
  gone: number;
  failed: number;
  retried: number;
  rejected?: 'payload_too_large';
}

export interface FanOutOptions {
  store: Pick<ConnectionStore, 'removeConnection'>;
  post: PostToConnection;
  log: Log;
  counter: Counter;
  /** Posts in flight at once. Keep it at or below the HTTP agent's socket pool. */
  concurrency?: number;
  /** Attempts per connection, the first included. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
}

type Outcome = 'delivered' | 'gone' | 'retry' | 'failed';

const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode ??
  (error as { statusCode?: number })?.statusCode;

const RETRYABLE_NAMES = new Set([
  'LimitExceededException',
  'TooManyRequestsException',
  'ThrottlingException',
  'InternalServerError',
  'InternalServerErrorException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** GoneException is detected by name: SDK v3 errors have no `statusCode` (the original design's bug). */
export const classifyPostError = (error: unknown): Exclude<Outcome, 'delivered'> => {
  const name = (error as Error)?.name;
  const status = statusOf(error);
  if (name === 'GoneException' || status === 410) return 'gone';
  if (RETRYABLE_NAMES.has(name) || status === 429 || (status !== undefined && status >= 500)) return 'retry';
  if (RETRYABLE_CODES.has((error as { code?: string })?.code ?? '')) return 'retry';
  return 'failed';
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
  maxAttempts = 4,
  baseDelayMs = 50,
  maxDelayMs = 1000,
  random = Math.random,
}: FanOutOptions) => {
  const deliverOne = async (connectionId: string, body: string, result: FanOutResult) => {
    for (let attempt = 1; ; attempt++) {
      let outcome: Exclude<Outcome, 'delivered'>;
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
        result.gone++;
        try {
          await store.removeConnection(connectionId);
        } catch (removeError) {
          log.warn('could not delete a stale connection', { connectionId, error: (removeError as Error).message });
        }
        return;
      }
      if (outcome === 'retry' && attempt < maxAttempts) {
        result.retried++;
        await sleep(backoffDelay(attempt, baseDelayMs, maxDelayMs, random));
        continue;
      }
      result.failed++;
      log.warn('delivery failed', {
        connectionId,
        attempts: attempt,
        error: (error as Error)?.name,
        status: statusOf(error),
      });
      return;
    }
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
  ): Promise<FanOutResult> => {
    const result: FanOutResult = { recipients: 0, delivered: 0, gone: 0, failed: 0, retried: 0 };
    const size = byteLength(body);
    if (size > MAX_PAYLOAD_BYTES) {
      log.error('frame exceeds the 128 KB WebSocket payload quota; not delivered', { bytes: size });
      counter.count('PayloadTooLarge', 1);
      return { ...result, rejected: 'payload_too_large' };
    }
    const ids = flatten(pages);
    const worker = async () => {
      for (;;) {
        const next = await ids.next();
        if (next.done) return;
        if (next.value === exclude) continue;
        result.recipients++;
        await deliverOne(next.value, body, result);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    counter.count('Delivered', result.delivered);
    counter.count('Gone', result.gone);
    counter.count('Failed', result.failed);
    counter.count('Retried', result.retried);
    return result;
  };

  return { deliver };
};

export type FanOut = ReturnType<typeof createFanOut>;
