/**
 * The one loop for DynamoDB's batch calls: BatchWriteItem takes 25 requests and BatchGetItem 100 keys at a
 * time, and either may hand some back unprocessed (throttling, size), to be sent again with backoff.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
 */
import { backoffDelay, sleep } from '../runtime/retry.js';

/** BatchWriteItem takes at most 25 requests. */
export const BATCH_WRITE_LIMIT = 25;
/** BatchGetItem reads at most 100 keys. */
export const BATCH_GET_LIMIT = 100;

/**
 * Sends `items` in chunks of `limit`; `send` makes one call and returns what it left unprocessed, which is
 * sent again (with jittered backoff) until nothing is left, or throws after `maxAttempts` calls for a chunk.
 */
export const sendInBatches = async <T>(
  items: readonly T[],
  { limit, maxAttempts, what }: { limit: number; maxAttempts: number; what: string },
  send: (batch: T[]) => Promise<T[]>,
): Promise<void> => {
  for (let start = 0; start < items.length; start += limit) {
    let pending = items.slice(start, start + limit);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= maxAttempts) throw new Error(`${what} left ${pending.length} items unprocessed after ${maxAttempts} attempts`);
      if (attempt > 0) await sleep(backoffDelay(attempt, 25, 1000));
      pending = await send(pending);
    }
  }
};
