/**
 * One device's readings over the page's time range, as the charts draw them: a history reply (raw
 * readings, or rollup buckets with min and max per field), extended by live readings while the range
 * includes now. Pure, so it has specs (test/dashboard/rangeSeries.test.ts).
 *
 * Any field name works (`x`, `time`, `__proto__`, `constructor`): data is read by own property only.
 * Numeric fields are charted, one chart each; counters (`seq`, or integers that only ever grow) and
 * everything else are shown as values.
 */

export interface RangePoint {
  ts: number;
  data: Record<string, unknown>;
  /** Rollup buckets (and downsampled readings): each numeric field's extremes in the bucket. */
  min?: Record<string, number>;
  max?: Record<string, number>;
  id?: string;
}

export interface FieldColumns {
  x: number[];
  y: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
}

// Names that are counters, whatever their values look like.
const COUNTER_NAMES = new Set(['seq', 'sequence', 'counter', 'count', 'msgid', 'messageid']);
// A field is a counter when its integer values never fell over at least this many points.
const COUNTER_MIN_POINTS = 8;

const own = (record: Record<string, unknown> | undefined, key: string): unknown => (record && Object.hasOwn(record, key) ? record[key] : undefined);
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

export class RangeSeries {
  /** `raw`, or the rollup level (`1m`, `10m`, `1h`) of the last reply. */
  resolution = 'raw';
  bucketMs: number | undefined;
  private points: RangePoint[] = [];
  private readonly ids = new Set<string>();
  version = 0;

  constructor(readonly deviceId: string) {}

  get length(): number {
    return this.points.length;
  }

  /** A new reply's points replace what was drawn (the range or its resolution changed). */
  replace(points: readonly RangePoint[], resolution: string, bucketMs?: number): void {
    this.points = [...points].sort((a, b) => a.ts - b.ts);
    this.ids.clear();
    for (const p of this.points) if (p.id) this.ids.add(p.id);
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
   * A live reading; one already drawn is not drawn twice: the same id, or (when one of the two has no id, as the
   * live chart's points do) the same time and the same numbers.
   */
  addLive(point: RangePoint): boolean {
    if (point.id && this.ids.has(point.id)) return false;
    if (this.sameAtTime(point)) return false;
    this.insert(point);
    this.version++;
    return true;
  }

  /** Drops points before `since` (a scrolling range). */
  trim(since: number): void {
    let drop = 0;
    while (drop < this.points.length && this.points[drop]!.ts < since) drop++;
    if (drop === 0) return;
    for (const p of this.points.splice(0, drop)) if (p.id) this.ids.delete(p.id);
    this.version++;
  }

  /** The charted fields (numeric, not counters) in first-seen order, and the rest, shown as values. */
  fields(): { charted: string[]; values: string[] } {
    const order: string[] = [];
    const numeric = new Map<string, { numbers: number; other: number; integers: boolean; rising: boolean; last?: number }>();
    for (const p of this.points) {
      for (const [name, value] of Object.entries(p.data)) {
        let f = numeric.get(name);
        if (!f) {
          f = { numbers: 0, other: 0, integers: true, rising: true };
          numeric.set(name, f);
          order.push(name);
        }
        if (isNumber(value)) {
          f.numbers++;
          if (!Number.isInteger(value)) f.integers = false;
          if (f.last !== undefined && value < f.last) f.rising = false;
          f.last = value;
        } else if (value !== null && value !== undefined) f.other++;
      }
    }
    const charted: string[] = [];
    const values: string[] = [];
    for (const name of order) {
      const f = numeric.get(name)!;
      const counter = COUNTER_NAMES.has(name.toLowerCase()) || (f.integers && f.rising && f.numbers >= COUNTER_MIN_POINTS && this.resolution === 'raw');
      if (f.numbers > 0 && f.other === 0 && !counter) charted.push(name);
      else values.push(name);
    }
    return { charted, values };
  }

  /** One field's columns for its chart: time, value, and the band's min and max (null where there is none). */
  columns(field: string): FieldColumns {
    const out: FieldColumns = { x: [], y: [], min: [], max: [] };
    for (const p of this.points) {
      const value = own(p.data, field);
      if (!isNumber(value)) continue;
      out.x.push(p.ts);
      out.y.push(value);
      const low = own(p.min, field);
      const high = own(p.max, field);
      out.min.push(isNumber(low) ? low : null);
      out.max.push(isNumber(high) ? high : null);
    }
    return out;
  }

  /** Each field's newest value. */
  latest(): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const p of this.points) for (const [name, value] of Object.entries(p.data)) out.set(name, value);
    return out;
  }

  /** CSV of what is drawn: raw readings, or buckets with min and max; the first column says which. */
  csv(): string {
    const { charted, values } = this.fields();
    const fields = [...charted, ...values];
    const bucketed = this.resolution !== 'raw' || this.points.some((p) => p.min !== undefined);
    const header = ['resolution', 'time', 'ts', ...fields.flatMap((f) => (bucketed && charted.includes(f) ? [`${f}_min`, `${f}_max`, `${f}_last`] : [f]))];
    const lines = [header.map(csvField).join(',')];
    for (const p of this.points) {
      const row: unknown[] = [this.resolution, new Date(p.ts).toISOString(), p.ts];
      for (const f of fields) {
        if (bucketed && charted.includes(f)) row.push(own(p.min, f), own(p.max, f), own(p.data, f));
        else row.push(own(p.data, f));
      }
      lines.push(row.map(csvField).join(','));
    }
    return `${lines.join('\r\n')}\r\n`;
  }

  private sameAtTime(p: RangePoint): boolean {
    let i = this.lowerBound(p.ts);
    for (; i < this.points.length && this.points[i]!.ts === p.ts; i++) {
      const held = this.points[i]!;
      if (held.id && p.id) continue;
      // The numbers both carry (the live chart's points have no counters) are all equal.
      const common = Object.entries(p.data).filter(([name, v]) => isNumber(v) && Object.hasOwn(held.data, name));
      if (common.length > 0 && common.every(([name, v]) => own(held.data, name) === v)) return true;
    }
    return false;
  }

  private lowerBound(ts: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]!.ts < ts) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insert(p: RangePoint): void {
    if (p.id) this.ids.add(p.id);
    const last = this.points[this.points.length - 1];
    if (!last || last.ts <= p.ts) {
      this.points.push(p);
      return;
    }
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]!.ts <= p.ts) lo = mid + 1;
      else hi = mid;
    }
    this.points.splice(lo, 0, p);
  }
}

/** RFC 4180: a field with a comma, a quote or a line break is quoted, quotes doubled. */
export const csvField = (value: unknown): string => {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};
