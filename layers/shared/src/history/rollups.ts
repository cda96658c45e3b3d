/**
 * Rollup buckets: per numeric field min, max, sum, count and last, over a time bucket
 * (docs/decisions/008-rollups.md). A bucket is always recomputed from its whole source (a
 * minute from its raw readings, a coarser bucket from the finer buckets inside it), never
 * incremented, so a late, out-of-order or redelivered reading gives the same bucket as if
 * it had arrived in order once. Sources are folded in key order, so even the floating-point
 * sum does not depend on arrival order.
 *
 * Fields are kept in a Map: any field name works, `__proto__` and `constructor` included.
 */

export interface FieldStats {
  min: number;
  max: number;
  sum: number;
  count: number;
  last: number;
  /** The sort key of the reading `last` came from: the greatest wins. */
  lastKey: string;
}

export interface RollupBucket {
  start: number;
  ms: number;
  /** Readings in the bucket (with or without numeric fields). */
  count: number;
  fields: Map<string, FieldStats>;
}

/** A raw reading as a rollup sees it: its sort key (time#id) and its data. */
export interface RollupSource {
  key: string;
  data: Record<string, unknown>;
}

export const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

const mergeStats = (into: Map<string, FieldStats>, field: string, stats: FieldStats) => {
  const held = into.get(field);
  if (!held) {
    into.set(field, { ...stats });
    return;
  }
  held.min = Math.min(held.min, stats.min);
  held.max = Math.max(held.max, stats.max);
  held.sum += stats.sum;
  held.count += stats.count;
  if (stats.lastKey > held.lastKey) {
    held.last = stats.last;
    held.lastKey = stats.lastKey;
  }
};

/**
 * The bucket extended by readings whose keys all sort after every reading already in it: the same
 * fold, continued, so the result is bit for bit the bucket of all of them folded at once. The caller
 * checks the keys (docs/decisions/018-local-capacity.md); each key is counted once.
 */
export const appendReadings = (bucket: RollupBucket, readings: Iterable<RollupSource>): RollupBucket => {
  const unique = new Map<string, RollupSource>();
  for (const reading of readings) if (!unique.has(reading.key)) unique.set(reading.key, reading);
  const keys = [...unique.keys()].sort();
  const fields = new Map<string, FieldStats>();
  for (const [field, stats] of bucket.fields) fields.set(field, { ...stats });
  for (const key of keys) {
    for (const [field, value] of Object.entries(unique.get(key)!.data)) {
      if (isFiniteNumber(value)) mergeStats(fields, field, { min: value, max: value, sum: value, count: 1, last: value, lastKey: key });
    }
  }
  return { start: bucket.start, ms: bucket.ms, count: bucket.count + keys.length, fields };
};

/** The bucket of these readings: sorted by key, each key counted once. */
export const foldReadings = (start: number, ms: number, readings: Iterable<RollupSource>): RollupBucket =>
  appendReadings({ start, ms, count: 0, fields: new Map() }, readings);

/** The bucket [start, start + ms) made of finer buckets inside it: sorted by start, each start counted once. */
export const mergeBuckets = (start: number, ms: number, buckets: Iterable<RollupBucket>): RollupBucket => {
  const unique = new Map<number, RollupBucket>();
  for (const bucket of buckets) if (!unique.has(bucket.start)) unique.set(bucket.start, bucket);
  const fields = new Map<string, FieldStats>();
  let count = 0;
  for (const s of [...unique.keys()].sort((a, b) => a - b)) {
    const bucket = unique.get(s)!;
    count += bucket.count;
    for (const [field, stats] of bucket.fields) mergeStats(fields, field, stats);
  }
  return { start, ms, count, fields };
};

type StoredField = [string, number, number, number, number, number] | [string, number, number, number, number, number, string];

/**
 * The bucket's fields as stored, small because a window's read units are its items' bytes: a JSON
 * array [lastKey, [[name, min, max, sum, count, last(, lastKey)], ...]], where a field's own lastKey
 * is written only when it is not the bucket's (a field missing from the bucket's last reading).
 */
export const encodeFields = (fields: Map<string, FieldStats>): string => {
  let lastKey = '';
  for (const s of fields.values()) if (s.lastKey > lastKey) lastKey = s.lastKey;
  const list = [...fields].map(([name, s]): StoredField => (s.lastKey === lastKey ? [name, s.min, s.max, s.sum, s.count, s.last] : [name, s.min, s.max, s.sum, s.count, s.last, s.lastKey]));
  return JSON.stringify([lastKey, list]);
};

export const decodeFields = (text: unknown): Map<string, FieldStats> => {
  const fields = new Map<string, FieldStats>();
  if (typeof text !== 'string') return fields;
  const [lastKey, list] = JSON.parse(text) as [string, StoredField[]];
  for (const [name, min, max, sum, count, last, own] of list) fields.set(name, { min, max, sum, count, last, lastKey: own ?? lastKey });
  return fields;
};

/** A bucket as a history point: last values in `data`, and min, max, mean per field, and the reading count. */
export interface RollupPoint {
  ts: number;
  data: Record<string, number>;
  min: Record<string, number>;
  max: Record<string, number>;
  mean: Record<string, number>;
  count: number;
}

const record = () => Object.create(null) as Record<string, number>;

export const rollupPoint = (bucket: RollupBucket): RollupPoint => {
  const point: RollupPoint = { ts: bucket.start, data: record(), min: record(), max: record(), mean: record(), count: bucket.count };
  for (const [field, s] of bucket.fields) {
    point.data[field] = s.last;
    point.min[field] = s.min;
    point.max[field] = s.max;
    point.mean[field] = s.sum / s.count;
  }
  return point;
};
