/**
 * Access ends when the token does. A connection's token `exp` is stored with
 * it (connectionStore.ts), so from that second no recipient lookup returns it
 * and no route serves it. This module closes such connections for good, with
 * `DeleteConnection`, from two places:
 *   - the fan-out, when a recipient lookup meets one (`collect`);
 *   - the expiry sweeper, a scheduled function that finds every connection
 *     past its token's exp through the sparse `byTokenExpiry` index
 *     (expiryIndex.ts), so that an idle connection, which no lookup meets,
 *     ends too.
 * Why a sweeper and not the TTL alone: DynamoDB's TTL deletes items up to
 * days late and never closes a socket; API Gateway would keep the connection
 * open for up to 2 hours.
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionStore } from '../store/connectionStore.js';
import { classifyPostError } from '../protocol/postToConnection.js';
import { EXPIRY_INDEX_NAME, expiryShards } from '../store/expiryIndex.js';
import type { Counter, Log } from '../runtime/observability.js';

/** `DeleteConnection`: rejects with the SDK's error shape (`name`, `$metadata.httpStatusCode`). */
export type Disconnect = (connectionId: string) => Promise<void>;

export interface CloseResult {
  closed: number;
  gone: number;
  failed: number;
}

/**
 * DeleteConnection through the SDK's management client, loaded on first use:
 * most invocations never close anything, and their cold start should not pay for it.
 */
export const createLazyDisconnector = (endpoint: string, region?: string): Disconnect => {
  let pending: Promise<Disconnect> | undefined;
  return async (connectionId) => {
    pending ??= import('./managementClient.js').then(({ createManagementClient, sdkDisconnector }) =>
      sdkDisconnector(createManagementClient({ endpoint, region, maxSockets: 8 })),
    );
    await (await pending)(connectionId);
  };
};

export interface ConnectionCloserOptions {
  disconnect: Disconnect;
  store: Pick<ConnectionStore, 'removeConnection'>;
  log: Log;
  counter: Counter;
  /** DeleteConnection calls in flight at once. */
  concurrency?: number;
}

export const createConnectionCloser = ({ disconnect, store, log, counter, concurrency = 8 }: ConnectionCloserOptions) => {
  const closeOne = async (connectionId: string, result: CloseResult) => {
    try {
      await disconnect(connectionId);
      result.closed++;
    } catch (error) {
      if (classifyPostError(error) !== 'gone') {
        // Its items stay, so the next sweep (or lookup) finds it and tries again; meanwhile nothing reaches it.
        result.failed++;
        log.warn('could not close an expired connection', { connectionId, error: (error as Error).name });
        return;
      }
      result.gone++;
    }
    // $disconnect removes the items too; removing them here as well covers a connection that was already gone.
    await store.removeConnection(connectionId).catch((error: Error) => log.warn('could not delete an expired connection', { connectionId, error: error.name }));
  };

  /** Closes each connection once, `concurrency` at a time. */
  const close = async (connectionIds: Iterable<string>): Promise<CloseResult> => {
    const result: CloseResult = { closed: 0, gone: 0, failed: 0 };
    const pending = [...new Set(connectionIds)];
    const worker = async () => {
      for (let id = pending.shift(); id !== undefined; id = pending.shift()) await closeOne(id, result);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, pending.length)) }, worker));
    counter.count('ExpiredClosed', result.closed + result.gone);
    return result;
  };

  /**
   * For a fan-out: `expired` goes to `recipientPages` as its callback, and
   * closes what it is given while the deliveries go on; `settle` waits for it.
   */
  const collect = () => {
    const seen = new Set<string>();
    const closing: Promise<CloseResult>[] = [];
    return {
      expired: (connectionIds: string[]) => {
        const fresh = connectionIds.filter((id) => !seen.has(id));
        fresh.forEach((id) => seen.add(id));
        if (fresh.length > 0) closing.push(close(fresh));
      },
      settle: async (): Promise<CloseResult> => {
        const results = await Promise.all(closing);
        return results.reduce((sum, r) => ({ closed: sum.closed + r.closed, gone: sum.gone + r.gone, failed: sum.failed + r.failed }), { closed: 0, gone: 0, failed: 0 });
      },
    };
  };

  return { close, collect };
};

export type ConnectionCloser = ReturnType<typeof createConnectionCloser>;

export interface ExpirySweepOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  closer: Pick<ConnectionCloser, 'close'>;
  log: Log;
  now?: () => number;
  pageSize?: number;
}

export interface SweepResult extends CloseResult {
  expired: number;
  /** True when the deadline stopped the sweep: the next run picks up the rest. */
  stopped: boolean;
}

/** One sweep: every connection past its token's exp, one index Query per shard, each page closed before the next. */
export const createExpirySweep =
  ({ doc, tableName, closer, log, now = Date.now, pageSize = 100 }: ExpirySweepOptions) =>
  async ({ deadline }: { deadline?: number } = {}): Promise<SweepResult> => {
    const result: SweepResult = { expired: 0, closed: 0, gone: 0, failed: 0, stopped: false };
    const nowSeconds = Math.floor(now() / 1000);
    for (const shard of expiryShards()) {
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        if (deadline !== undefined && Date.now() >= deadline) {
          result.stopped = true;
          log.warn('expiry sweep ran out of time; the next run goes on', { ...result });
          return result;
        }
        const out = await doc.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: EXPIRY_INDEX_NAME,
            KeyConditionExpression: 'expiryShard = :shard AND tokenExpiresAt <= :now',
            ExpressionAttributeValues: { ':shard': shard, ':now': nowSeconds },
            ProjectionExpression: 'pk',
            Limit: pageSize,
            ExclusiveStartKey,
          }),
        );
        ExclusiveStartKey = out.LastEvaluatedKey;
        const ids = (out.Items ?? []).map((item) => String(item.pk).replace(/^conn#/, ''));
        if (ids.length === 0) continue;
        result.expired += ids.length;
        const closed = await closer.close(ids);
        result.closed += closed.closed;
        result.gone += closed.gone;
        result.failed += closed.failed;
      } while (ExclusiveStartKey);
    }
    return result;
  };

/** The scheduled function: one sweep per EventBridge tick, stopping inside the function's timeout. */
export const createExpirySweepHandler =
  ({ sweep, log }: { sweep: ReturnType<typeof createExpirySweep>; log: Log }) =>
  async (_event: unknown, context?: { getRemainingTimeInMillis?: () => number }): Promise<SweepResult> => {
    const remaining = context?.getRemainingTimeInMillis?.();
    const deadline = typeof remaining === 'number' ? Date.now() + remaining - Math.max(1000, remaining * 0.1) : undefined;
    const result = await sweep({ deadline });
    if (result.expired > 0 || result.stopped) log.info('swept expired connections', { ...result });
    return result;
  };
