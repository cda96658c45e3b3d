/**
 * `devices`: each device's latest reading, and the `snapshot` frame built from it.
 *
 *   DevicesTable: pk = deviceId; ts, at, receivedAt, id, d (the data as JSON text), expiresAt (TTL).
 *
 * The telemetry function writes it beside the fan-out with one conditional
 * PutItem (`attribute_not_exists(at) OR at < :at`), so a reading that arrives
 * late, with an older time, never replaces a newer one. `at` is the time the
 * reading is stored at (./historyKeys.ts, storedTime): a ts far in the future
 * (a clock in microseconds) is not believed, so it cannot freeze the latest
 * reading. The data is JSON text: any number (past 2^53 too) and any field
 * name (`__proto__` too) come back as they went in.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionStore, StoreUsage } from '../store/connectionStore.js';
import { BadRequest, NotFound } from '../protocol/errors.js';
import { ALL_DEVICES, type DeviceSelection, type TelemetryFrame, validateClientFrame } from '../protocol/frames.js';
import type { WsEvent, WsResult } from '../runtime/middleware.js';
import { errorReply, ok, requestIdOf } from '../runtime/middleware.js';
import type { Log } from '../runtime/observability.js';
import { createReplyFrameWriter } from '../protocol/replyFrames.js';
import type { PostToConnection } from '../protocol/postToConnection.js';
import { BATCH_GET_LIMIT, sendInBatches } from '../store/batches.js';
import type { RateLimiter } from '../store/rateLimit.js';
import { storedTime } from './historyKeys.js';
import { fitItem } from './fitPoint.js';
import { checkRate } from './history.js';

// A snapshot names at most this many devices (for "*", the first ones the table's Scan returns).
export const SNAPSHOT_MAX_DEVICES = 500;

export interface LatestReading {
  deviceId: string;
  ts: number;
  receivedAt: number;
  data: Record<string, unknown>;
}

export interface DevicesStore {
  /** Stores `frame` as its device's latest reading unless a newer one is kept; false when it was older. */
  recordLatest(frame: TelemetryFrame): Promise<boolean>;
  /** The latest readings of these devices (unknown and expired ones left out). */
  latest(deviceIds: readonly string[]): Promise<LatestReading[]>;
  /** Every known device's latest reading, page by page, up to `limit` devices. */
  all(limit: number): AsyncGenerator<LatestReading[]>;
  readonly usage: StoreUsage;
}

export interface DevicesStoreOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** A device that has not reported for this long drops out (TTL), like its history. */
  retentionDays?: number;
  now?: () => number;
  maxBatchAttempts?: number;
}

const reading = (item: Record<string, unknown>): LatestReading => ({
  deviceId: item.deviceId as string,
  ts: typeof item.at === 'number' ? item.at : (item.ts as number),
  receivedAt: item.receivedAt as number,
  data: typeof item.d === 'string' ? (JSON.parse(item.d) as Record<string, unknown>) : ((item.data as Record<string, unknown>) ?? {}),
});

