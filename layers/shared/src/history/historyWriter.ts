/**
 * Writes readings to the HistoryTable and recomputes their rollup buckets (docs/decisions/008-rollups.md).
 *
 * The telemetry function (one reading) and the batch function (a batch) call it once their fan-out is
 * done. Per call: the raw readings in BatchWriteItem requests, then each touched device-minute is
 * recomputed from its raw readings, each touched ten minutes from its minute buckets, each touched
 * hour from its ten-minute buckets: one Query and one conditional PutItem per bucket, however many
 * readings of that bucket the call carried.
 *
 * Two writers recomputing the same bucket at once: sources only ever grow, so the recompute that
 * saw more readings is the newer one. The PutItem keeps the bucket with the larger count
 * (`n <= :n`); a writer whose recompute lost leaves the coarser levels to the one that won.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { TelemetryFrame } from '../protocol/frames.js';
import { BATCH_WRITE_LIMIT, sendInBatches } from '../store/batches.js';
import { DAY_MS, ROLLUP_LEVELS, type RollupLevel, bucketStart, rawKeyRange, rawSortKey, rollupPartition, storedTime, timeKey } from './historyKeys.js';
import { type RollupBucket, type RollupSource, decodeFields, encodeFields, foldReadings, mergeBuckets } from './rollups.js';

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
}

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

export const createHistoryWriter = ({ doc, tableName, retentionDays, concurrency = 8, maxBatchAttempts = 6 }: HistoryWriterOptions): HistoryWriter => {
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

  /** Puts the bucket unless one made from more readings is there; true when it was written. */
  const putBucket = async (deviceId: string, level: RollupLevel, bucket: RollupBucket) => {
    try {
      const out = await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            pk: rollupPartition(deviceId, level),
            sk: timeKey(bucket.start),
            start: bucket.start,
            n: bucket.count,
            f: encodeFields(bucket.fields),
            expiresAt: Math.floor((bucket.start + level.ms) / 1000) + retentionDays * 86_400,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR n <= :n',
          ExpressionAttributeValues: { ':n': bucket.count },
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

  const recompute = async (deviceId: string, level: RollupLevel, start: number): Promise<RollupBucket> => {
    const end = start + level.ms - 1;
    if (level === ROLLUP_LEVELS[0]) {
      const [from, to] = rawKeyRange(start, end);
      const items = await queryAll(deviceId, from, to, ['sk', 'd']);
      const sources: RollupSource[] = items.map((item) => ({ key: item.sk as string, data: JSON.parse(item.d as string) as Record<string, unknown> }));
      return foldReadings(start, level.ms, sources);
    }
    const finer = ROLLUP_LEVELS[ROLLUP_LEVELS.indexOf(level) - 1]!;
    const items = await queryAll(rollupPartition(deviceId, finer), timeKey(start), timeKey(end), ['start', 'n', 'f']);
    return mergeBuckets(
      start,
      level.ms,
      items.map((item) => ({ start: item.start as number, ms: finer.ms, count: item.n as number, fields: decodeFields(item.f) })),
    );
  };

  /** Recomputes the touched buckets of one device, finest level first. */
  const rollUp = async (deviceId: string, times: number[], outcome: HistoryWriteOutcome) => {
    let starts = [...new Set(times.map((t) => bucketStart(t, ROLLUP_LEVELS[0]!)))].sort((a, b) => a - b);
    for (let i = 0; i < ROLLUP_LEVELS.length && starts.length > 0; i++) {
      const level = ROLLUP_LEVELS[i]!;
      const next = ROLLUP_LEVELS[i + 1];
      const written: number[] = [];
      for (const start of starts) {
        const bucket = await recompute(deviceId, level, start);
        if (bucket.count === 0) continue;
        if (await putBucket(deviceId, level, bucket)) {
          outcome.buckets++;
          written.push(start);
        } else {
          outcome.superseded++;
        }
      }
      starts = next ? [...new Set(written.map((s) => bucketStart(s, next)))] : [];
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
      const byDevice = new Map<string, number[]>();
      for (const item of items.values()) {
        const list = byDevice.get(item.pk as string) ?? [];
        list.push(item.at as number);
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

