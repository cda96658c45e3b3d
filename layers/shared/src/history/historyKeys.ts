/**
 * Where a reading and a rollup bucket live in the HistoryTable (docs/decisions/008-rollups.md).
 *
 *   raw reading:   pk = deviceId,          sk = <time, 16 digits>#<reading id>
 *   rollup bucket: pk = deviceId#<level>,  sk = <bucket start, 16 digits>
 *
 * The reading id in the sort key keeps two readings with the same time apart, and makes a
 * redelivered reading (same id) land on itself. "#" cannot occur in a device id
 * (DEVICE_ID_PATTERN), so a rollup's partition never meets a device's.
 */
export const DAY_MS = 86_400_000;

// A device clock this far ahead of IoT Core's is not believed (README, "History").
export const FUTURE_TOLERANCE_MS = 5 * 60_000;

/**
 * The time a reading is stored and served at: its own `ts` when that is plausible, else its
 * `receivedAt` (IoT Core's clock). Implausible is more than 5 minutes ahead of receivedAt, or older
 * than the retention (it would expire at once, and a microsecond or nanosecond ts would otherwise
 * sit ahead of every later reading for good).
 */
export const storedTime = (reading: { ts: number; receivedAt: number }, retentionDays: number): number => {
  const { ts, receivedAt } = reading;
  if (!Number.isFinite(ts) || ts > receivedAt + FUTURE_TOLERANCE_MS || ts < receivedAt - retentionDays * DAY_MS) return receivedAt;
  return ts;
};

const TIME_DIGITS = 16;
export const timeKey = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(TIME_DIGITS, '0');
export const rawSortKey = (at: number, id: string): string => `${timeKey(at)}#${id}`;
/** The first and last sort key of raw readings with since ≤ time ≤ until. */
export const rawKeyRange = (since: number, until: number): [string, string] => [timeKey(since), `${timeKey(until)}#\uffff`];

export interface RollupLevel {
  name: '1m' | '10m' | '1h';
  ms: number;
}

/**
 * Three resolutions, each recomputed from the next finer one: a minute from its raw readings, ten
 * minutes from ten minute buckets, an hour from six ten-minute buckets. Three, not two: with only
 * minutes and hours a 7-day window reads 10,080 minute buckets (the hour level gives 168 points).
 */
export const ROLLUP_LEVELS: readonly RollupLevel[] = [
  { name: '1m', ms: 60_000 },
  { name: '10m', ms: 600_000 },
  { name: '1h', ms: 3_600_000 },
];

export const rollupPartition = (deviceId: string, level: RollupLevel): string => `${deviceId}#${level.name}`;
export const bucketStart = (at: number, level: RollupLevel): number => Math.floor(at / level.ms) * level.ms;