export const createDevicesStore = ({ doc, tableName, retentionDays = 7, now = Date.now, maxBatchAttempts = 5 }: DevicesStoreOptions): DevicesStore => {
  const usage: StoreUsage = { requests: 0, readUnits: 0 };
  const live = (item: Record<string, unknown>) => typeof item.expiresAt !== 'number' || item.expiresAt > now() / 1000;
  return {
    usage,
    async recordLatest(frame) {
      const at = storedTime(frame, retentionDays);
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              deviceId: frame.deviceId,
              at,
              receivedAt: frame.receivedAt,
              id: frame.id,
              d: JSON.stringify(frame.data),
              expiresAt: Math.floor(frame.receivedAt / 1000) + retentionDays * 86_400,
            },
            // An item without `at` was written before it existed: any reading replaces it.
            ConditionExpression: 'attribute_not_exists(#at) OR #at < :at',
            ExpressionAttributeNames: { '#at': 'at' },
            ExpressionAttributeValues: { ':at': at },
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException') return false;
        throw error;
      }
    },
    async latest(deviceIds) {
      const out: LatestReading[] = [];
      const unique = [...new Set(deviceIds)];
      await sendInBatches(unique.map((deviceId) => ({ deviceId })), { limit: BATCH_GET_LIMIT, maxAttempts: maxBatchAttempts, what: 'BatchGetItem (latest readings)' }, async (keys) => {
        const res = await doc.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys } }, ReturnConsumedCapacity: 'TOTAL' }));
        usage.requests++;
        usage.readUnits += res.ConsumedCapacity?.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0) ?? 0;
        out.push(...(res.Responses?.[tableName] ?? []).filter(live).map(reading));
        return (res.UnprocessedKeys?.[tableName]?.Keys as { deviceId: string }[] | undefined) ?? [];
      });
      return out.sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    },
    async *all(limit) {
      let startKey: Record<string, unknown> | undefined;
      let left = limit;
      do {
        const res = await doc.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey, Limit: Math.min(left, 100), ReturnConsumedCapacity: 'TOTAL' }));
        usage.requests++;
        usage.readUnits += res.ConsumedCapacity?.CapacityUnits ?? 0;
        startKey = res.LastEvaluatedKey;
        const page = (res.Items ?? []).filter(live).map(reading).slice(0, left);
        left -= page.length;
        if (page.length > 0) yield page;
      } while (startKey && left > 0);
    },
  };
};

/**
 * The latest readings a connection may see among `selection`: for "*", every known
 * device within its scope (at most SNAPSHOT_MAX_DEVICES); for a list, those devices in scope.
 */
export const snapshotReadings = async (devices: DevicesStore, scope: DeviceSelection, selection: DeviceSelection): Promise<LatestReading[]> => {
  if (selection !== ALL_DEVICES) {
    const visible = scope === ALL_DEVICES ? selection : selection.filter((d) => scope.includes(d));
    return devices.latest(visible.slice(0, SNAPSHOT_MAX_DEVICES));
  }
  if (scope !== ALL_DEVICES) return devices.latest(scope.slice(0, SNAPSHOT_MAX_DEVICES));
  const out: LatestReading[] = [];
  for await (const page of devices.all(SNAPSHOT_MAX_DEVICES)) out.push(...page);
  return out;
};

/** Posts the `snapshot` reply: one frame, or several under 32 KB each, the last with `done: true`. */
export const postSnapshot = async (
  devices: DevicesStore,
  post: PostToConnection,
  connection: { connectionId: string; scope: DeviceSelection },
  selection: DeviceSelection,
  requestId?: string,
): Promise<number> => {
  const readings = await snapshotReadings(devices, connection.scope, selection);
  const writer = createReplyFrameWriter({ type: 'snapshot', ...(requestId === undefined ? {} : { requestId }) }, 'devices', (text) => post(connection.connectionId, text));
  for (const r of readings) await writer.add(fitItem(r));
  await writer.end();
  return readings.length;
};

/** The devices a connection subscribes to, as a selection. */
export const subscribedSelection = (subscriptions: readonly string[]): DeviceSelection =>
  subscriptions.includes(ALL_DEVICES) ? ALL_DEVICES : [...subscriptions];

/** `{"action":"devices"}`: a snapshot of every device this connection subscribes to (and may see). */
export const createDevicesRoute =
  ({ store, devices, post, log, limiter }: { store: ConnectionStore; devices: DevicesStore; post: PostToConnection; log: Log; limiter?: RateLimiter }) =>
  async (event: WsEvent): Promise<WsResult> => {
    const requestId = requestIdOf(event.frame);
    try {
      const frame = validateClientFrame(event.frame ?? {});
      if (frame.action !== 'devices') throw new BadRequest(`this route takes "devices" frames, got "${frame.action}"`);
      const connection = await store.getConnection(event.requestContext.connectionId);
      if (!connection) throw new NotFound('this connection is not registered (it may have expired); reconnect');
      await checkRate(limiter, connection.sub, 'devices');
      const count = await postSnapshot(devices, post, connection, subscribedSelection(connection.devices), requestId);
      log.info('snapshot', { connectionId: connection.connectionId, devices: count });
      return ok();
    } catch (error) {
      return errorReply(error, requestId);
    }
  };
