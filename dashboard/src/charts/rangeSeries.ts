/**
 * One device's readings over the page's time range, as the charts draw them: a history reply (raw
 * readings, or rollup buckets with min and max per field), extended by live readings while the range
 * includes now. Pure, so it has specs (test/dashboard/rangeSeries.test.ts).
 *
 * Held in columns (../columns.ts), not one object per reading: time, the id's hash, and per numeric field
 * its values (and min and max, once a point brings them); NaN where a point has none. Text, nulls and named
 * counters keep only their latest value (the values box shows only that).
 *
 * Any field name works (`x`, `time`, `__proto__`, `constructor`): data is read by own property only.
 * Numeric fields are charted, one chart each; counters (`seq`, or integers that only ever grow) and
 * everything else are shown as values.
 */

import { type Column, f64, idHash, lowerBound, u32, upperBound } from '../columns.js';

export interface RangePoint {
  ts: number;
  data: Record<string, unknown>;
  /** Rollup buckets (and downsampled readings): each numeric field's extremes in the bucket. */
  min?: Record<string, number>;
  max?: Record<string, number>;
  id?: string;
}

export interface FieldColumns {
  /** Views on the columns when every point has the field (the live case), else compact copies. */
  x: Float64Array;
  y: Float64Array;
  /** null where there is none; without a band, a shared array of nulls at least as long as `x`. */
  min: readonly (number | null)[];
  max: readonly (number | null)[];
}

/** What a device's range charts draw (./fieldCharts.ts): a range series, or the page's live window (./storeSeries.ts). */
export interface ChartSeries {
  readonly deviceId: string;
  /** `raw`, or the rollup level of the points. */
  readonly resolution: string;
  /** Points held (every field's). */
  readonly length: number;
  /** Bumped on every change. */
  readonly version: number;
  fields(): { charted: string[]; values: string[] };
  columns(field: string): FieldColumns;
  latest(): Map<string, unknown>;
}

// Names that are counters, whatever their values look like.
const COUNTER_NAMES = new Set(['seq', 'sequence', 'counter', 'count', 'msgid', 'messageid']);
// A field is a counter when its integer values never fell over at least this many points.
const COUNTER_MIN_POINTS = 8;

/** A field's values in time order, summed up: how many, all integers, never falling, the last one. */
export interface FieldStats {
  numbers: number;
  integers: boolean;
  rising: boolean;
  last: number;
}

/** The stats of a column of values in time order (NaN: none). */
export const statsOf = (values: Iterable<number>): FieldStats => {
  const stats: FieldStats = { numbers: 0, integers: true, rising: true, last: Number.NaN };
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    stats.numbers++;
    if (!Number.isInteger(v)) stats.integers = false;
    if (!Number.isNaN(stats.last) && v < stats.last) stats.rising = false;
    stats.last = v;
  }
  return stats;
};

/** Counters (`seq`, or integers that only grow over a few raw points) are shown as values, never charted. */
export const isCounter = (name: string, stats: FieldStats, resolution: string): boolean =>
  COUNTER_NAMES.has(name.toLowerCase()) || (stats.integers && stats.rising && stats.numbers >= COUNTER_MIN_POINTS && resolution === 'raw');

/**
 * The band's column as uPlot takes it when there is no band: every chart shares one array of nulls that only
 * grows (uPlot reads a series at the indices of its x values only).
 */
export const noBand = (n: number): readonly null[] => {
  while (NO_BAND.length < n) NO_BAND.push(null);
  return NO_BAND;
};

const own = (record: Record<string, unknown> | undefined, key: string): unknown => (record && Object.hasOwn(record, key) ? record[key] : undefined);
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const orNull = (v: number): number | null => (Number.isNaN(v) ? null : v);
const NO_BAND: null[] = [];

