/**
 * Per-device telemetry: the latest values, sequence gaps, and a rolling window
 * of numeric series laid out the way uPlot draws them (one shared x array, one
 * y array per field, `null` where a message lacked the field).
 */
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
  x: number[];
  y: (number | null)[][];
  /** Bumped on every change, so a view redraws only what moved. */
  version: number;
  /**
   * Device times (`ts`) on the chart and where each came from: a reading that comes both live and
   * from history (or a snapshot) is drawn once. Two live readings with one ts are both drawn.
   */
  readonly tsSeen: Map<number, 'live' | 'stored' | 'stored-by-id'>;
  /**
   * Reading ids on the chart (live frames and history points carry them) and each one's chart time: a
   * history point is matched to its live frame by id, so two readings that share a ts are both drawn.
   */
  readonly idSeen: Map<string, number>;
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

/** First index whose value is > t (x is ascending). */
const upperBound = (x: readonly number[], t: number): number => {
  let lo = 0;
  let hi = x.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

/** First index whose value is >= t. */
const lowerBound = (x: readonly number[], t: number): number => {
  let lo = 0;
  let hi = x.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

export class TelemetryStore {
  readonly windowMs: number;
  readonly maxPointsPerDevice: number;
  readonly maxChartFields: number;
  private readonly notCharted: Set<string>;
  private readonly byId = new Map<string, DeviceSeries>();

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
    if (device.idSeen.has(frame.id) || device.tsSeen.get(frame.ts) === 'stored') return { device, x: this.chartTime(frame), merged: true };
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
    this.addPoint(device, x, frame.data, frame.ts, 'live');
    device.idSeen.set(frame.id, x);
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
    const drawn = reading.id !== undefined ? device.idSeen.has(reading.id) || device.tsSeen.get(reading.ts) === 'stored' : device.tsSeen.has(reading.ts);
    if (drawn) {
      if (reading.id !== undefined) device.idSeen.set(reading.id, x);
      return { device, x, merged: true };
    }
    // An older reading (the usual case: a backfill) only fills open gaps; it never moves seq on or back.
    const older = device.x.length > 0 && reading.ts < device.lastTs;
    const gap = this.noteSeq(device, reading.data.seq, older);
    if (reading.ts >= device.lastTs || Object.keys(device.latest).length === 0) {
      device.latest = reading.data;
      device.lastTs = reading.ts;
      device.lastReceivedAt = receivedAt;
    }
    device.lastSeen = Math.max(device.lastSeen, Math.min(now, receivedAt));
    if (x >= now - this.windowMs) {
      this.addPoint(device, x, reading.data, reading.ts, reading.id !== undefined ? 'stored-by-id' : 'stored');
      if (reading.id !== undefined) device.idSeen.set(reading.id, x);
    }
    this.trimDevice(device, now);
    device.version++;
    return { device, x, ...(gap !== undefined ? { gap } : {}) };
  }

  private deviceFor(deviceId: string, frame: { ts: number; receivedAt: number }, now: number): DeviceSeries {
    let device = this.byId.get(deviceId);
    if (!device) {
      device = {
        deviceId,
        latest: {},
        lastTs: frame.ts,
        lastReceivedAt: frame.receivedAt,
        lastSeen: now,
        messages: 0,
        missed: 0,
        gaps: 0,
        fields: [],
        x: [],
        y: [],
        version: 0,
        tsSeen: new Map(),
        idSeen: new Map(),
        openGaps: [],
      };
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
    // A restart (seq back to 0 or 1, or far below) is followed; a slightly lower seq is a late
    // message, and following it would flag a false gap on the next one.
    if (device.seq === undefined || seq > device.seq || seq <= 1 || seq < device.seq - RESTART_DROP) {
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

  /** The series in uPlot's layout: [x, ...one array per field]. */
  chartData(deviceId: string): [number[], ...(number | null)[][]] | undefined {
    const device = this.byId.get(deviceId);
    return device ? [device.x, ...device.y] : undefined;
  }

  private addPoint(device: DeviceSeries, x: number, data: Record<string, unknown>, ts: number, source: 'live' | 'stored' | 'stored-by-id'): void {
    if (!device.tsSeen.has(ts)) device.tsSeen.set(ts, source);
    for (const [key, value] of Object.entries(data)) {
      if (!isNumber(value) || this.notCharted.has(key) || device.fields.includes(key)) continue;
      if (device.fields.length >= this.maxChartFields) break;
      device.fields.push(key);
      device.y.push(new Array<number | null>(device.x.length).fill(null));
    }
    // Appending is the common case; a late message is inserted in place so x stays ascending.
    const at = device.x.length === 0 || x >= device.x[device.x.length - 1] ? device.x.length : upperBound(device.x, x);
    device.x.splice(at, 0, x);
    device.fields.forEach((field, i) => {
      const value = data[field];
      device.y[i].splice(at, 0, isNumber(value) ? value : null);
    });
  }

  private trimDevice(device: DeviceSeries, now: number): void {
    const byAge = lowerBound(device.x, now - this.windowMs);
    const byCount = device.x.length - this.maxPointsPerDevice;
    const drop = Math.max(byAge, byCount, 0);
    if (drop === 0) return;
    // Forget the times of points leaving the chart. Chart x is the ts except for clock-less devices,
    // whose times are then dropped by age once the set outgrows the chart.
    for (let i = 0; i < drop; i++) device.tsSeen.delete(device.x[i]!);
    if (device.tsSeen.size > 2 * (device.x.length - drop) + 100) {
      const cutoff = now - this.windowMs;
      for (const ts of device.tsSeen.keys()) if (ts < cutoff) device.tsSeen.delete(ts);
    }
    if (device.idSeen.size > 2 * (device.x.length - drop) + 100) {
      const first = device.x[drop] ?? Infinity;
      for (const [id, x] of device.idSeen) if (x < first) device.idSeen.delete(id);
    }
    device.x.splice(0, drop);
    for (const ys of device.y) ys.splice(0, drop);
    device.version++;
  }
}
