/**
 * `devices`: each device's latest reading, and the `snapshot` frame built from it.
 *
 *   DevicesTable: pk = deviceId; at, receivedAt, id, d (the data as JSON text), expiresAt (TTL); presence (presence/presenceStore.ts).
 *
 * The telemetry function writes it beside the fan-out with one conditional
 * UpdateItem (`attribute_not_exists(at) OR at < :at`), so a reading that arrives
 * late, with an older time, never replaces a newer one, and the item's presence
 * stays. `at` is the time the reading is stored at (./historyKeys.ts, storedTime):
 * a ts far in the future (a clock in microseconds) is not believed, so it cannot
 * freeze the latest reading. The data is JSON text: any number (past 2^53 too)
 * and any field name (`__proto__` too) come back as they went in.
 * An item with presence and no reading is a device that connected and has not reported yet.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { heldPresence } from '../presence/presenceStore.js';
import type { ConnectionStore, StoreUsage } from '../store/connectionStore.js';
import { BadRequest, NotFound } from '../protocol/errors.js';
import { ALL_DEVICES, DEFAULT_DEVICES_PAGE, type DeviceSelection, type TelemetryFrame, validateClientFrame } from '../protocol/frames.js';
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

// A snapshot's first page names at most this many devices; `devices` pages on with a cursor (DEFAULT_DEVICES_PAGE).
export const SNAPSHOT_MAX_DEVICES = 500;

export interface LatestReading {
  deviceId: string;
  ts: number;
  receivedAt: number;
  data: Record<string, unknown>;
  /** IoT Core's word on the device (presence/): online or offline since when, and why it went. */
  presence?: { state: 'online' | 'offline'; since: number; reason?: string };
}

/** A `snapshot` entry: the latest reading and presence; a device with presence only has no ts, receivedAt or data. */
export const snapshotEntry = (r: LatestReading): Record<string, unknown> =>
  r.ts > 0 ? { ...r } : { deviceId: r.deviceId, ...(r.presence ? { presence: r.presence } : {}) };

/** One page of `devices`: its readings, and where the next page starts (absent on the last). */
export interface DevicesPage {
  readings: LatestReading[];
  cursor?: string;
}

export interface DevicesStore {
  /** Stores `frame` as its device's latest reading unless a newer one is kept; false when it was older. */
  recordLatest(frame: TelemetryFrame): Promise<boolean>;
  /** The latest readings of these devices (unknown and expired ones left out). */
  latest(deviceIds: readonly string[]): Promise<LatestReading[]>;
  /** Every known device's latest reading, page by page, up to `limit` devices. */
  all(limit: number): AsyncGenerator<LatestReading[]>;
  /** One page of every known device, from `cursor` (a Scan's LastEvaluatedKey, opaque to the client). */
  page(limit: number, cursor?: string): Promise<DevicesPage>;
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

const reading = (item: Record<string, unknown>): LatestReading => {
  const presence = heldPresence(item);
  return {
    deviceId: item.deviceId as string,
    // `at` (the stored time) since rollups; `ts` on items written before them; 0: presence only, no reading yet.
    ts: typeof item.at === 'number' ? item.at : typeof item.ts === 'number' ? item.ts : 0,
    receivedAt: typeof item.receivedAt === 'number' ? item.receivedAt : 0,
    data: typeof item.d === 'string' ? (JSON.parse(item.d) as Record<string, unknown>) : ((item.data as Record<string, unknown>) ?? {}),
    ...(presence ? { presence: { state: presence.state, since: presence.since, ...(presence.reason ? { reason: presence.reason } : {}) } } : {}),
  };
};

/**
 * A `devices` cursor, opaque to the client (base64url JSON), checked on the way back: the Scan's
 * LastEvaluatedKey (`{deviceId}`) for every device, or an offset into a list (the token's scope, the subscriptions).
 */
type Cursor = { deviceId: string } | { offset: number };
const encodeCursor = (cursor: Cursor): string => Buffer.from(JSON.stringify(cursor)).toString('base64url');
export const decodeCursor = (cursor: string): Cursor => {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const v = value as Record<string, unknown> | undefined;
  if (v && typeof v === 'object' && Object.keys(v).length === 1) {
    if (typeof v.deviceId === 'string') return { deviceId: v.deviceId };
    if (typeof v.offset === 'number' && Number.isInteger(v.offset) && v.offset >= 0) return { offset: v.offset };
  }
  throw new BadRequest('"cursor" is not one this server gave');
};

export const createDevicesStore = ({ doc, tableName, retentionDays = 7, now = Date.now, maxBatchAttempts = 5 }: DevicesStoreOptions): DevicesStore => {
  const usage: StoreUsage = { requests: 0, readUnits: 0 };
  const live = (item: Record<string, unknown>) => typeof item.expiresAt !== 'number' || item.expiresAt > now() / 1000;
  return {
    usage,
    async recordLatest(frame) {
      const at = storedTime(frame, retentionDays);
      try {
        // An UpdateItem, not a PutItem: the item's presence (presence/presenceStore.ts) stays.
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { deviceId: frame.deviceId },
            UpdateExpression: 'SET #at = :at, receivedAt = :r, id = :id, #d = :d, expiresAt = :e',
            // An item without `at` was written before it existed (or holds presence only): any reading replaces it.
            ConditionExpression: 'attribute_not_exists(#at) OR #at < :at',
            ExpressionAttributeNames: { '#at': 'at', '#d': 'd' },
            ExpressionAttributeValues: {
              ':at': at,
              ':r': frame.receivedAt,
              ':id': frame.id,
              ':d': JSON.stringify(frame.data),
              ':e': Math.floor(frame.receivedAt / 1000) + retentionDays * 86_400,
            },
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
    async page(limit, cursor) {
      // One Scan page may hold fewer live items than asked (expired ones are filtered): read on until the page is
      // full or the table ends, so a client never gets an empty page with a cursor.
      const from = cursor === undefined ? undefined : decodeCursor(cursor);
      if (from && !('deviceId' in from)) throw new BadRequest('"cursor" is not one this server gave');
      let startKey: Record<string, unknown> | undefined = from;
      const readings: LatestReading[] = [];
      do {
        const res = await doc.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey, Limit: limit - readings.length, ReturnConsumedCapacity: 'TOTAL' }));
        usage.requests++;
        usage.readUnits += res.ConsumedCapacity?.CapacityUnits ?? 0;
        startKey = res.LastEvaluatedKey;
        readings.push(...(res.Items ?? []).filter(live).map(reading));
      } while (startKey && readings.length < limit);
      return { readings, ...(startKey ? { cursor: encodeCursor({ deviceId: String(startKey.deviceId) }) } : {}) };
    },
  };
};

