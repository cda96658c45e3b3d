/**
 * Download CSV: the devices and range on screen, by the export's rule (scripts/historyExport.ts, `npm run export`):
 * raw readings when the window holds at most 100,000 of them, rollup rows (min, max, mean, last and count per
 * numeric field) past that, at the finest level that gives at most 100,000 rows; the first column, `resolution`,
 * says which. The rule counts every device on screen together, so that one file holds one kind of row
 * (docs/decisions/020-download-csv.md).
 *
 * Everything comes over the page's socket as `history` requests (docs/asyncapi.yaml, historyRequest), one at a
 * time, within the protocol's limits:
 *
 *   1. Count: the window in chunks of whole rollup buckets, asking for as many points as the chunk has buckets
 *      (at least 12, at most 5,000: `maxPoints`' largest), so the server answers the chunk's buckets one by one,
 *      each with its count, or, when the chunk holds no more readings than that, the raw readings themselves.
 *   2. Raw (when the counts add up to at most 100,000): the chunks answered with buckets, again as windows of at
 *      most 5,000 readings by those counts, with maxPoints 5,000, so each is answered raw; a window answered
 *      otherwise is halved and asked again.
 *
 * A reply cut short (`truncated`) is continued from its `next.since`; a `rate_limited` error (the per-holder rate
 * on `history`) waits as the error says and asks again; anything else fails the download with the server's words.
 * DOM-free: the page sends what it asks for and hands it the frames; specs drive it with a fake socket.
 */

export const MAX_RAW_READINGS = 100_000;
// docs/asyncapi.yaml x-limits: the largest maxPoints a history request may ask for.
const MAX_POINTS = 5000;
// Fewer buckets than this in a request could let the server pick a coarser level (1 h has 12 × 5 min ...):
// with at least 12 buckets of a level, no coarser level gives as many, so the server answers at this level.
const MIN_CHUNK_BUCKETS = 12;
const LEVELS = [
  { name: '1m', ms: 60_000 },
  { name: '10m', ms: 600_000 },
  { name: '1h', ms: 3_600_000 },
] as const;
export type ExportResolution = 'raw' | (typeof LEVELS)[number]['name'];

export const REQUEST_PREFIX = 'csv-';

