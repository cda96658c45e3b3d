/**
 * Connections and subscriptions in one DynamoDB table.
 *
 *   connection:   pk = conn#{connectionId}  sk = meta              (scope, publish, devices it subscribes to)
 *   subscription: pk = dev#{deviceId}       sk = {connectionId}    (deviceId "*" = every device)
 *   version:      pk = ver#{deviceId}       sk = version           (changes whenever dev#{deviceId} does; recipientCache.ts)
 *   version:      pk = ver                  sk = version           (changes after any of them does)
 *
 * Recipients of a device's message are one Query on dev#{deviceId} plus one on
 * dev#*: the cost grows with the recipients, never with the table (the original
 * design Scanned the whole table per message). Every read is paginated. Every
 * item carries `expiresAt` (the table's TTL attribute) and expired items are
 * filtered on read, because DynamoDB deletes expired items up to days late and
 * dynalite never does.
 */
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { BadRequest, NotFound } from '../protocol/errors.js';
import { ALL_DEVICES, type DeviceSelection, MAX_SUBSCRIPTIONS_PER_CONNECTION } from '../protocol/frames.js';
import { BATCH_WRITE_LIMIT, sendInBatches } from './batches.js';
import { GLOBAL_VERSION_KEY, connectionKey as connKey, subscriptionKey as subKey, versionKey } from './keys.js';
import { type StoreUsage, subscriberPages } from './subscribers.js';
import { backoffDelay, sleep } from '../runtime/retry.js';
import { subscriptionCapCondition } from './subscriptionCap.js';
import { expiryIndexAttributes } from './expiryIndex.js';
import { holderSlotKey } from './holderConnections.js';

export interface ConnectionRecord {
  connectionId: string;
  sub: string;
  /** The devices this connection may receive: the token's `devices` claim. */
  scope: DeviceSelection;
  /** Whether the `message` route is open to this connection: the token's `publish` claim. */
  publish: boolean;
  /** Whether the alarm routes that change things are open to it: the token's `alarms` claim (layers/shared/src/alarms/). */
  alarms?: boolean;
  /** The devices it currently subscribes to ("*" for all). */
  devices: string[];
  connectedAt: number;
  expiresAt: number;
  /** The token's `exp` (epoch seconds): past it the connection receives nothing and no route serves it. */
  tokenExpiresAt?: number;
}

export interface NewConnection {
  connectionId: string;
  sub: string;
  scope: DeviceSelection;
  publish: boolean;
  alarms?: boolean;
  devices: DeviceSelection;
  tokenExpiresAt?: number;
  /** The holder's slot it took at $connect (holderConnections.ts), released with it. */
  holderSlot?: number;
}

/** What DynamoDB reads cost; the benchmark reads it, the logs report it. */
export type { StoreUsage } from './subscribers.js';

export interface ConnectionStore {
  putConnection(connection: NewConnection): Promise<ConnectionRecord>;
  getConnection(connectionId: string): Promise<ConnectionRecord | undefined>;
  subscribe(connectionId: string, devices: DeviceSelection): Promise<string[]>;
  unsubscribe(connectionId: string, devices: DeviceSelection): Promise<string[]>;
  touch(connectionId: string): Promise<boolean>;
  removeConnection(connectionId: string, knownDevices?: readonly string[]): Promise<void>;
  /**
   * Pages of connection ids subscribed to `deviceId` or to every device, each id once.
   * `tally`, when given, counts this lookup's own requests and read units (`usage` counts every call).
   */
  recipientPages(deviceId: string, options?: RecipientOptions): AsyncGenerator<string[]>;
  readonly usage: StoreUsage;
}

/**
 * Where a recipient lookup stands: the partition it reads (a device id, or "*"
 * for the every-device subscribers) and the last sort key (connection id) it
 * handed out. As a DynamoDB ExclusiveStartKey it resumes a read exactly after
 * that id, even when subscriptions before it were deleted in the meantime
 * (an offset into a page would then skip live recipients). Without `after`,
 * the partition is read from its start.
 */
export interface RecipientPosition {
  key: string;
  after?: string;
}

export interface RecipientOptions {
  pageSize?: number;
  tally?: StoreUsage;
  /**
   * Called with the subscribers met past their expiry (the token's `exp`, or the TTL): they are never
   * yielded, and the caller may close them (connectionExpiry.ts). Filtered in code, not by a
   * FilterExpression, so that they are seen at all; the read units are the same either way.
   */
  expired?: (connectionIds: string[]) => void;
  /** false: only the device's own subscribers, not those of every device (dev#*). */
  wildcard?: boolean;
  /** Resume here (see RecipientPosition). Earlier partitions are read only to skip their ids again, each id once. */
  from?: RecipientPosition;
  /** Called with the partition of each page just before the page is yielded. */
  onPage?: (key: string) => void;
}

/** The name issue 16 gave RecipientOptions. */
export type RecipientPagesOptions = RecipientOptions;

export interface ConnectionStoreOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** Seconds an item lives without a heartbeat. 2 h is API Gateway's hard connection limit. */
  ttlSeconds?: number;
  now?: () => number;
  /** Bound on BatchWrite retries of UnprocessedItems. */
  maxBatchAttempts?: number;
}