/**
 * One page of the devices a connection may see among `selection`: for "*", every known device within its scope
 * (a Scan, page by page, for an every-device scope; else its scope's list); for a list, those devices in scope.
 * `cursor` is where the previous page ended; the page's own cursor is absent on the last one.
 */
export const snapshotPage = async (devices: DevicesStore, scope: DeviceSelection, selection: DeviceSelection, { cursor, limit = DEFAULT_DEVICES_PAGE }: { cursor?: string; limit?: number } = {}): Promise<DevicesPage> => {
  if (selection === ALL_DEVICES && scope === ALL_DEVICES) return devices.page(limit, cursor);
  const visible = selection === ALL_DEVICES ? (scope as string[]) : scope === ALL_DEVICES ? selection : selection.filter((d) => scope.includes(d));
  const from = cursor === undefined ? { offset: 0 } : decodeCursor(cursor);
  if (!('offset' in from)) throw new BadRequest('"cursor" is not one this server gave');
  const ids = [...new Set(visible)].sort();
  const next = from.offset + limit;
  return { readings: await devices.latest(ids.slice(from.offset, next)), ...(next < ids.length ? { cursor: encodeCursor({ offset: next }) } : {}) };
};

/** The first page of devices a connection may see among `selection` (at most SNAPSHOT_MAX_DEVICES). */
export const snapshotReadings = async (devices: DevicesStore, scope: DeviceSelection, selection: DeviceSelection): Promise<LatestReading[]> =>
  (await snapshotPage(devices, scope, selection, { limit: SNAPSHOT_MAX_DEVICES })).readings;

/**
 * Posts one page of the `snapshot` reply: one frame, or several under 32 KB each, the last with `done: true`.
 * Every frame of a page carries the page's `cursor` when more devices follow (the client asks again with it).
 */
export const postSnapshot = async (
  devices: DevicesStore,
  post: PostToConnection,
  connection: { connectionId: string; scope: DeviceSelection },
  selection: DeviceSelection,
  requestId?: string,
  paging: { cursor?: string; limit?: number } = {},
): Promise<number> => {
  const page = await snapshotPage(devices, connection.scope, selection, paging);
  const header = { type: 'snapshot', ...(requestId === undefined ? {} : { requestId }), ...(page.cursor === undefined ? {} : { cursor: page.cursor }) };
  const writer = createReplyFrameWriter(header, 'devices', (text) => post(connection.connectionId, text));
  // A reading too large for a frame is sent reduced (history/fitPoint.ts), never as an error.
  for (const r of page.readings) await writer.add(snapshotEntry(fitItem(r)));
  await writer.end();
  return page.readings.length;
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
      const count = await postSnapshot(devices, post, connection, subscribedSelection(connection.devices), requestId, { cursor: frame.cursor, limit: frame.limit });
      log.info('snapshot', { connectionId: connection.connectionId, devices: count, ...(frame.cursor ? { paged: true } : {}) });
      return ok();
    } catch (error) {
      return errorReply(error, requestId);
    }
  };
