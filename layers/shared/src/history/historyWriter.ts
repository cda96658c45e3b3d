/**
 * Writes readings to the HistoryTable and recomputes their rollup buckets (docs/decisions/008-rollups.md).
 *
 * The telemetry function (one reading) and the batch function (a batch) call it once their fan-out is
 * done. Per call: the raw readings in BatchWriteItem requests, then each touched device-minute, each
 * touched ten minutes from its minute buckets, each touched hour from its ten-minute buckets, however
 * many readings of that bucket the call carried.
 *
 * A minute bucket is read first (one GetItem), unless this writer wrote it last: the bucket it wrote
 * (count, fields, highest key, version) is kept, a bounded number of them, and stands in for the read.
 * When the call's readings all sort after every reading in it (the usual case: a device's readings
 * arrive in order), they are folded onto it; otherwise (a late or redelivered reading) it is recomputed
 * from its raw readings (one Query). Either way the PutItem is conditional on the version it read or
 * kept (`v`), so a kept bucket that another writer has moved on fails the condition, and the writer
 * reads it again, as a writer that lost always does. Recomputing it for every reading cost a Query of
 * every reading so far in that minute (docs/decisions/018-local-capacity.md); reading it before every
 * write cost a request per device and batch (docs/decisions/019-local-fleet-capacity-coalesced.md).
 *
 * Coarser buckets: one Query and one conditional PutItem each. Their sources only ever grow, so the
 * recompute that saw more readings is the newer one: the PutItem keeps the bucket with the larger
 * count (`n <= :n`), and a writer whose recompute lost leaves the coarser levels to the one that won.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { TelemetryFrame } from '../protocol/frames.js';
import { backoffDelay, sleep } from '../runtime/retry.js';
import { BATCH_WRITE_LIMIT, sendInBatches } from '../store/batches.js';
import { DAY_MS, ROLLUP_LEVELS, type RollupLevel, bucketStart, rawKeyRange, rawSortKey, rollupPartition, storedTime, timeKey } from './historyKeys.js';
import { type RollupBucket, type RollupSource, appendReadings, decodeFields, encodeFields, foldReadings, mergeBuckets } from './rollups.js';

export interface HistoryUsage {
  requests: number;
  readUnits: number;
  writeUnits: number;
}

export interface HistoryWriteOutcome {
  readings: number;
  buckets: number;
  /** Buckets another writer had already written from more readings. */
  superseded: number;
}

export interface HistoryWriter {
  record(readings: readonly TelemetryFrame[]): Promise<HistoryWriteOutcome>;
  readonly usage: HistoryUsage;
}

export interface HistoryWriterOptions {
  /** A client that accepts imprecise numbers (device data is stored as sent). */
  doc: DynamoDBDocumentClient;
  tableName: string;
  retentionDays: number;
  /** Devices recomputed at once. */
  concurrency?: number;
  maxBatchAttempts?: number;
  /** Reads and conditional writes of one minute bucket before the call gives up (another writer won each time). */
  maxBucketAttempts?: number;
  /** Minute buckets this writer wrote last, kept to stand in for their GetItem (0: always read). */
  keptMinutes?: number;
}

/** What a minute bucket's GetItem returns (its projection), kept by the writer that wrote it. */
type HeldMinute = {
  n: number;
  f: unknown;
  hk: string;
  v: string;
};

/** The raw item of one reading. */
export const rawHistoryItem = (reading: TelemetryFrame, retentionDays: number): Record<string, unknown> => {
  const at = storedTime(reading, retentionDays);
  return {
    pk: reading.deviceId,
    sk: rawSortKey(at, reading.id),
    at,
    id: reading.id,
    receivedAt: reading.receivedAt,
    // The device's own ts, when it is not the time the reading is stored at (as text: it may be any number).
    ...(at === reading.ts ? {} : { deviceTs: String(reading.ts) }),
    // The data as JSON text: any field name and any number survive the round trip (a map would lose
    // `__proto__` on read, and an integer past 2^53 would fail the read).
    d: JSON.stringify(reading.data),
    expiresAt: Math.floor(reading.receivedAt / 1000) + retentionDays * 86_400,
  };
};

const failedCondition = (error: unknown) => error instanceof ConditionalCheckFailedException || (error as Error)?.name === 'ConditionalCheckFailedException';

