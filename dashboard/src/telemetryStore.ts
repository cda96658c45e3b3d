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
}

export interface IngestResult {
  device: DeviceSeries;
  /** Messages missing before this one, by `seq`. */
  gap?: number;
  /** Where on the chart's time axis the point went. */
  x: number;
}

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
    let device = this.byId.get(frame.deviceId);
    if (!device) {
      device = {
        deviceId: frame.deviceId,
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
      };
      this.byId.set(frame.deviceId, device);
    }

    let gap: number | undefined;
    const seq = frame.data.seq;
    if (isNumber(seq) && Number.isInteger(seq)) {
      if (device.seq !== undefined && seq > device.seq + 1) {
        gap = seq - device.seq - 1;
        device.missed += gap;
        device.gaps++;
      }
      // A restart (seq back to 0 or 1, or far below) is followed; a slightly lower seq is a late
      // message, and following it would flag a false gap on the next one.
      if (device.seq === undefined || seq > device.seq || seq <= 1 || seq < device.seq - RESTART_DROP) device.seq = seq;
    }

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
    this.addPoint(device, x, frame.data);
    this.trimDevice(device, now);
    device.version++;
    return { device, x, ...(gap !== undefined ? { gap } : {}) };
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

  private addPoint(device: DeviceSeries, x: number, data: Record<string, unknown>): void {
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
    device.x.splice(0, drop);
    for (const ys of device.y) ys.splice(0, drop);
    device.version++;
  }
}
