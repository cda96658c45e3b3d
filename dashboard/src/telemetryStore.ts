/**
 * Per-device telemetry: the latest values, sequence gaps, and a rolling window
 * of numeric series laid out the way uPlot draws them (one shared x column, one
 * y column per field, NaN where a message lacked the field). The window is held in
 * typed columns (./columns.ts): about 8 bytes a reading per charted field plus 13 for
 * time, source and id hash, instead of arrays, a Map entry and an id string per reading.
 */
import { type Column, f64, idHash, lowerBound, u8, u32, upperBound } from './columns.js';
import type { TelemetryFrame } from './frames.js';

export interface StoreOptions {
  windowMs?: number;
  /** Memory bound per device whatever the rate: 5 minutes at 50 msg/s is 15,000 points. */
  maxPointsPerDevice?: number;
  /** More fields than this are shown as values but not charted. */
  maxChartFields?: number;
  /** Numeric fields that are counters, not measurements: shown, never charted. */
  notCharted?: readonly string[];
}

export interface DeviceSeries {
  readonly deviceId: string;
  /** The latest data object, as received. */
  latest: Record<string, unknown>;
  /** Device time (`ts`) and server receive time of the latest message. */
  lastTs: number;
  lastReceivedAt: number;
  /** Page clock when the latest message arrived. */
  lastSeen: number;
  messages: number;
  /** Latest `seq`, if the device sends one. */
  seq?: number;
  /** Messages missing between consecutive `seq` values, in total, and how often it happened. */
  missed: number;
  gaps: number;
  lastLatencyMs?: number;
  /** Charted fields in first-seen order; `y[i]` belongs to `fields[i]`. */
  fields: string[];
  /** Chart times, ascending (a view on the column: valid until the next change). */
  readonly x: Float64Array;
  /** One column per field, aligned with `x`; NaN where a message lacked the field. */
  readonly y: readonly Float64Array[];
  /** Bumped on every change, so a view redraws only what moved. */
  version: number;
  /** Seq ranges counted as missed that a late or history reading may still fill (bounded). */
  readonly openGaps: { from: number; to: number; left: number }[];
}

/** A reading from a `history` reply (with its id) or a `snapshot` (without one) (docs/asyncapi.yaml). */
export interface StoredReading {
  ts: number;
  /** The reading's id (history points): matched by id; without one (snapshot entries), by ts. */
  id?: string;
  receivedAt?: number;
  data: Record<string, unknown>;
}

export interface IngestResult {
  device: DeviceSeries;
  /** Messages missing before this one, by `seq`. */
  gap?: number;
  /** Where on the chart's time axis the point went. */
  x: number;
  /** The device already had a reading at this `ts` (from history or live): nothing was added. */
  merged?: boolean;
}

// Open seq gaps remembered per device, to be filled by late or history readings.
const MAX_OPEN_GAPS = 64;

// A seq this far below the last one means the device restarted its counter.
const RESTART_DROP = 100;

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const LIVE = 0;
const STORED = 1;
const STORED_BY_ID = 2;
type Source = typeof LIVE | typeof STORED | typeof STORED_BY_ID;

/**
 * A device's record and its chart window in columns aligned with the chart time `xs`: the device time
 * (only once some point's differs from its chart time: a device without a clock), where the point came
 * from (a reading that comes both live and from history or a snapshot is drawn once), and its id's hash
 * (a history point is matched to its live frame by id, so two readings that share a ts are both drawn).
 */
class DeviceState implements DeviceSeries {
  latest: Record<string, unknown> = {};
  lastTs: number;
  lastReceivedAt: number;
  lastSeen: number;
  messages = 0;
  seq?: number;
  missed = 0;
  gaps = 0;
  lastLatencyMs?: number;
  fields: string[] = [];
  version = 0;
  readonly openGaps: { from: number; to: number; left: number }[] = [];
  readonly xs = f64();
  ts: Column<Float64Array> | undefined;
  readonly source = u8();
  readonly ids = u32();
  readonly ys: Column<Float64Array>[] = [];
  private yViews: Float64Array[] | undefined;

  constructor(
    readonly deviceId: string,
    lastTs: number,
    lastReceivedAt: number,
    lastSeen: number,
  ) {
    this.lastTs = lastTs;
    this.lastReceivedAt = lastReceivedAt;
    this.lastSeen = lastSeen;
  }

  get x(): Float64Array {
    return this.xs.view();
  }

  get y(): readonly Float64Array[] {
    this.yViews ??= this.ys.map((c) => c.view());
    return this.yViews;
  }

  changed(): void {
    this.yViews = undefined;
  }

  tsAt(i: number): number {
    return this.ts ? this.ts.get(i) : this.xs.get(i);
  }

  /** Index of the first point whose device time is `ts` and that `match`es, or -1. */
  find(ts: number, match: (i: number) => boolean = () => true): number {
    if (!this.ts) {
      for (let i = lowerBound(this.xs, ts); i < this.xs.length && this.xs.get(i) === ts; i++) if (match(i)) return i;
      return -1;
    }
    // A device without a clock: chart time is not device time, so look through the window.
    for (let i = 0; i < this.ts.length; i++) if (this.ts.get(i) === ts && match(i)) return i;
    return -1;
  }

