/**
 * Recipients of a device's readings, cached across warm invocations without
 * ever delivering to a connection after its `unsubscribe` or `$disconnect`
 * has been answered.
 *
 * Every write to a subscription partition (`dev#{key}`: subscribe,
 * unsubscribe, $connect, $disconnect, a 410 clean-up) is followed by a new,
 * never-repeated value in that key's version item (`ver#{key}`), and only
 * then, in a second write, a new value of the table-wide version item
 * (`ver`), and only then does the route answer (connectionStore.ts). A lookup
 * reads the table-wide version (one strongly consistent GetItem, one read
 * unit). Entries confirmed under that same value are current. Otherwise it
 * reads the version items of the keys it needs (the devices' and `*`'s) in one
 * strongly consistent BatchGetItem, and re-queries, strongly consistently,
 * only the keys whose version differs from the one their entry was filled under.
 *
 * The invariant, exactly: a lookup that starts after an unsubscribe (or
 * $disconnect) was answered never returns that connection. Proof: the answer
 * comes after the subscription's delete, then the key's new version v', then
 * the new table-wide value g'. The lookup's reads are consistent and in the
 * reverse order. It sees g' (or later). An entry confirmed under g' (or later)
 * was confirmed by a key-version read made after reading that value, so after
 * v' was written: that read saw v' (or later), and an entry holding v' was
 * filled by a Query made after reading v', so after the delete. An entry
 * confirmed under an older table-wide value is checked against its key's
 * version, which has moved, and re-queried. A reading already being delivered
 * when the answer goes out may still arrive, as it could without any cache
 * (that post was in flight).
 *
 * Version values are unique (time + random), so a value never comes back
 * (no ABA). Version items expire with the table's TTL like every other item,
 * 2 h 10 min after the last write; entries older than `maxAgeMs` (60 s) are
 * re-queried anyway, so an entry can never outlive the version it was filled
 * under. The same bound limits the damage of a version write that failed
 * (the route then answered an error, not `unsubscribed`).
 *
 * Cost: one request and one read unit per lookup while nobody subscribes or
 * leaves (instead of two Queries, at least one unit), whatever the number of
 * devices: a coalesced batch looks up all of its devices with it. After a
 * change: one BatchGetItem per 100 keys (a unit each) and a Query per moved
 * key. The table-wide item is read once per lookup: DynamoDB serves 3,000
 * strongly consistent reads a second from one item, the ceiling of this
 * design (direct mode at more than 3,000 readings a second: use coalesced).
 */
