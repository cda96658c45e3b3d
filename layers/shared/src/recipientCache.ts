/**
 * Recipients of a device's readings, cached across warm invocations without
 * ever delivering to a connection after its `unsubscribe` or `$disconnect`
 * has been answered.
 *
 * Every write to a subscription partition (`dev#{key}`: subscribe,
 * unsubscribe, $connect, $disconnect, a 410 clean-up) is followed by a new,
 * never-repeated value in that key's version item (`ver#{key}`), and only
 * then does the route answer (connectionStore.ts). A lookup reads the version
 * items of every key it needs (the device's and `*`'s) in one strongly
 * consistent BatchGetItem, and re-queries, strongly consistently, only the
 * keys whose version differs from the one its cache entry was filled under.
 *
 * The invariant, exactly: a lookup that starts after an unsubscribe (or
 * $disconnect) was answered never returns that connection. Proof: the answer
 * comes after the subscription's delete and after the new version value v'.
 * The lookup's version read is consistent, so it sees v' (or a later value).
 * An entry cached under v' (or later) was filled by a Query issued after a
 * version read returned that value, so after the delete: it cannot hold the
 * connection. An entry cached under an older value does not match and is
 * re-queried. A reading already being delivered when the answer goes out may
 * still arrive, as it could without any cache (that post was in flight).
 *
 * Version values are unique (time + random), so a value never comes back
 * (no ABA). Version items expire with the table's TTL like every other item,
 * 2 h 10 min after the last write; entries older than `maxAgeMs` (60 s) are
 * re-queried anyway, so an entry can never outlive the version it was filled
 * under. The same bound limits the damage of a version write that failed
 * (the route then answered an error, not `unsubscribed`).
 *
 * Cost: one request (two read units) per lookup while nobody subscribes or
 * leaves, instead of two Queries; one BatchGetItem serves up to 100 keys, so
 * a coalesced batch looks up all of its devices in one request.
 */
import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { StoreUsage } from './connectionStore.js';
import { ALL_DEVICES } from './frames.js';
import { backoffDelay, sleep } from './retry.js';

/** The version item of one subscription key (a device id, or `*`). */
export const versionKey = (key: string) => ({ pk: `ver#${key}`, sk: 'version' });

/** BatchGetItem reads at most 100 keys per request. */
const BATCH_GET_LIMIT = 100;
const MISSING = '';

interface Entry {
  version: string;
  fetchedAt: number;
  /** Subscribers of the key, with the second their subscription item expires. */
  subscribers: { connectionId: string; expiresAt: number }[];
}

export interface RecipientCacheOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** An entry older than this is re-queried whatever its version says. */
  maxAgeMs?: number;
  /** Keys kept; the least recently used go first. */
  maxEntries?: number;
  now?: () => number;
  maxBatchAttempts?: number;
}

export interface RecipientLookup {
  /** Connection ids per device: subscribers of the device and of `*`, each once. */
  recipients: Map<string, string[]>;
  requests: number;
  readUnits: number;
  /** Keys re-queried because their version changed, their entry aged out, or they were not cached. */
  refreshed: number;
}

export const DEFAULT_RECIPIENT_CACHE_MAX_AGE_MS = 60_000;

