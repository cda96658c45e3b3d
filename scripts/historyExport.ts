/**
 * One device's history in a time window as CSV, streamed: the core of `npm run export`
 * (scripts/export.ts) and of its bench. Raw readings when the window holds at most
 * `maxRawReadings` (100,000) of them; past that, rollup rows at the finest level that gives at
 * most that many rows, with min, max, mean, last and count per numeric field. The first
 * column, `resolution`, says which (`raw`, or the level: `1m`, `10m`, `1h`).
 *
 * Memory stays flat: one DynamoDB page (1 MB at most) at a time, and the writer waits for the
 * output to drain.
 */
import { type HistoryStore, ROLLUP_LEVELS, type RollupBucket, type RollupLevel, isFiniteNumber, rollupPoint } from '@serverless-iot-dashboard/shared';

export const MAX_RAW_READINGS = 100_000;

export interface ExportOptions {
  history: HistoryStore;
  deviceId: string;
  since: number;
  until: number;
  /** Writes one chunk; resolves when the output can take more (backpressure). */
  write: (chunk: string) => Promise<void>;
  progress?: (line: string) => void;
  maxRawReadings?: number;
}

export interface ExportOutcome {
  resolution: 'raw' | RollupLevel['name'];
  rows: number;
  /** Readings in the window, as the hour and minute buckets count them. */
  readings: number;
}

/** RFC 4180: a field with a comma, a quote or a line break is quoted, quotes doubled. */
export const csvField = (value: unknown): string => {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};
const csvLine = (fields: unknown[]) => `${fields.map(csvField).join(',')}\r\n`;

const FIXED_COLUMNS = new Set(['resolution', 'time', 'ts', 'id', 'count', 'other']);
/** A field's column: its name, or `data.<name>` when that is one of the fixed columns (a device may send `time`). */
const column = (name: string) => (FIXED_COLUMNS.has(name) || name.startsWith('data.') ? `data.${name}` : name);

/** Readings in [since, until] (whole hours from the hour buckets, the edges from minute buckets), and their numeric fields. */
export const countReadings = async (history: HistoryStore, deviceId: string, since: number, until: number): Promise<{ count: number; fields: Set<string> }> => {
  const [minute, , hour] = ROLLUP_LEVELS as [RollupLevel, RollupLevel, RollupLevel];
  let count = 0;
  const fields = new Set<string>();
  const add = (buckets: RollupBucket[], from: number) => {
    for (const b of buckets) {
      if (b.start < from) continue;
      count += b.count;
      for (const name of b.fields.keys()) fields.add(name);
    }
  };
  const firstWholeHour = Math.ceil(since / hour.ms) * hour.ms;
  const endWholeHours = Math.floor((until + 1) / hour.ms) * hour.ms; // exclusive
  if (endWholeHours > firstWholeHour) {
    for await (const page of history.buckets(deviceId, hour, firstWholeHour, endWholeHours - 1)) add(page, firstWholeHour);
    const edges: [number, number][] = [
      [since, firstWholeHour - 1],
      [endWholeHours, until],
    ];
    for (const [from, to] of edges) {
      if (to < from) continue;
      for await (const page of history.buckets(deviceId, minute, from, to)) add(page, bucketFloor(from, minute));
    }
  } else {
    for await (const page of history.buckets(deviceId, minute, since, until)) add(page, 0);
  }
  return { count, fields };
};
const bucketFloor = (t: number, level: RollupLevel) => Math.floor(t / level.ms) * level.ms;

export const exportHistory = async ({ history, deviceId, since, until, write, progress = () => {}, maxRawReadings = MAX_RAW_READINGS }: ExportOptions): Promise<ExportOutcome> => {
  const { count: readings, fields } = await countReadings(history, deviceId, since, until);
  const window = `${new Date(since).toISOString()} to ${new Date(until).toISOString()}`;
  const every = 10_000;
  let rows = 0;
  const tick = (what: string) => {
    if (++rows % every === 0) progress(`${rows.toLocaleString('en-US')} ${what} of about ${readings.toLocaleString('en-US')}`);
  };

  if (readings <= maxRawReadings) {
    progress(`${deviceId}, ${window}: about ${readings.toLocaleString('en-US')} readings, exporting them raw`);
    // Columns: the first page's fields; a field first seen later goes in `other` (JSON), so the header can come first.
    let columns: string[] | undefined;
    for await (const page of history.raw(deviceId, since, until)) {
      if (!columns) {
        const names = new Set<string>();
        for (const point of page) for (const name of Object.keys(point.data)) names.add(name);
        columns = [...names];
        await write(csvLine(['resolution', 'time', 'ts', 'id', ...columns.map(column), 'other']));
      }
      let chunk = '';
      for (const point of page) {
        const other: Record<string, unknown> = {};
        let hasOther = false;
        for (const [name, value] of Object.entries(point.data)) {
          if (!columns.includes(name)) {
            Object.defineProperty(other, name, { value, enumerable: true });
            hasOther = true;
          }
        }
        chunk += csvLine(['raw', new Date(point.ts).toISOString(), point.ts, point.id, ...columns.map((c) => (Object.hasOwn(point.data, c) ? point.data[c] : undefined)), hasOther ? other : undefined]);
        tick('readings');
      }
      await write(chunk);
    }
    if (!columns) await write(csvLine(['resolution', 'time', 'ts', 'id', 'other']));
    progress(`${rows.toLocaleString('en-US')} readings exported`);
    return { resolution: 'raw', rows, readings };
  }

  // The finest level that gives at most maxRawReadings rows.
  const level = ROLLUP_LEVELS.find((l) => (until - since + 1) / l.ms <= maxRawReadings) ?? ROLLUP_LEVELS[ROLLUP_LEVELS.length - 1]!;
  progress(`${deviceId}, ${window}: about ${readings.toLocaleString('en-US')} readings, more than ${maxRawReadings.toLocaleString('en-US')}: exporting ${level.name} rollups`);
  // Columns: every numeric field the hour and edge buckets know, so the header comes first.
  const columns = [...fields];
  await write(csvLine(['resolution', 'time', 'ts', 'count', ...columns.map(column).flatMap((c) => [`${c}_min`, `${c}_max`, `${c}_mean`, `${c}_last`])]));
  for await (const page of history.buckets(deviceId, level, since, until)) {
    let chunk = '';
    for (const bucket of page) {
      const point = rollupPoint(bucket);
      const stats = (c: string): unknown[] => (isFiniteNumber(point.min[c]) ? [point.min[c], point.max[c], point.mean[c], point.data[c]] : ['', '', '', '']);
      chunk += csvLine([level.name, new Date(point.ts).toISOString(), point.ts, point.count, ...columns.flatMap(stats)]);
      tick('buckets');
    }
    await write(chunk);
  }
  progress(`${rows.toLocaleString('en-US')} ${level.name} buckets exported`);
  return { resolution: level.name, rows, readings };
};