export const createHistoryWriter = ({ doc, tableName, retentionDays, concurrency = 8, maxBatchAttempts = 6, maxBucketAttempts = 20, keptMinutes = 2_000 }: HistoryWriterOptions): HistoryWriter => {
  const usage: HistoryUsage = { requests: 0, readUnits: 0, writeUnits: 0 };
  const count = (units: { CapacityUnits?: number }[] | { CapacityUnits?: number } | undefined, kind: 'readUnits' | 'writeUnits') => {
    usage.requests++;
    for (const c of [units ?? []].flat()) usage[kind] += c.CapacityUnits ?? 0;
  };

  const writeRaw = (items: Record<string, unknown>[]) =>
    sendInBatches(items, { limit: BATCH_WRITE_LIMIT, maxAttempts: maxBatchAttempts, what: 'BatchWriteItem of readings' }, async (batch) => {
      const out = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: batch.map((Item) => ({ PutRequest: { Item } })) }, ReturnConsumedCapacity: 'TOTAL' }));
      count(out.ConsumedCapacity, 'writeUnits');
      return (out.UnprocessedItems?.[tableName] ?? []).map((request) => request.PutRequest!.Item as Record<string, unknown>);
    });

  /** Every item of a key range, strongly consistent: a recompute must see the write that triggered it. */
  const queryAll = async (pk: string, from: string, to: string, projection: string[]) => {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': from, ':to': to },
          ProjectionExpression: projection.map((_, i) => `#p${i}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries(projection.map((name, i) => [`#p${i}`, name])),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      count(out.ConsumedCapacity, 'readUnits');
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  };

  const bucketItem = (deviceId: string, level: RollupLevel, bucket: RollupBucket) => ({
    pk: rollupPartition(deviceId, level),
    sk: timeKey(bucket.start),
    start: bucket.start,
    n: bucket.count,
    f: encodeFields(bucket.fields),
    expiresAt: Math.floor((bucket.start + level.ms) / 1000) + retentionDays * 86_400,
  });

  /** Puts the bucket on this condition; true when it was written. */
  const putIf = async (Item: Record<string, unknown>, ConditionExpression: string, values?: Record<string, unknown>) => {
    try {
      const out = await doc.send(
        new PutCommand({
          TableName: tableName,
          Item,
          ConditionExpression,
          ...(ConditionExpression.includes('#n') ? { ExpressionAttributeNames: { '#n': 'n' } } : {}),
          ...(values ? { ExpressionAttributeValues: values } : {}),
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      count(out.ConsumedCapacity, 'writeUnits');
      return true;
    } catch (error) {
      if (failedCondition(error)) {
        count({ CapacityUnits: 1 }, 'writeUnits'); // a failed condition is billed as a write
        return false;
      }
      throw error;
    }
  };

  const MINUTE = ROLLUP_LEVELS[0]!;
  // Insertion order is write order: the oldest written goes first when the bound is reached.
  const kept = new Map<string, HeldMinute>();
  const keep = (id: string, minute: HeldMinute) => {
    if (keptMinutes <= 0) return;
    kept.delete(id);
    kept.set(id, minute);
    if (kept.size > keptMinutes) kept.delete(kept.keys().next().value!);
  };
  const highestKey = (keys: Iterable<string>) => {
    let highest = '';
    for (const key of keys) if (key > highest) highest = key;
    return highest;
  };

  /**
   * The minute bucket with these readings in it, written on the version read (`v`, a fresh one per
   * write; a bucket written before versions existed is matched on its count). `hk` is the highest key
   * folded into it, readings without numeric fields included.
   */
  const updateMinute = async (deviceId: string, start: number, sources: RollupSource[]): Promise<RollupBucket | undefined> => {
    const key = { pk: rollupPartition(deviceId, MINUTE), sk: timeKey(start) };
    const newest = highestKey(sources.map((s) => s.key));
    const lowest = sources.reduce((low, s) => (s.key < low ? s.key : low), newest);
    const keptKey = `${key.pk}\n${key.sk}`;
    for (let attempt = 0; ; attempt++) {
      if (attempt >= maxBucketAttempts) throw new Error(`minute bucket ${key.pk} ${key.sk} changed under ${maxBucketAttempts} writes in a row`);
      if (attempt > 0) await sleep(backoffDelay(attempt, 5, 250));
      // The bucket this writer wrote last, on the first attempt only: a failed condition means another writer moved it.
      let held: Record<string, unknown> | undefined = attempt === 0 ? kept.get(keptKey) : undefined;
      kept.delete(keptKey);
      if (!held) {
        const read = await doc.send(
          new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true, ProjectionExpression: '#n, f, hk, v', ExpressionAttributeNames: { '#n': 'n' }, ReturnConsumedCapacity: 'TOTAL' }),
        );
        count(read.ConsumedCapacity, 'readUnits');
        held = read.Item;
      }
      let bucket: RollupBucket;
      let hk: string;
      if (held && typeof held.v === 'string' && typeof held.hk === 'string' && typeof held.n === 'number' && lowest > held.hk) {
        // Every reading of the call sorts after the bucket's: the fold continues where it stopped.
        bucket = appendReadings({ start, ms: MINUTE.ms, count: held.n, fields: decodeFields(held.f) }, sources);
        hk = newest;
      } else {
        // No bucket yet, or a late or redelivered reading: the whole minute again, from its raw readings.
        const [from, to] = rawKeyRange(start, start + MINUTE.ms - 1);
        const items = await queryAll(deviceId, from, to, ['sk', 'd']);
        bucket = foldReadings(start, MINUTE.ms, items.map((item) => ({ key: item.sk as string, data: JSON.parse(item.d as string) as Record<string, unknown> })));
        hk = highestKey(items.map((item) => item.sk as string));
      }
      if (bucket.count === 0) return undefined;
      const item = { ...bucketItem(deviceId, MINUTE, bucket), hk, v: randomUUID() };
      const written = !held
        ? await putIf(item, 'attribute_not_exists(pk)')
        : typeof held.v === 'string'
          ? await putIf(item, 'v = :v', { ':v': held.v })
          : await putIf(item, 'attribute_not_exists(v) AND #n = :n', { ':n': held.n });
      if (written) {
        keep(keptKey, { n: item.n, f: item.f, hk, v: item.v });
        return bucket;
      }
    }
  };

  /** A coarser bucket from the finer buckets inside it. */
  const recompute = async (deviceId: string, level: RollupLevel, start: number): Promise<RollupBucket> => {
    const end = start + level.ms - 1;
    const finer = ROLLUP_LEVELS[ROLLUP_LEVELS.indexOf(level) - 1]!;
    const items = await queryAll(rollupPartition(deviceId, finer), timeKey(start), timeKey(end), ['start', 'n', 'f']);
    return mergeBuckets(
      start,
      level.ms,
      items.map((item) => ({ start: item.start as number, ms: finer.ms, count: item.n as number, fields: decodeFields(item.f) })),
    );
  };

  /** A minute bucket's update, then its ten minutes and its hour: the buckets written. */
  const rollUpMinute = async (deviceId: string, start: number, sources: RollupSource[]) => {
    const outcome = { buckets: 0, superseded: 0 };
    if (!(await updateMinute(deviceId, start, sources))) return outcome;
    outcome.buckets++;
    for (const level of ROLLUP_LEVELS.slice(1)) {
      const bucket = await recompute(deviceId, level, bucketStart(start, level));
      if (bucket.count === 0) break;
      if (!(await putIf(bucketItem(deviceId, level, bucket), 'attribute_not_exists(pk) OR #n <= :n', { ':n': bucket.count }))) {
        outcome.superseded++;
        break;
      }
      outcome.buckets++;
    }
    return outcome;
  };

  /**
   * One update of a device-minute at a time in this container: readings that come while one runs wait
   * and go together in the next, each caller awaiting the update that holds its readings. On AWS a
   * container runs one invocation at a time; locally every invocation of a function shares one thread.
   */
  type Turn = { sources: RollupSource[]; done: Promise<{ buckets: number; superseded: number }> };
  const waiting = new Map<string, Turn>();
  const running = new Map<string, Promise<unknown>>();
  const rollUpInTurn = (deviceId: string, start: number, sources: RollupSource[]) => {
    const id = `${deviceId}\n${start}`;
    const queued = waiting.get(id);
    if (queued) {
      queued.sources.push(...sources);
      return queued.done;
    }
    const previous = running.get(id) ?? Promise.resolve();
    const turn: Turn = { sources: [...sources], done: undefined as never };
    turn.done = previous.then(() => {
      waiting.delete(id);
      return rollUpMinute(deviceId, start, turn.sources);
    });
    waiting.set(id, turn);
    const settled: Promise<unknown> = turn.done.then(
      () => running.get(id) === settled && running.delete(id),
      () => running.get(id) === settled && running.delete(id),
    );
    running.set(id, settled);
    return turn.done;
  };

  /** Updates the touched buckets of one device, minute by minute. */
  const rollUp = async (deviceId: string, sources: { at: number; source: RollupSource }[], outcome: HistoryWriteOutcome) => {
    const byMinute = new Map<number, RollupSource[]>();
    for (const { at, source } of sources) {
      const start = bucketStart(at, MINUTE);
      byMinute.set(start, [...(byMinute.get(start) ?? []), source]);
    }
    for (const [start, minuteSources] of [...byMinute].sort((a, b) => a[0] - b[0])) {
      const done = await rollUpInTurn(deviceId, start, minuteSources);
      outcome.buckets += done.buckets;
      outcome.superseded += done.superseded;
    }
  };

  return {
    usage,
    async record(readings) {
      const outcome: HistoryWriteOutcome = { readings: 0, buckets: 0, superseded: 0 };
      // One item per key: a batch may carry a reading twice (SQS delivers at least once), and BatchWriteItem refuses duplicate keys.
      const items = new Map<string, Record<string, unknown>>();
      for (const reading of readings) {
        const item = rawHistoryItem(reading, retentionDays);
        items.set(`${item.pk as string}\n${item.sk as string}`, item);
      }
      await writeRaw([...items.values()]);
      outcome.readings = items.size;
      const byDevice = new Map<string, { at: number; source: RollupSource }[]>();
      for (const item of items.values()) {
        const list = byDevice.get(item.pk as string) ?? [];
        // Parsed from the stored text, as a recompute from the table would see it.
        list.push({ at: item.at as number, source: { key: item.sk as string, data: JSON.parse(item.d as string) as Record<string, unknown> } });
        byDevice.set(item.pk as string, list);
      }
      const queue = [...byDevice];
      const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await rollUp(next[0], next[1], outcome);
      });
      await Promise.all(workers);
      return outcome;
    },
  };
};