/** One field of the series; its stats are over the values in time order. */
interface Field extends FieldStats {
  /** Numbers, aligned with the time column (NaN: none); made on the field's first number. Never for named counters. */
  values?: Column<Float64Array>;
  min?: Column<Float64Array>;
  max?: Column<Float64Array>;
  /** The newest time at which a point has the field (any value), and at which it is not a number (nor null). */
  presentTs: number;
  otherTs: number;
  /** The newest point's value (by time; the later one of equal times). */
  latest: unknown;
  latestTs: number;
}

export class RangeSeries implements ChartSeries {
  /** `raw`, or the rollup level (`1m`, `10m`, `1h`) of the last reply. */
  resolution = 'raw';
  bucketMs: number | undefined;
  private readonly ts = f64();
  /** Each point's id hash (0: no id), compared only among the points at one time. */
  private readonly ids = u32();
  /** In first-seen order. */
  private readonly byName = new Map<string, Field>();
  /** The field stats need a pass over the columns (a late point, a trim, a reply). */
  private statsStale = false;
  version = 0;

  constructor(readonly deviceId: string) {}

  get length(): number {
    return this.ts.length;
  }

  /** A new reply's points replace what was drawn (the range or its resolution changed). */
  replace(points: readonly RangePoint[], resolution: string, bucketMs?: number): void {
    this.ts.clear();
    this.ids.clear();
    this.byName.clear();
    for (const p of [...points].sort((a, b) => a.ts - b.ts)) this.insert(p);
    this.resolution = resolution;
    this.bucketMs = bucketMs;
    this.version++;
  }

  /** More points of the same reply (its next frame, or a continuation after `truncated`). */
  append(points: readonly RangePoint[]): void {
    for (const p of points) this.insert(p);
    this.version++;
  }

  /**
   * A live reading; one already drawn is not drawn twice: the same id at the same time, or (when one of the two
   * has no id, as the live chart's points do) the same time and the same numbers.
   */
  addLive(point: RangePoint): boolean {
    if (this.sameAtTime(point)) return false;
    this.insert(point);
    this.version++;
    return true;
  }

  /** Drops points before `since` (a scrolling range). */
  trim(since: number): void {
    const drop = lowerBound(this.ts, since);
    if (drop === 0) return;
    this.ts.dropFront(drop);
    this.ids.dropFront(drop);
    for (const [name, f] of this.byName) {
      // The newest point with the field is older than what is left: no point has it any more.
      if (f.presentTs < since) {
        this.byName.delete(name);
        continue;
      }
      if (f.otherTs < since) f.otherTs = -Infinity;
      f.values?.dropFront(drop);
      f.min?.dropFront(drop);
      f.max?.dropFront(drop);
    }
    this.statsStale = true;
    this.version++;
  }

  /** The charted fields (numeric, not counters) in first-seen order, and the rest, shown as values. */
  fields(): { charted: string[]; values: string[] } {
    if (this.statsStale) this.restat();
    const charted: string[] = [];
    const values: string[] = [];
    for (const [name, f] of this.byName) {
      const counter = isCounter(name, f, this.resolution);
      if (f.numbers > 0 && f.otherTs === -Infinity && !counter) charted.push(name);
      else values.push(name);
    }
    return { charted, values };
  }

  /** One field's columns for its chart: time, value, and the band's min and max (null where there is none). */
  columns(field: string): FieldColumns {
    if (this.statsStale) this.restat();
    const f = this.byName.get(field);
    const n = this.ts.length;
    if (!f?.values) return { x: new Float64Array(0), y: new Float64Array(0), min: [], max: [] };
    if (f.numbers === n) {
      // Every point has the field: the chart draws the columns themselves.
      return { x: this.ts.view(), y: f.values.view(), min: this.band(f.min, n), max: this.band(f.max, n) };
    }
    const x = new Float64Array(f.numbers);
    const y = new Float64Array(f.numbers);
    const min: (number | null)[] = [];
    const max: (number | null)[] = [];
    for (let i = 0, j = 0; i < n; i++) {
      const v = f.values.get(i);
      if (Number.isNaN(v)) continue;
      x[j] = this.ts.get(i);
      y[j++] = v;
      min.push(f.min ? orNull(f.min.get(i)) : null);
      max.push(f.max ? orNull(f.max.get(i)) : null);
    }
    return { x, y, min, max };
  }