  hasId(id: string, ts: number): boolean {
    const h = idHash(id);
    return this.find(ts, (i) => this.ids.get(i) === h) >= 0;
  }

  sourceAt(ts: number): Source | undefined {
    const i = this.find(ts);
    return i < 0 ? undefined : (this.source.get(i) as Source);
  }
}

export class TelemetryStore {
  readonly windowMs: number;
  readonly maxPointsPerDevice: number;
  readonly maxChartFields: number;
  private readonly notCharted: Set<string>;
  private readonly byId = new Map<string, DeviceState>();

  constructor({ windowMs = 5 * 60_000, maxPointsPerDevice = 20_000, maxChartFields = 8, notCharted = ['seq'] }: StoreOptions = {}) {
    this.windowMs = windowMs;
    this.maxPointsPerDevice = maxPointsPerDevice;
    this.maxChartFields = maxChartFields;
    this.notCharted = new Set(notCharted);
  }

  get size(): number {
    return this.byId.size;
  }

  device(deviceId: string): DeviceSeries | undefined {
    return this.byId.get(deviceId);
  }

  deviceIds(): string[] {
    return [...this.byId.keys()];
  }

  /**
   * The chart's time for a message: the device's `ts`, unless it is further
   * from the server's receive time than the whole window (a device without a
   * clock, or one sending seconds), where it would fall straight off the chart.
   */
  chartTime(frame: Pick<TelemetryFrame, 'ts' | 'receivedAt'>): number {
    return Math.abs(frame.ts - frame.receivedAt) <= this.windowMs ? frame.ts : frame.receivedAt;
  }

  /** Adds one message (already deduplicated). `now` is the page's clock at receipt. */
  ingest(frame: TelemetryFrame, now: number): IngestResult {
    const device = this.deviceFor(frame.deviceId, frame, now);
    // Drawn already from history (by its id), or from a snapshot entry (no id: by its ts).
    if (device.hasId(frame.id, frame.ts) || device.sourceAt(frame.ts) === STORED) return { device, x: this.chartTime(frame), merged: true };
    const gap = this.noteSeq(device, frame.data.seq);

    // Out-of-order messages must not roll the "latest" values back.
    const isNewest = device.messages === 0 || frame.ts >= device.lastTs;
    if (isNewest) {
      device.latest = frame.data;
      device.lastTs = frame.ts;
      device.lastReceivedAt = frame.receivedAt;
    }
    device.lastSeen = now;
    device.messages++;
    device.lastLatencyMs = now - frame.ts;

    const x = this.chartTime(frame);
    this.addPoint(device, x, frame.data, frame.ts, LIVE, frame.id);
    this.trimDevice(device, now);
    device.version++;
    return { device, x, ...(gap !== undefined ? { gap } : {}) };
  }

  /**
   * Merges a reading from `history` or `snapshot`: drawn unless the chart has its `ts` already;
   * the latest values move only forward; it may fill a seq gap that live frames left open.
   * It is not a message (no count, no latency); `lastSeen` moves to its receive time if that is later.
   */
  merge(deviceId: string, reading: StoredReading, now: number): IngestResult {
    const receivedAt = reading.receivedAt ?? reading.ts;
    const device = this.deviceFor(deviceId, { ts: reading.ts, receivedAt }, Math.min(now, receivedAt));
    const x = this.chartTime({ ts: reading.ts, receivedAt });
    // By id; a point at the ts of an id-less snapshot entry is that entry's reading (a snapshot holds a device's latest).
    const drawn = reading.id !== undefined ? device.hasId(reading.id, reading.ts) || device.sourceAt(reading.ts) === STORED : device.find(reading.ts) >= 0;
    if (drawn) {
      if (reading.id !== undefined && !device.hasId(reading.id, reading.ts)) {
        // The snapshot entry's point is this reading: it carries the id from now on.
        const at = device.find(reading.ts, (i) => device.source.get(i) === STORED && device.ids.get(i) === 0);
        if (at >= 0) device.ids.set(at, idHash(reading.id));
      }
      return { device, x, merged: true };
    }
    // An older reading (the usual case: a backfill) only fills open gaps; it never moves seq on or back.
    const older = device.xs.length > 0 && reading.ts < device.lastTs;
    const gap = this.noteSeq(device, reading.data.seq, older);
    if (reading.ts >= device.lastTs || Object.keys(device.latest).length === 0) {
      device.latest = reading.data;
      device.lastTs = reading.ts;
      device.lastReceivedAt = receivedAt;
    }
    device.lastSeen = Math.max(device.lastSeen, Math.min(now, receivedAt));
    if (x >= now - this.windowMs) {
      this.addPoint(device, x, reading.data, reading.ts, reading.id !== undefined ? STORED_BY_ID : STORED, reading.id);
    }
    this.trimDevice(device, now);
    device.version++;
    return { device, x, ...(gap !== undefined ? { gap } : {}) };
  }

