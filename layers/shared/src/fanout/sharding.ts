/**
 * Fan-out past one Lambda. One invocation delivers the first `shardSize`
 * recipients itself; every further `shardSize` recipients become a shard,
 * handed to the fan-out worker function by an asynchronous invoke while the
 * local deliveries are still running. Workers run in parallel, each with the
 * same bounded, retried fan-out.
 *
 * Why asynchronous Invoke and not SQS: a live dashboard cares about latency,
 * and an Event invoke starts a worker within milliseconds, where an SQS
 * event source adds polling and batching delay. Lambda's async queue already
 * retries a failed worker twice (EventInvokeConfig), and the frame's `id`
 * lets clients drop the duplicates a retry may cause. The price: no
 * backpressure beyond the account's concurrency quota, which the cost model
 * in docs/scaling.md accounts for.
 */
import type { DeliverOptions, FanOut, FanOutResult } from './fanOut.js';
import type { Counter, Log } from '../runtime/observability.js';

/** 256 KB: Lambda's payload quota for asynchronous invocations. */
export const MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024;

export interface FanoutShard {
  /** The frame to send, already serialised (at most 128 KB). */
  body: string;
  connectionIds: string[];
  /** The frame's id, for logs. */
  id: string;
  /** When the reading reached IoT Core (epoch ms): a handoff chain stops at an age limit (see handoff.ts). */
  receivedAt?: number;
  /** The device, for a `resync` frame if the shard is shed. */
  deviceId?: string;
}

export interface ShardedDeliveryCallOptions extends DeliverOptions {
  /** Copied into every shard handed to a worker (the handoff's receivedAt, deviceId, kind). */
  shardFields?: Record<string, unknown>;
}

export type DispatchShard = (shard: FanoutShard) => Promise<void>;

export interface ShardedResult extends FanOutResult {
  shards: number;
  /** Recipients handed to workers (delivered by them, not counted in `delivered`). */
  sharded: number;
}

export interface ShardedDeliveryOptions {
  fanOut: FanOut;
  /** Without a dispatcher (no worker function configured) every recipient is delivered here. */
  dispatch?: DispatchShard;
  shardSize: number;
  log: Log;
  counter: Counter;
}

/** Shard size that keeps a worker's payload under the async invoke quota, whatever the frame's size. */
export const shardSizeFor = (bodyBytes: number, wanted: number, idBytes = 40): number =>
  Math.max(1, Math.min(wanted, Math.floor((MAX_ASYNC_PAYLOAD_BYTES - bodyBytes - 1024) / idBytes)));

export const createShardedDelivery = ({ fanOut, dispatch, shardSize, log, counter }: ShardedDeliveryOptions) =>
  async (pages: AsyncIterable<readonly string[]>, body: string, id: string, exclude?: string, callOptions: ShardedDeliveryCallOptions = {}): Promise<ShardedResult> => {
    const { shardFields, ...options } = callOptions;
    if (!dispatch) return { ...(await fanOut.deliver(pages, body, exclude, options)), shards: 0, sharded: 0 };
    const size = shardSizeFor(Buffer.byteLength(body), shardSize);
    const dispatches: Promise<void>[] = [];
    const fallbacks: string[][] = [];
    let shards = 0;
    let sharded = 0;

    const handOff = (connectionIds: string[]) => {
      shards++;
      sharded += connectionIds.length;
      dispatches.push(
        dispatch({ body, connectionIds, id, ...shardFields }).catch((error: Error) => {
          // A shard that cannot be handed off is delivered here instead: late beats lost.
          log.warn('could not dispatch a fan-out shard; delivering it locally', { id, recipients: connectionIds.length, error: error.name });
          counter.count('ShardDispatchFailed', 1);
          sharded -= connectionIds.length;
          fallbacks.push(connectionIds);
        }),
      );
    };

    // Yields this invocation's own share while diverting the rest into shards;
    // the fan-out's workers pull from it, so local delivery starts on the first page.
    async function* ownShare(): AsyncGenerator<readonly string[]> {
      let taken = 0;
      let pending: string[] = [];
      for await (const page of pages) {
        const ids = exclude === undefined ? page : page.filter((c) => c !== exclude);
        const room = Math.max(0, size - taken);
        if (room > 0) {
          const mine = ids.slice(0, room);
          taken += mine.length;
          yield mine;
        }
        for (const connectionId of ids.slice(room)) {
          pending.push(connectionId);
          if (pending.length === size) {
            handOff(pending);
            pending = [];
          }
        }
      }
      if (pending.length > 0) handOff(pending);
    }

    const local = await fanOut.deliver(ownShare(), body, undefined, options);
    await Promise.all(dispatches);
    let result: ShardedResult = { ...local, shards, sharded };
    for (const ids of fallbacks) {
      // One id at a time, so that the ids a deadline leaves unpulled are known and join the leftover (when collected).
      let next = 0;
      const source = (function* () {
        while (next < ids.length) yield [ids[next++] as string];
      })();
      const extra = await fanOut.deliver(source, body, undefined, options);
      if (options.leftover) options.leftover.push(...ids.slice(next));
      result = {
        ...result,
        recipients: result.recipients + extra.recipients,
        delivered: result.delivered + extra.delivered,
        gone: result.gone + extra.gone,
        failed: result.failed + extra.failed,
        retried: result.retried + extra.retried,
      };
    }
    if (shards > 0) counter.count('Shards', shards);
    return result;
  };

export type ShardedDelivery = ReturnType<typeof createShardedDelivery>;

/**
 * Hands a shard to the worker function with an asynchronous invoke. The Lambda
 * client is loaded on first use only: most messages never shard, and the
 * telemetry function's cold start should not pay for it.
 */
export const createLambdaDispatcher = (functionName: string, endpoint = process.env.LAMBDA_ENDPOINT || undefined): DispatchShard => {
  let lambda: Promise<{ send: (shard: FanoutShard) => Promise<number | undefined> }> | undefined;
  return async (shard) => {
    lambda ??= import('@aws-sdk/client-lambda').then(({ LambdaClient, InvokeCommand }) => {
      const client = new LambdaClient({ endpoint, maxAttempts: 3 });
      return {
        send: async (s: FanoutShard) =>
          (await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(s)) })))
            .StatusCode,
      };
    });
    const status = await (await lambda).send(shard);
    if (status !== 202) throw Object.assign(new Error(`async invoke of ${functionName} answered ${status}`), { name: 'DispatchFailed' });
  };
};