const MAX_SUBSCRIBE_ATTEMPTS = 5;

export const DEFAULT_TTL_SECONDS = 2 * 60 * 60 + 10 * 60;

const asList = (selection: DeviceSelection): string[] => (selection === ALL_DEVICES ? [ALL_DEVICES] : selection);

export const createConnectionStore = ({
  doc,
  tableName,
  ttlSeconds = DEFAULT_TTL_SECONDS,
  now = Date.now,
  maxBatchAttempts = 6,
}: ConnectionStoreOptions): ConnectionStore => {
  const usage: StoreUsage = { requests: 0, readUnits: 0 };
  const expiry = () => Math.floor(now() / 1000) + ttlSeconds;
  const nowSeconds = () => Math.floor(now() / 1000);

  const batchWrite = (requests: NonNullable<BatchWriteCommandInput['RequestItems']>[string]) =>
    sendInBatches(requests, { limit: BATCH_WRITE_LIMIT, maxAttempts: maxBatchAttempts, what: 'BatchWriteItem' }, async (pending) => {
      usage.requests++;
      const out = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
      return out.UnprocessedItems?.[tableName] ?? [];
    });

  const toRecord = (item: Record<string, unknown>): ConnectionRecord => {
    const scope = item.scope === ALL_DEVICES ? ALL_DEVICES : ((item.scope as string[] | undefined) ?? []);
    return {
      connectionId: item.connectionId as string,
      sub: (item.sub as string | undefined) ?? 'anonymous',
      scope,
      publish: item.publish === true,
      ...(item.alarms === true ? { alarms: true } : {}),
      devices: item.devices instanceof Set ? [...(item.devices as Set<string>)].sort() : [],
      connectedAt: item.connectedAt as number,
      expiresAt: item.expiresAt as number,
      ...(typeof item.tokenExpiresAt === 'number' ? { tokenExpiresAt: item.tokenExpiresAt } : {}),
    };
  };

  const getConnection = async (connectionId: string) => {
    usage.requests++;
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: connKey(connectionId), ConsistentRead: true }));
    if (!out.Item || (out.Item.expiresAt as number) <= nowSeconds()) return undefined;
    const record = toRecord(out.Item);
    // A ping extends expiresAt, never the token: past exp the connection is gone for every route.
    if (record.tokenExpiresAt !== undefined && record.tokenExpiresAt <= nowSeconds()) return undefined;
    return record;
  };

  /** Updates the connection item only if it still exists (and `condition` holds); false when not. */
  const updateConnection = async (UpdateExpression: string, connectionId: string, values: Record<string, unknown>, condition?: string) => {
    usage.requests++;
    try {
      await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: connKey(connectionId),
          UpdateExpression,
          ConditionExpression: condition ? `attribute_exists(pk) AND ${condition}` : 'attribute_exists(pk)',
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  };

  /**
   * A new, never-repeated version for each key whose subscribers just changed,
   * written after the change itself and before the caller answers: the
   * fan-out's recipient cache re-reads a key whose version moved (recipientCache.ts).
   */
  const bumpVersions = async (devices: string[]) => {
    if (devices.length === 0) return;
    await batchWrite(devices.map((d) => ({ PutRequest: { Item: { ...versionKey(d), v: `${now()}-${randomUUID()}`, expiresAt: expiry() } } })));
    // The table-wide version last, in a write of its own: a batch may land in any order.
    await batchWrite([{ PutRequest: { Item: { ...GLOBAL_VERSION_KEY, v: `${now()}-${randomUUID()}`, expiresAt: expiry() } } }]);
  };

  // Each operation below writes the versions last, after every item it changes: a failed version write then
  // leaves no half-stored connection, and the caller still answers only after the versions moved.
  const putSubscriptions = (connectionId: string, devices: string[], expiresAt: number) =>
    batchWrite(devices.map((d) => ({ PutRequest: { Item: { ...subKey(d, connectionId), expiresAt } } })));

  const deleteSubscriptions = (connectionId: string, devices: string[]) =>
    batchWrite(devices.map((d) => ({ DeleteRequest: { Key: subKey(d, connectionId) } })));

  const removeConnection = async (connectionId: string, knownDevices: readonly string[] = []) => {
    usage.requests++;
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: connKey(connectionId), ConsistentRead: true }));
    const listed = out.Item?.devices instanceof Set ? [...(out.Item.devices as Set<string>)] : [];
    const devices = [...new Set([...listed, ...knownDevices])];
    // Subscriptions first, the connection last: a failure half-way leaves a
    // connection item that a retry (or the TTL) still finds and finishes.
    await deleteSubscriptions(connectionId, devices);
    // The holder's slot with the connection (holderConnections.ts): its place is free for the next connect.
    const slot = out.Item?.holderSlot;
    const slotKey = typeof slot === 'number' && typeof out.Item?.sub === 'string' ? [{ DeleteRequest: { Key: holderSlotKey(out.Item.sub, slot) } }] : [];
    await batchWrite([...slotKey, { DeleteRequest: { Key: connKey(connectionId) } }]);
    await bumpVersions(devices);
  };

  return {
    usage,
    getConnection,
    removeConnection,

    async putConnection({ connectionId, sub, scope, publish, alarms, devices, tokenExpiresAt, holderSlot }) {
      const list = asList(devices);
      const record: ConnectionRecord = {
        connectionId,
        sub,
        scope,
        publish,
        ...(alarms ? { alarms: true } : {}),
        devices: list,
        connectedAt: now(),
        // Its subscriptions get this too: no recipient lookup returns the connection past its token's exp.
        expiresAt: tokenExpiresAt === undefined ? expiry() : Math.min(expiry(), tokenExpiresAt),
        ...(tokenExpiresAt !== undefined ? { tokenExpiresAt } : {}),
      };
      usage.requests++;
      // The connection item first, listing its subscriptions, then the subscriptions:
      // a subscription never exists without a connection item that names it.
      await doc.send(
        new PutCommand({
          TableName: tableName,
          // DynamoDB has no empty sets: a connection with no subscriptions has no `devices` attribute.
          Item: {
            ...connKey(connectionId),
            ...record,
            ...expiryIndexAttributes(connectionId, tokenExpiresAt),
            scope,
            devices: list.length > 0 ? new Set(list) : undefined,
            ...(holderSlot !== undefined ? { holderSlot } : {}),
          },
        }),
      );
      try {
        await putSubscriptions(connectionId, list, record.expiresAt);
        await bumpVersions(list);
      } catch (error) {
        await removeConnection(connectionId, list).catch(() => undefined);
        throw error;
      }
      return record;
    },

    async subscribe(connectionId, devices) {
      const list = asList(devices);
      // The cap is a condition on the write (subscriptionCap.ts): a failed condition means another frame
      // changed the set since the read, so read again and decide again, a bounded number of times.
      for (let attempt = 1; ; attempt++) {
        const current = await getConnection(connectionId);
        if (!current) throw new NotFound('this connection is not registered; reconnect');
        const cap = subscriptionCapCondition(current.devices, list, MAX_SUBSCRIPTIONS_PER_CONNECTION);
        if (!cap) throw new BadRequest(`a connection may subscribe to at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} devices`);
        if (await updateConnection('ADD devices :d', connectionId, { ':d': new Set(list), ...cap.values }, cap.expression)) {
          await putSubscriptions(connectionId, list, Math.min(current.expiresAt, current.tokenExpiresAt ?? Infinity));
          await bumpVersions(list);
          return [...new Set([...current.devices, ...list])].sort();
        }
        if (attempt >= MAX_SUBSCRIBE_ATTEMPTS) throw new BadRequest('subscriptions changed concurrently; send the frame again');
      }
    },

    async unsubscribe(connectionId, devices) {
      const current = await getConnection(connectionId);
      if (!current) throw new NotFound('this connection is not registered; reconnect');
      const list = devices === ALL_DEVICES ? current.devices : devices;
      await deleteSubscriptions(connectionId, list);
      if (list.length > 0) await updateConnection('DELETE devices :d', connectionId, { ':d': new Set(list) });
      await bumpVersions(list);
      const removed = new Set(list);
      return current.devices.filter((d) => !removed.has(d));
    },

    touch(connectionId) {
      return updateConnection('SET expiresAt = :e', connectionId, { ':e': expiry(), ':now': nowSeconds() }, '(attribute_not_exists(tokenExpiresAt) OR tokenExpiresAt > :now)');
    },

    async *recipientPages(deviceId, { pageSize, tally, expired, wildcard = true, from, onPage } = {}) {
      const seen = new Set<string>();
      const keys = deviceId === ALL_DEVICES || !wildcard ? [deviceId] : [deviceId, ALL_DEVICES];
      const start = from ? keys.indexOf(from.key) : 0;
      if (start < 0) throw new BadRequest(`a recipient position for ${deviceId} names partition ${from!.key}`);
      for (const [index, key] of keys.entries()) {
        const after = index === start ? from?.after : undefined;
        // Resuming in the last partition: start the read right after `after`. Elsewhere read from the start:
        // the ids before the resume point were delivered already, and a later partition must skip them again.
        const last = index === keys.length - 1;
        const startAfter = last && after !== undefined ? after : undefined;
        const skipOnly = index < start;
        const tallies = tally ? [usage, tally] : [usage];
        for await (const items of subscriberPages({ doc, tableName, key, startAfter, pageSize, tallies })) {
          const page: string[] = [];
          const past: string[] = [];
          const nowS = nowSeconds();
          for (const item of items) {
            const id = item.connectionId;
            if (seen.has(id)) continue;
            if (item.expiresAt > nowS) {
              seen.add(id);
              // Sort keys come in ascending order: up to `after`, delivered before the resume.
              if (after === undefined || id > after) page.push(id);
            } else if (!skipOnly && (after === undefined || id > after)) past.push(id);
          }
          if (past.length > 0) expired?.(past);
          if (page.length > 0 && !skipOnly) {
            onPage?.(key);
            yield page;
          }
        }
      }
    },
  };
};