  private deviceFor(deviceId: string, frame: { ts: number; receivedAt: number }, now: number): DeviceState {
    let device = this.byId.get(deviceId);
    if (!device) {
      device = new DeviceState(deviceId, frame.ts, frame.receivedAt, now);
      this.byId.set(deviceId, device);
    }
    return device;
  }

  /** Seq bookkeeping: a jump opens a gap; a reading inside an open gap (late, or from history) closes part of it. */
  private noteSeq(device: DeviceSeries, seq: unknown, fillOnly = false): number | undefined {
    if (!isNumber(seq) || !Number.isInteger(seq)) return undefined;
    if (fillOnly) {
      this.fillGap(device, seq);
      return undefined;
    }
    let gap: number | undefined;
    if (device.seq !== undefined && seq > device.seq + 1) {
      gap = seq - device.seq - 1;
      device.missed += gap;
      device.gaps++;
      device.openGaps.push({ from: device.seq + 1, to: seq - 1, left: gap });
      if (device.openGaps.length > MAX_OPEN_GAPS) device.openGaps.shift();
    } else if (device.seq !== undefined && seq < device.seq) {
      this.fillGap(device, seq);
    }
    // A restart (seq far below) is followed; a slightly lower seq is a late message, and following it
    // would flag a false gap on the next one. A seq of 0 or 1 just below is late too (the first reading,
    // overtaken while its invocation started cold): if it was a restart, the device's seq passes the
    // old one within a few readings, and only gaps among those few go unflagged.
    if (device.seq === undefined || seq > device.seq || seq < device.seq - RESTART_DROP) {
      if (device.seq !== undefined && seq < device.seq) device.openGaps.length = 0; // a restart: old gaps can no longer be told apart
      device.seq = seq;
    }
    return gap;
  }

  private fillGap(device: DeviceSeries, seq: number): void {
    const open = device.openGaps.find((g) => seq >= g.from && seq <= g.to);
    if (!open) return;
    open.left--;
    device.missed--;
    if (open.left === 0) {
      device.openGaps.splice(device.openGaps.indexOf(open), 1);
      device.gaps--;
    }
  }

  /** Drops points older than the window (and beyond the per-device cap) from every device. */
  trim(now: number): void {
    for (const device of this.byId.values()) this.trimDevice(device, now);
  }

  /** The series in uPlot's layout: [x, ...one array per field], `null` where a message lacked the field. */
  chartData(deviceId: string): [number[], ...(number | null)[][]] | undefined {
    const device = this.byId.get(deviceId);
    return device ? [Array.from(device.x), ...device.y.map((ys) => Array.from(ys, (v) => (Number.isNaN(v) ? null : v)))] : undefined;
  }

  private addPoint(device: DeviceState, x: number, data: Record<string, unknown>, ts: number, source: Source, id: string | undefined): void {
    for (const [key, value] of Object.entries(data)) {
      if (!isNumber(value) || this.notCharted.has(key) || device.fields.includes(key)) continue;
      if (device.fields.length >= this.maxChartFields) break;
      device.fields.push(key);
      device.ys.push(f64(device.xs.length));
    }
    // The device time is held apart only once it differs from the chart time (a device without a clock).
    if (!device.ts && ts !== x) {
      device.ts = f64(0);
      for (let i = 0; i < device.xs.length; i++) device.ts.push(device.xs.get(i));
    }
    // Appending is the common case; a late message is inserted in place so x stays ascending.
    const at = upperBound(device.xs, x);
    device.xs.insert(at, x);
    device.ts?.insert(at, ts);
    device.source.insert(at, source);
    device.ids.insert(at, id !== undefined ? idHash(id) : 0);
    device.fields.forEach((field, i) => {
      const value = Object.hasOwn(data, field) ? data[field] : undefined;
      device.ys[i]!.insert(at, isNumber(value) ? value : Number.NaN);
    });
    device.changed();
  }

  private trimDevice(device: DeviceState, now: number): void {
    const byAge = lowerBound(device.xs, now - this.windowMs);
    const byCount = device.xs.length - this.maxPointsPerDevice;
    const drop = Math.max(byAge, byCount, 0);
    if (drop === 0) return;
    // The times, sources and ids of the points leaving the chart go with them.
    device.xs.dropFront(drop);
    device.ts?.dropFront(drop);
    device.source.dropFront(drop);
    device.ids.dropFront(drop);
    for (const ys of device.ys) ys.dropFront(drop);
    device.changed();
    device.version++;
  }

  /** Bytes held by the chart windows' columns (bench/liveWindowMemory.ts). */
  columnBytes(): number {
    let bytes = 0;
    for (const d of this.byId.values()) bytes += d.xs.bytes + (d.ts?.bytes ?? 0) + d.source.bytes + d.ids.bytes + d.ys.reduce((sum, c) => sum + c.bytes, 0);
    return bytes;
  }
}