import { BatchGetCommand, type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { RecipientOptions, StoreUsage } from '../store/connectionStore.js';
import { ALL_DEVICES } from '../protocol/frames.js';
import { BATCH_GET_LIMIT, sendInBatches } from '../store/batches.js';
import { GLOBAL_VERSION_KEY, keyOfVersion, versionKey } from '../store/keys.js';
import { subscriberPages } from '../store/subscribers.js';

const MISSING = '';

interface Entry {
  version: string;
  /** The table-wide version under which `version` was last confirmed. */
  confirmedUnder: string;
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
  /** The live subscribers of each key read (the devices' and `*`), in the Query's order (ascending connection id). */
  partitions?: Map<string, string[]>;
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
  /** The table-wide version the last lookup read: the alarm evaluator's freshness check (alarms/alarmEvaluator.ts). */
  let lastGlobal: string | undefined;

  const remember = (key: string, entry: Entry) => {
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
  };

  /**
   * The table-wide version read that lookups starting now will share: it is sent once the event loop's current
   * turn is over, so every lookup that joins it started before it was sent. Its answer is then at least as new as
   * each of them needs (the invariant above asks only that the read come after the lookup started). A lookup that
   * starts after it was sent waits for the next one. Locally, where one thread serves every invocation of a
   * function, the invocations that arrive together share a read (docs/decisions/019-local-fleet-capacity-coalesced.md);
   * a container on AWS runs one invocation at a time, and its lookup reads alone as before.
   */
  let unsent: Promise<{ version: string; readUnits: number }> | undefined;

  /** The table-wide version, read strongly consistently (missing item: ''); one request however many lookups share it. */
  const readGlobalVersion = async (tally: StoreUsage) => {
    let read = unsent;
    const first = !read;
    if (!read) {
      read = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        // From here on, a lookup that starts waits for the next read: this one is being sent.
        unsent = undefined;
        const out = await doc.send(new GetCommand({ TableName: tableName, Key: GLOBAL_VERSION_KEY, ConsistentRead: true, ProjectionExpression: 'v', ReturnConsumedCapacity: 'TOTAL' }));
        return { version: String(out.Item?.v ?? MISSING), readUnits: out.ConsumedCapacity?.CapacityUnits ?? 0 };
      });
      unsent = read;
    }
    const { version, readUnits } = await read;
    if (first) {
      tally.requests++;
      tally.readUnits += readUnits;
    }
    return version;
  };

  /** The current version of each key, read strongly consistently (missing item: ''). */
  const readVersions = async (keys: string[], tally: StoreUsage) => {
    const versions = new Map<string, string>(keys.map((k) => [k, MISSING]));
    await sendInBatches(keys.map(versionKey), { limit: BATCH_GET_LIMIT, maxAttempts: maxBatchAttempts, what: 'BatchGetItem (version keys)' }, async (pending) => {
      tally.requests++;
      const out = await doc.send(
        new BatchGetCommand({
          RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true, ProjectionExpression: 'pk, v' } },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      tally.readUnits += (out.ConsumedCapacity ?? []).reduce((n, c) => n + (c.CapacityUnits ?? 0), 0);
      for (const item of out.Responses?.[tableName] ?? []) versions.set(keyOfVersion(String(item.pk)), String(item.v ?? MISSING));
      return (out.UnprocessedKeys?.[tableName]?.Keys ?? []) as ReturnType<typeof versionKey>[];
    });
    return versions;
  };

  /** Every live subscriber of one key, read strongly consistently, every page. */
  const querySubscribers = async (key: string, tally: StoreUsage) => {
    const subscribers: Entry['subscribers'] = [];
    // Strongly consistent: a version just read must not be paired with an older list.
    for await (const page of subscriberPages({ doc, tableName, key, consistentRead: true, tallies: [tally] })) subscribers.push(...page);
    return subscribers;
  };

  /**
   * The recipients of each device in `deviceIds`. One BatchGetItem for the
   * versions (per 100 keys), then one Query per key whose cache entry is
   * missing, stale or aged out.
   */
  const lookup = async (deviceIds: readonly string[], expired?: (connectionIds: string[]) => void): Promise<RecipientLookup> => {
    const tally: StoreUsage = { requests: 0, readUnits: 0 };
    const keys = [...new Set([...deviceIds, ALL_DEVICES])];
    const started = now();
    // The table-wide version, then the keys' versions, then the Queries: the order the invariant rests on.
    const global = await readGlobalVersion(tally);
    lastGlobal = global;
    const current = new Map<string, Entry>();
    const unconfirmed: string[] = [];
    for (const key of keys) {
      const entry = entries.get(key);
      if (entry && started - entry.fetchedAt < maxAgeMs && entry.confirmedUnder === global) current.set(key, entry);
      else unconfirmed.push(key);
    }
    const stale: string[] = [];
    if (unconfirmed.length > 0) {
      const versions = await readVersions(unconfirmed, tally);
      for (const key of unconfirmed) {
        const entry = entries.get(key);
        if (entry && started - entry.fetchedAt < maxAgeMs && entry.version === versions.get(key)) {
          entry.confirmedUnder = global;
          current.set(key, entry);
        } else stale.push(key);
      }
      await Promise.all(
        stale.map(async (key) => {
          const entry: Entry = { version: versions.get(key)!, confirmedUnder: global, fetchedAt: started, subscribers: await querySubscribers(key, tally) };
          remember(key, entry);
          current.set(key, entry);
        }),
      );
    }
    const nowSeconds = Math.floor(now() / 1000);
    // A subscription item's expiresAt is the connection's TTL capped at its token's exp. A cached copy is at most
    // maxAgeMs old, and a heartbeat only moves the TTL further out (2 h 10 min, past API Gateway's 2 h connection
    // limit), so an entry can show a live connection as expired only if it would be past its 2 h anyway.
    const past = new Set<string>();
    const partitions = new Map<string, string[]>();
    const live = (key: string) => {
      let ids = partitions.get(key);
      if (!ids) {
        ids = current.get(key)!.subscribers.flatMap((s) => {
          if (s.expiresAt > nowSeconds) return [s.connectionId];
          past.add(s.connectionId);
          return [];
        });
        partitions.set(key, ids);
      }
      return ids;
    };
    const everyDevice = live(ALL_DEVICES);
    const recipients = new Map<string, string[]>();
    for (const deviceId of new Set(deviceIds)) {
      recipients.set(deviceId, deviceId === ALL_DEVICES ? everyDevice : [...new Set([...live(deviceId), ...everyDevice])]);
    }
    if (past.size > 0) expired?.([...past]);
    usage.requests += tally.requests;
    usage.readUnits += tally.readUnits;
    return { recipients, partitions, requests: tally.requests, readUnits: tally.readUnits, refreshed: stale.length };
  };

  /**
   * The same as ConnectionStore.recipientPages, from the cache, in the store's
   * order: the device partition's live subscribers (ascending connection id,
   * as the Query returns them; `onPage(deviceId)`), then the `*` partition's
   * (ascending, skipping ids already yielded; `onPage('*')`). The telemetry
   * function uses it in place of the store's two Queries for a fan-out's first
   * invocation; a position handed on (`from`) is resumed from the table by
   * the store, so the cache refuses one.
   */
  async function* recipientPages(
    deviceId: string,
    { tally, expired, wildcard = true, from, onPage }: Pick<RecipientOptions, 'pageSize' | 'tally' | 'expired' | 'wildcard' | 'from' | 'onPage'> = {},
  ): AsyncGenerator<string[]> {
    if (from) throw new Error(`the recipient cache cannot resume a lookup of ${deviceId} from a position (partition ${from.key}); resume it with ConnectionStore.recipientPages`);
    const out = await lookup([deviceId], expired);
    if (tally) {
      tally.requests += out.requests;
      tally.readUnits += out.readUnits;
    }
    const keys = deviceId === ALL_DEVICES || !wildcard ? [deviceId] : [deviceId, ALL_DEVICES];
    const seen = new Set<string>();
    for (const key of keys) {
      const page = (out.partitions?.get(key) ?? []).filter((id) => !seen.has(id));
      for (const id of page) seen.add(id);
      if (page.length > 0) {
        onPage?.(key);
        yield page;
      }
    }
  }

  return { lookup, recipientPages, usage, clear: () => entries.clear(), get size() { return entries.size; }, get globalVersion() { return lastGlobal; } };
};

export type RecipientCache = ReturnType<typeof createRecipientCache>;
