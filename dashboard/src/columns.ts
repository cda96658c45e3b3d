/**
 * Growable typed columns for the page's live window (dashboard/src/telemetryStore.ts and
 * dashboard/src/charts/rangeSeries.ts): one number per reading in a Float64Array (8 bytes, NaN where there
 * is none), a Uint32Array (reading-id hashes) or a Uint8Array (a small code), instead of an object, a Map
 * entry or a string per reading. Points leave from the front (the window scrolls) by moving an offset;
 * late points are inserted in place. uPlot takes typed arrays as data (`AlignedData` in
 * node_modules/uplot/dist/uPlot.d.ts), so a chart draws a column's view without a copy. Pure, so it has specs (test/dashboard/columns.test.ts).
 */

type Typed = Float64Array | Uint32Array | Uint8Array;
type Make<T extends Typed> = (length: number) => T;

// A new buffer holds a fifth more than the points it takes: at most a sixth of it unused.
const GROWTH = 1.2;
const MIN_CAPACITY = 16;

export class Column<T extends Typed> {
  private buf: T;
  private start = 0;
  private size = 0;
  private cached: T | undefined;

  /** A column of `length` copies of `fill` (a column added after points were already held). */
  constructor(
    private readonly make: Make<T>,
    length = 0,
    fill = 0,
  ) {
    this.buf = make(Math.max(MIN_CAPACITY, length));
    if (fill !== 0) this.buf.fill(fill);
    this.size = length;
  }

  get length(): number {
    return this.size;
  }

  /** Bytes held (for the memory figures of bench/liveWindowMemory.ts). */
  get bytes(): number {
    return this.buf.byteLength;
  }

  get(i: number): number {
    return this.buf[this.start + i]!;
  }

  set(i: number, value: number): void {
    this.buf[this.start + i] = value;
  }

  push(value: number): void {
    this.room();
    this.buf[this.start + this.size] = value;
    this.size++;
    this.cached = undefined;
  }

  /** Puts `value` before the point now at `at` (a late point). */
  insert(at: number, value: number): void {
    if (at >= this.size) {
      this.push(value);
      return;
    }
    this.room();
    const from = this.start + at;
    this.buf.copyWithin(from + 1, from, this.start + this.size);
    this.buf[from] = value;
    this.size++;
    this.cached = undefined;
  }

  /** Drops the first `count` points. */
  dropFront(count: number): void {
    const n = Math.min(count, this.size);
    if (n <= 0) return;
    this.start += n;
    this.size -= n;
    if (this.size === 0) this.start = 0;
    this.cached = undefined;
  }

  clear(): void {
    this.start = 0;
    this.size = 0;
    this.cached = undefined;
  }

  /** The held points as a view on the buffer (no copy); valid until the next change. */
  view(): T {
    this.cached ??= this.buf.subarray(this.start, this.start + this.size) as T;
    return this.cached;
  }

  /**
   * Makes room for one more point at the end: moves the points to the front of a new buffer a fifth larger
   * than they need. A scrolling window (points dropped from the front as many are added) comes back here every
   * fifth of its length and keeps its buffer at most a fifth too large; a window that grows, grows by a fifth.
   * A new buffer rather than a slide within this one: a view handed out (a chart's data until its next draw)
   * keeps what it showed.
   */
  private room(): void {
    if (this.start + this.size < this.buf.length) return;
    const next = this.make(Math.max(MIN_CAPACITY, Math.ceil((this.size + 1) * GROWTH)));
    next.set(this.buf.subarray(this.start, this.start + this.size));
    this.buf = next;
    this.start = 0;
    this.cached = undefined;
  }
}

export const f64 = (length = 0, fill = Number.NaN): Column<Float64Array> => new Column((n) => new Float64Array(n), length, fill);
export const u32 = (length = 0): Column<Uint32Array> => new Column((n) => new Uint32Array(n), length);
export const u8 = (length = 0): Column<Uint8Array> => new Column((n) => new Uint8Array(n), length);

/**
 * A reading id as 32 bits (FNV-1a over its UTF-16 code units), never 0 (0 is "no id"). Ids are compared only
 * among the points at one time, so two readings are wrongly taken for one only when they have the same time
 * AND their different ids hash alike (about 1 in 4 billion per pair).
 */
export const idHash = (id: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0 || 1;
};

/** First index whose value is >= t in an ascending column. */
export const lowerBound = (col: Column<Float64Array>, t: number): number => {
  let lo = 0;
  let hi = col.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (col.get(mid) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

/** First index whose value is > t in an ascending column: its length at once when t is not below the last (an append). */
export const upperBound = (col: Column<Float64Array>, t: number): number => {
  let lo = 0;
  let hi = col.length;
  if (hi === 0 || col.get(hi - 1) <= t) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (col.get(mid) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};