export const createRecipientCache = ({
  doc,
  tableName,
  maxAgeMs = DEFAULT_RECIPIENT_CACHE_MAX_AGE_MS,
  maxEntries = 10_000,
  now = Date.now,
  maxBatchAttempts = 6,
}: RecipientCacheOptions) => {
  const entries = new Map<string, Entry>();
  const usage: StoreUsage = { requests: 0, readUnits: 0 };

  const remember = (key: string, entry: Entry) => {
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
  };

  /** The current version of each key, read strongly consistently (missing item: ''). */
  const readVersions = async (keys: string[], tally: StoreUsage) => {
    const versions = new Map<string, string>(keys.map((k) => [k, MISSING]));
    for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
      let pending: Record<string, unknown>[] = keys.slice(start, start + BATCH_GET_LIMIT).map(versionKey);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= maxBatchAttempts) throw new Error(`BatchGetItem left ${pending.length} version keys unprocessed after ${maxBatchAttempts} attempts`);
        if (attempt > 0) await sleep(backoffDelay(attempt, 25, 1000));
        tally.requests++;
        const out = await doc.send(
          new BatchGetCommand({
            RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true, ProjectionExpression: 'pk, v' } },
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        tally.readUnits += (out.ConsumedCapacity ?? []).reduce((n, c) => n + (c.CapacityUnits ?? 0), 0);
        for (const item of out.Responses?.[tableName] ?? []) versions.set(String(item.pk).slice('ver#'.length), String(item.v ?? MISSING));
        pending = (out.UnprocessedKeys?.[tableName]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return versions;
  };

  /** Every live subscriber of one key, read strongly consistently, every page. */
  const querySubscribers = async (key: string, tally: StoreUsage) => {
    const subscribers: Entry['subscribers'] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      tally.requests++;
      const out = await doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: 'expiresAt > :now',
          ProjectionExpression: 'sk, expiresAt',
          ExpressionAttributeValues: { ':pk': `dev#${key}`, ':now': Math.floor(now() / 1000) },
          ConsistentRead: true,
          ExclusiveStartKey,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      tally.readUnits += out.ConsumedCapacity?.CapacityUnits ?? 0;
      for (const item of out.Items ?? []) subscribers.push({ connectionId: item.sk as string, expiresAt: item.expiresAt as number });
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return subscribers;
  };

  /**
   * The recipients of each device in `deviceIds`. One BatchGetItem for the
   * versions (per 100 keys), then one Query per key whose cache entry is
   * missing, stale or aged out.
   */
  const lookup = async (deviceIds: readonly string[]): Promise<RecipientLookup> => {
    const tally: StoreUsage = { requests: 0, readUnits: 0 };
    const keys = [...new Set([...deviceIds, ALL_DEVICES])];
    const started = now();
    // The versions first, the Queries after: the order the invariant rests on.
    const versions = await readVersions(keys, tally);
    const current = new Map<string, Entry>();
    const stale: string[] = [];
    for (const key of keys) {
      const entry = entries.get(key);
      if (entry && entry.version === versions.get(key) && started - entry.fetchedAt < maxAgeMs) current.set(key, entry);
      else stale.push(key);
    }
    await Promise.all(
      stale.map(async (key) => {
        const entry: Entry = { version: versions.get(key)!, fetchedAt: started, subscribers: await querySubscribers(key, tally) };
        remember(key, entry);
        current.set(key, entry);
      }),
    );
    const nowSeconds = Math.floor(now() / 1000);
    const live = (key: string) => current.get(key)!.subscribers.filter((s) => s.expiresAt > nowSeconds).map((s) => s.connectionId);
    const everyDevice = live(ALL_DEVICES);
    const recipients = new Map<string, string[]>();
    for (const deviceId of new Set(deviceIds)) {
      recipients.set(deviceId, deviceId === ALL_DEVICES ? everyDevice : [...new Set([...live(deviceId), ...everyDevice])]);
    }
    usage.requests += tally.requests;
    usage.readUnits += tally.readUnits;
    return { recipients, requests: tally.requests, readUnits: tally.readUnits, refreshed: stale.length };
  };

  /**
   * The same as ConnectionStore.recipientPages, from the cache: one page with
   * every recipient of the device. The telemetry function uses it in place of
   * the store's two Queries.
   */
  async function* recipientPages(deviceId: string, { tally }: { pageSize?: number; tally?: StoreUsage } = {}): AsyncGenerator<string[]> {
    const out = await lookup([deviceId]);
    if (tally) {
      tally.requests += out.requests;
      tally.readUnits += out.readUnits;
    }
    const ids = out.recipients.get(deviceId) ?? [];
    if (ids.length > 0) yield ids;
  }

  return { lookup, recipientPages, usage, clear: () => entries.clear(), get size() { return entries.size; } };
};

export type RecipientCache = ReturnType<typeof createRecipientCache>;