export interface CsvExportOptions {
  send: (frame: unknown) => void;
  devices: readonly string[];
  since: number;
  until: number;
  maxRawReadings?: number;
  /** Progress, 0 to 1, with what is being done. */
  onProgress?: (fraction: number, what: string) => void;
  /** No frame of a reply for this long fails the download. */
  replyTimeoutMs?: number;
  /** Requests one download may make at most (a bound, whatever the data). */
  maxRequests?: number;
  /** `rate_limited` retries per request. */
  maxRateRetries?: number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

export interface CsvExportResult {
  csv: string;
  resolution: ExportResolution;
  rows: number;
  /** Readings in the window, as the rollup buckets count them. */
  readings: number;
  requests: number;
}

export class ExportFailed extends Error {
  override name = 'ExportFailed';
}

interface Point {
  ts: number;
  id?: string;
  data: Record<string, unknown>;
  min?: Record<string, number>;
  max?: Record<string, number>;
  mean?: Record<string, number>;
  count?: number;
}

interface Reply {
  resolution: string;
  downsampled: boolean;
  points: Point[];
  next?: number;
}

interface Row {
  ts: number;
  count: number;
  min: Map<string, number>;
  max: Map<string, number>;
  mean: Map<string, number>;
  last: Map<string, number>;
}

interface DeviceData {
  /** Rollup rows by bucket start: the server's, or folded from raw readings. */
  rows: Map<number, Row>;
  /** Buckets the server answered (so no raw readings are held for them yet). */
  serverBuckets: Set<number>;
  raw: Map<string, Point>;
}

interface Request {
  deviceId: string;
  since: number;
  until: number;
  maxPoints: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** RFC 4180, as scripts/historyExport.ts: a field with a comma, a quote or a line break is quoted, quotes doubled. */
export const csvField = (value: unknown): string => {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};
const csvLine = (fields: unknown[]) => `${fields.map(csvField).join(',')}\r\n`;
const FIXED_COLUMNS = new Set(['resolution', 'device', 'time', 'ts', 'id', 'count', 'other']);
/** A field's column: its name, or `data.<name>` when that is one of the fixed columns (a device may send `time`). */
const column = (name: string) => (FIXED_COLUMNS.has(name) || name.startsWith('data.') ? `data.${name}` : name);
// Raw: a field past this many columns goes in `other` (JSON), as a field the export meets after its header does.
const MAX_FIELD_COLUMNS = 200;

/** The finest rollup level that gives at most `maxRows` buckets in the window (the export's choice). */
export const exportLevel = (since: number, until: number, maxRows: number) => LEVELS.find((l) => (until - since + 1) / l.ms <= maxRows) ?? LEVELS[LEVELS.length - 1]!;

const pointOf = (p: unknown): Point | undefined => {
  if (!isObject(p) || !isFiniteNumber(p.ts) || !isObject(p.data)) return undefined;
  const point: Point = { ts: p.ts, data: p.data };
  if (typeof p.id === 'string') point.id = p.id;
  if (isObject(p.min)) point.min = p.min as Record<string, number>;
  if (isObject(p.max)) point.max = p.max as Record<string, number>;
  if (isObject(p.mean)) point.mean = p.mean as Record<string, number>;
  if (isFiniteNumber(p.count)) point.count = p.count;
  return point;
};

const rowOf = (p: Point): Row => {
  const row: Row = { ts: p.ts, count: p.count ?? 0, min: new Map(), max: new Map(), mean: new Map(), last: new Map() };
  for (const [field, low] of Object.entries(p.min ?? {})) {
    if (!isFiniteNumber(low)) continue;
    row.min.set(field, low);
    if (isFiniteNumber(p.max?.[field])) row.max.set(field, p.max[field]);
    if (isFiniteNumber(p.mean?.[field])) row.mean.set(field, p.mean[field]);
    const last = Object.hasOwn(p.data, field) ? p.data[field] : undefined;
    if (isFiniteNumber(last)) row.last.set(field, last);
  }
  return row;
};

/** Raw readings folded into one level's buckets, as the server's rollups fold them (history/rollups.ts). */
const foldRaw = (points: Iterable<Point>, ms: number): Map<number, Row> => {
  const sorted = [...points].sort((a, b) => a.ts - b.ts || ((a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0));
  const rows = new Map<number, Row>();
  const sums = new Map<number, Map<string, [number, number]>>();
  for (const p of sorted) {
    const start = Math.floor(p.ts / ms) * ms;
    let row = rows.get(start);
    if (!row) {
      row = { ts: start, count: 0, min: new Map(), max: new Map(), mean: new Map(), last: new Map() };
      rows.set(start, row);
      sums.set(start, new Map());
    }
    row.count++;
    const sum = sums.get(start)!;
    for (const [field, value] of Object.entries(p.data)) {
      if (!isFiniteNumber(value)) continue;
      row.min.set(field, Math.min(row.min.get(field) ?? value, value));
      row.max.set(field, Math.max(row.max.get(field) ?? value, value));
      row.last.set(field, value);
      const [s, n] = sum.get(field) ?? [0, 0];
      sum.set(field, [s + value, n + 1]);
    }
  }
  for (const [start, sum] of sums) for (const [field, [s, n]] of sum) rows.get(start)!.mean.set(field, s / n);
  return rows;
};

export class CsvExport {
  private readonly send: (frame: unknown) => void;
  private readonly maxRaw: number;
  private readonly replyTimeoutMs: number;
  private readonly maxRequests: number;
  private readonly maxRateRetries: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly progress: (fraction: number, what: string) => void;
  private requests = 0;
  private waiting:
    | { requestId: string; points: Point[]; resolve: (reply: Reply) => void; reject: (error: Error) => void; timer: unknown; head?: { resolution: string; downsampled: boolean } }
    | undefined;
  private failed: Error | undefined;

  constructor(private readonly options: CsvExportOptions) {
    this.send = options.send;
    this.maxRaw = options.maxRawReadings ?? MAX_RAW_READINGS;
    this.replyTimeoutMs = options.replyTimeoutMs ?? 30_000;
    this.maxRequests = options.maxRequests ?? 2000;
    this.maxRateRetries = options.maxRateRetries ?? 5;
    this.setTimer = options.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimeout ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
    this.progress = options.onProgress ?? (() => {});
  }

  /** A frame from the socket: true when it is a reply to this download. */
  onFrame(frame: Record<string, unknown>): boolean {
    const requestId = frame.requestId;
    if (typeof requestId !== 'string' || !requestId.startsWith(REQUEST_PREFIX)) return false;
    const waiting = this.waiting;
    if (!waiting || waiting.requestId !== requestId) return true;
    if (frame.type === 'error') {
      this.settle();
      const error = new ExportFailed(String(frame.message ?? frame.code ?? 'error'));
      (error as ExportFailed & { code?: string }).code = typeof frame.code === 'string' ? frame.code : undefined;
      waiting.reject(error);
      return true;
    }
    if (frame.type !== 'history') return true;
    this.arm(waiting);
    waiting.head ??= { resolution: String(frame.resolution ?? 'raw'), downsampled: frame.downsampled === true };
    if (Array.isArray(frame.points)) for (const p of frame.points) {
      const point = pointOf(p);
      if (point) waiting.points.push(point);
    }
    if (frame.done === true) {
      this.settle();
      const next = frame.truncated === true && isObject(frame.next) && isFiniteNumber(frame.next.since) ? frame.next.since : undefined;
      waiting.resolve({ ...waiting.head, points: waiting.points, ...(next === undefined ? {} : { next }) });
    }
    return true;
  }

  /** The socket closed: a reply in flight will not come. */
  onClose(): void {
    this.fail(new ExportFailed('the connection closed during the download'));
  }

  /** Stops the download (the page's range changed, or the page left). */
  cancel(): void {
    this.fail(new ExportFailed('cancelled'));
  }

  private fail(error: Error): void {
    this.failed ??= error;
    const waiting = this.waiting;
    this.settle();
    waiting?.reject(error);
  }

  private settle(): void {
    if (this.waiting) this.clearTimer(this.waiting.timer);
    this.waiting = undefined;
  }

  private arm(waiting: NonNullable<CsvExport['waiting']>): void {
    this.clearTimer(waiting.timer);
    waiting.timer = this.setTimer(() => this.fail(new ExportFailed(`no reply from the server for ${Math.round(this.replyTimeoutMs / 1000)} s`)), this.replyTimeoutMs);
  }

  /** One history request and its whole reply; a `rate_limited` answer waits as it says and asks again. */
  private async ask(request: Request): Promise<Reply> {
    for (let attempt = 0; ; attempt++) {
      if (this.failed) throw this.failed;
      if (this.requests >= this.maxRequests) throw new ExportFailed(`the download needs more than ${this.maxRequests} history requests; choose a shorter range or fewer devices`);
      const requestId = `${REQUEST_PREFIX}${++this.requests}`;
      const reply = new Promise<Reply>((resolve, reject) => {
        this.waiting = { requestId, points: [], resolve, reject, timer: undefined };
        this.arm(this.waiting);
      });
      this.send({ action: 'history', deviceId: request.deviceId, since: request.since, until: request.until, maxPoints: request.maxPoints, requestId });
      try {
        return await reply;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code !== 'rate_limited' || attempt >= this.maxRateRetries) throw error;
        // "retry in N s" (history/history.ts checkRate); at least a second.
        const seconds = Number(/retry in (\d+)/.exec((error as Error).message)?.[1] ?? 1);
        this.progress(-1, `rate limited: retrying in ${seconds} s`);
        await new Promise<void>((resolve) => this.setTimer(resolve, Math.max(1, seconds) * 1000));
      }
    }
  }

  async run(): Promise<CsvExportResult> {
    const { devices, since, until } = this.options;
    const level = exportLevel(since, until, this.maxRaw);
    const data = new Map<string, DeviceData>(devices.map((d) => [d, { rows: new Map(), serverBuckets: new Set(), raw: new Map() }]));
    const first = Math.floor(since / level.ms) * level.ms;
    const lastBucket = Math.floor(until / level.ms) * level.ms;
    const bucketsInWindow = (lastBucket - first) / level.ms + 1;
    const span = (until - since + 1) * devices.length;
    let covered = 0;

    // 1. Count, chunk by chunk of whole buckets.
    for (const deviceId of devices) {
      const device = data.get(deviceId)!;
      let start = first;
      while (start <= lastBucket) {
        const left = (lastBucket - start) / level.ms + 1;
        let buckets = Math.min(MAX_POINTS, left);
        let chunkStart = start;
        if (buckets < MIN_CHUNK_BUCKETS) {
          buckets = MIN_CHUNK_BUCKETS;
          // The window's last chunk ends at its last bucket: begin it earlier (inside the window when it is long enough).
          if (bucketsInWindow >= MIN_CHUNK_BUCKETS) chunkStart = lastBucket - (MIN_CHUNK_BUCKETS - 1) * level.ms;
        }
        const chunkUntil = chunkStart + buckets * level.ms - 1;
        let reply = await this.ask({ deviceId, since: chunkStart, until: chunkUntil, maxPoints: buckets });
        for (;;) {
          this.take(device, reply, first, until);
          if (reply.next === undefined || reply.next > chunkUntil) break;
          // Cut short: the rest of the chunk (a point that comes twice is kept once, by id or bucket).
          reply = await this.ask({ deviceId, since: reply.next, until: chunkUntil, maxPoints: Math.max(MIN_CHUNK_BUCKETS, Math.min(MAX_POINTS, Math.ceil((chunkUntil - reply.next + 1) / level.ms))) });
        }
        covered += Math.min(chunkUntil, until) - Math.max(start, since) + 1;
        this.progress(covered / span / 2, 'counting readings');
        start = chunkStart + buckets * level.ms;
      }
      // Buckets answered raw: folded as the server folds them, where the server sent none.
      for (const [ts, row] of foldRaw(device.raw.values(), level.ms)) if (ts >= first && ts <= lastBucket && !device.serverBuckets.has(ts)) device.rows.set(ts, row);
    }
    let readings = 0;
    for (const device of data.values()) for (const row of device.rows.values()) readings += row.count;

    if (readings > this.maxRaw) return this.finish(this.rollupCsv(data, level.name), level.name, readings);

    // 2. Raw readings where the server answered with buckets: windows of at most MAX_POINTS readings by their counts.
    const plans: Request[] = [];
    for (const [deviceId, device] of data) {
      const buckets = [...device.serverBuckets].sort((a, b) => a - b);
      let group: { from: number; to: number; count: number } | undefined;
      const close = () => {
        if (group) plans.push({ deviceId, since: Math.max(since, group.from), until: Math.min(until, group.to), maxPoints: MAX_POINTS });
        group = undefined;
      };
      for (const ts of buckets) {
        const count = device.rows.get(ts)?.count ?? 0;
        if (count === 0) continue;
        if (group && (group.to + 1 !== ts || group.count + count > MAX_POINTS)) close();
        if (group) {
          group.to = ts + level.ms - 1;
          group.count += count;
        } else group = { from: ts, to: ts + level.ms - 1, count };
      }
      close();
    }
    const total = plans.reduce((sum, p) => sum + (p.until - p.since + 1), 0);
    let fetched = 0;
    while (plans.length > 0) {
      const request = plans.shift()!;
      if (request.since > request.until) continue;
      const reply = await this.ask(request);
      const device = data.get(request.deviceId)!;
      if (reply.resolution !== 'raw' || reply.downsampled) {
        // More readings than maxPoints after all (written since the count, or one bucket of more): halve the window.
        if (request.until - request.since < 1) throw new ExportFailed(`${request.deviceId}: more than ${MAX_POINTS} readings at one millisecond`);
        const middle = Math.floor((request.since + request.until) / 2);
        plans.unshift({ ...request, until: middle }, { ...request, since: middle + 1 });
        continue;
      }
      for (const p of reply.points) this.keepRaw(device, p);
      if (reply.next !== undefined && reply.next <= request.until) {
        plans.unshift({ ...request, since: reply.next });
        fetched += reply.next - request.since;
      } else fetched += request.until - request.since + 1;
      this.progress(0.5 + (total === 0 ? 0.5 : (fetched / total) * 0.5), 'fetching raw readings');
    }
    return this.finish(this.rawCsv(data, since, until), 'raw', readings);
  }

  private take(device: DeviceData, reply: Reply, first: number, until: number): void {
    if (reply.resolution === 'raw') {
      for (const p of reply.points) this.keepRaw(device, p);
      return;
    }
    for (const p of reply.points) {
      if (p.ts < first || p.ts > until) continue;
      device.rows.set(p.ts, rowOf(p));
      device.serverBuckets.add(p.ts);
    }
  }

  private keepRaw(device: DeviceData, p: Point): void {
    device.raw.set(p.id ?? `${p.ts}`, p);
  }

  private finish(csv: string, resolution: ExportResolution, readings: number): CsvExportResult {
    this.progress(1, 'done');
    const rows = Math.max(0, csv.split('\r\n').length - 2);
    return { csv, resolution, rows, readings, requests: this.requests };
  }

  /** Columns as `npm run export` writes them; with several devices, a `device` column after `resolution`. */
  private rawCsv(data: Map<string, DeviceData>, since: number, until: number): string {
    const several = data.size > 1;
    const names: string[] = [];
    const seen = new Set<string>();
    const perDevice = [...data].map(([deviceId, device]) => {
      const points = [...device.raw.values()]
        .filter((p) => p.ts >= since && p.ts <= until)
        .sort((a, b) => a.ts - b.ts || ((a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0));
      for (const p of points) for (const name of Object.keys(p.data)) if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
      return [deviceId, points] as const;
    });
    const columns = names.slice(0, MAX_FIELD_COLUMNS);
    const inColumns = new Set(columns);
    let csv = csvLine(['resolution', ...(several ? ['device'] : []), 'time', 'ts', 'id', ...columns.map(column), 'other']);
    for (const [deviceId, points] of perDevice) {
      for (const p of points) {
        const other: Record<string, unknown> = {};
        let hasOther = false;
        for (const [name, value] of Object.entries(p.data)) {
          if (inColumns.has(name)) continue;
          Object.defineProperty(other, name, { value, enumerable: true });
          hasOther = true;
        }
        csv += csvLine(['raw', ...(several ? [deviceId] : []), new Date(p.ts).toISOString(), p.ts, p.id, ...columns.map((c) => (Object.hasOwn(p.data, c) ? p.data[c] : undefined)), hasOther ? other : undefined]);
      }
    }
    return csv;
  }

  private rollupCsv(data: Map<string, DeviceData>, levelName: string): string {
    const several = data.size > 1;
    const names: string[] = [];
    const seen = new Set<string>();
    for (const device of data.values()) for (const row of device.rows.values()) for (const name of row.min.keys()) if (!seen.has(name)) {
      seen.add(name);
      names.push(name);
    }
    let csv = csvLine(['resolution', ...(several ? ['device'] : []), 'time', 'ts', 'count', ...names.map(column).flatMap((c) => [`${c}_min`, `${c}_max`, `${c}_mean`, `${c}_last`])]);
    for (const [deviceId, device] of data) {
      for (const row of [...device.rows.values()].sort((a, b) => a.ts - b.ts)) {
        const stats = (c: string): unknown[] => (row.min.has(c) ? [row.min.get(c), row.max.get(c), row.mean.get(c), row.last.get(c)] : ['', '', '', '']);
        csv += csvLine([levelName, ...(several ? [deviceId] : []), new Date(row.ts).toISOString(), row.ts, row.count, ...names.flatMap(stats)]);
      }
    }
    return csv;
  }
}