  /** Each field's newest value. */
  latest(): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const [name, f] of this.byName) out.set(name, f.latest);
    return out;
  }

  /** The band's column as uPlot takes it (null where there is none). */
  private band(col: Column<Float64Array> | undefined, n: number): readonly (number | null)[] {
    return col ? Array.from(col.view(), orNull) : noBand(n);
  }

  private sameAtTime(p: RangePoint): boolean {
    const h = p.id ? idHash(p.id) : 0;
    for (let i = lowerBound(this.ts, p.ts); i < this.ts.length && this.ts.get(i) === p.ts; i++) {
      const held = this.ids.get(i);
      if (held !== 0 && h !== 0) {
        if (held === h) return true;
        continue;
      }
      // The numbers both carry (the live chart's points have no counters) are all equal. Named counters are
      // not held per point, so they are not compared.
      let common = 0;
      let equal = true;
      for (const [name, v] of Object.entries(p.data)) {
        if (!isNumber(v)) continue;
        const held = this.byName.get(name)?.values?.get(i);
        if (held === undefined || Number.isNaN(held)) continue;
        common++;
        if (held !== v) equal = false;
      }
      if (common > 0 && equal) return true;
    }
    return false;
  }

  private insert(p: RangePoint): void {
    const n = this.ts.length;
    const at = upperBound(this.ts, p.ts);
    if (at < n) this.statsStale = true;
    this.ts.insert(at, p.ts);
    this.ids.insert(at, p.id ? idHash(p.id) : 0);
    for (const [name, value] of Object.entries(p.data)) {
      let f = this.byName.get(name);
      if (!f) {
        f = { presentTs: -Infinity, otherTs: -Infinity, latest: undefined, latestTs: -Infinity, numbers: 0, integers: true, rising: true, last: Number.NaN };
        this.byName.set(name, f);
      }
      f.presentTs = Math.max(f.presentTs, p.ts);
      if (p.ts >= f.latestTs) {
        f.latest = value;
        f.latestTs = p.ts;
      }
      if (isNumber(value)) {
        if (!f.values && !COUNTER_NAMES.has(name.toLowerCase())) f.values = f64(n);
        if (!this.statsStale) {
          f.numbers++;
          if (!Number.isInteger(value)) f.integers = false;
          if (!Number.isNaN(f.last) && value < f.last) f.rising = false;
          f.last = value;
        }
      } else if (value !== null && value !== undefined) f.otherTs = Math.max(f.otherTs, p.ts);
    }
    // Every field's columns take the point (NaN where it has none), min and max made on the first band.
    for (const [name, f] of this.byName) {
      const low = own(p.min, name);
      const high = own(p.max, name);
      if (!f.min && isNumber(low)) f.min = f64(n);
      if (!f.max && isNumber(high)) f.max = f64(n);
      if (f.values) {
        const value = own(p.data, name);
        f.values.insert(at, isNumber(value) ? value : Number.NaN);
      }
      f.min?.insert(at, isNumber(low) ? low : Number.NaN);
      f.max?.insert(at, isNumber(high) ? high : Number.NaN);
    }
  }

  /** The field stats from the columns, in time order. Named counters are never charted: their stats do not matter. */
  private restat(): void {
    for (const f of this.byName.values()) Object.assign(f, statsOf(f.values?.view() ?? []));
    this.statsStale = false;
  }

  /** Bytes held by the columns (bench/liveWindowMemory.ts). */
  columnBytes(): number {
    let bytes = this.ts.bytes + this.ids.bytes;
    for (const f of this.byName.values()) bytes += (f.values?.bytes ?? 0) + (f.min?.bytes ?? 0) + (f.max?.bytes ?? 0);
    return bytes;
  }
}
