/**
 * The page's time range and every device's range charts: the range bar (live, 1 h, 24 h, 7 d,
 * 30 d, a custom from/to, Download CSV), the address (dashboard/src/timeRange.ts), one `history`
 * request per device for the range (maxPoints about the chart's width in pixels: the server answers
 * raw readings or rollup buckets, whichever the window needs), a zoom from any chart applied to every
 * chart, and live readings extending the charts while the range includes now.
 */
import { type TimeRange, LIVE, PRESETS, describeRange, includesNow, parseTimeRange, sameRange, windowOf, withTimeRange } from '../timeRange.js';
import { h } from '../view/dom.js';
import { CsvExport, REQUEST_PREFIX as CSV_REQUEST_PREFIX } from './csvExport.js';
import { FieldCharts } from './fieldCharts.js';
import { type ChartSeries, type RangePoint, RangeSeries } from './rangeSeries.js';

const REQUEST_PREFIX = 'range-';
// A reply cut short (truncated) is continued at most this many times.
const MAX_CONTINUATIONS = 10;

export interface RangeViewOptions {
  send: (frame: unknown) => void;
  isOpen: () => boolean;
  now?: () => number;
  /** The page's address: read at start, rewritten on every range change (history.replaceState). */
  address?: { search: () => string; replace: (search: string) => void };
  maxPoints?: number;
  /**
   * Live (the default range), the page's gap-fill already asks for each device's last minutes and its live window
   * holds them with every live reading: the range charts draw that window (`liveSeries`, ./storeSeries.ts)
   * instead of asking a second time and holding a copy.
   */
  liveSeries?: (deviceId: string) => ChartSeries;
  /** The charts of a device now show [since, until]: their alarm marks for that window are wanted. */
  onWindow?: (deviceId: string, since: number, until: number) => void;
}

// Past this many devices on the page (the `?devices=*` view of a fleet), no per-device alarm transitions are asked
// for: the marks come from live alarm frames only (docs/decisions/012-dashboard-page-structure.md: a large fleet).
const MAX_DEVICES_WITH_PAST_MARKS = 50;
const LIVE_DRAW_MS = 250;

interface Pending {
  deviceId: string;
  generation: number;
  until: number;
  continuations: number;
  fresh: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class RangeView {
  readonly bar: HTMLElement;
  range: TimeRange;
  /** `series`: the range's own points, empty while the charts draw the live window (`live`). */
  private readonly devices = new Map<string, { series: RangeSeries; live: ChartSeries | undefined; charts: FieldCharts; generation: number }>();
  private readonly pending = new Map<string, Pending>();
  private requests = 0;
  private readonly now: () => number;
  private readonly address: NonNullable<RangeViewOptions['address']>;
  private readonly maxPoints: number;
  private readonly status: HTMLElement;
  private readonly buttons = new Map<string, HTMLButtonElement>();
  private readonly fromInput: HTMLInputElement;
  private readonly toInput: HTMLInputElement;
  private readonly downloadButton: HTMLButtonElement;
  private exporting: CsvExport | undefined;

  constructor(private readonly options: RangeViewOptions) {
    this.now = options.now ?? Date.now;
    this.maxPoints = options.maxPoints ?? 600;
    this.address = options.address ?? {
      search: () => location.search,
      replace: (search) => history.replaceState(history.state, '', `${location.pathname}${search ? `?${search}` : ''}${location.hash}`),
    };
    this.range = parseTimeRange(new URLSearchParams(this.address.search()));
    this.status = h('span', { class: 'range-status', 'data-testid': 'range-status' });
    this.fromInput = h('input', { type: 'datetime-local', 'data-testid': 'range-from', 'aria-label': 'from' }) as HTMLInputElement;
    this.toInput = h('input', { type: 'datetime-local', 'data-testid': 'range-to', 'aria-label': 'to' }) as HTMLInputElement;
    const custom = h(
      'form',
      {
        class: 'range-custom',
        onsubmit: (event: Event) => {
          event.preventDefault();
          const from = Date.parse(this.fromInput.value);
          const to = Date.parse(this.toInput.value);
          if (Number.isFinite(from) && Number.isFinite(to) && from < to) this.setRange({ kind: 'fixed', from, to });
        },
      },
      this.fromInput,
      this.toInput,
      h('button', { type: 'submit', 'data-testid': 'range-apply' }, 'Apply'),
    );
    const presets = PRESETS.map(({ label, range }) => {
      const button = h('button', { type: 'button', 'data-testid': `range-${range.kind === 'recent' ? range.name : 'custom'}`, onclick: () => this.setRange(range) }, label);
      this.buttons.set(range.kind === 'recent' ? range.name : 'custom', button);
      return button;
    });
    this.downloadButton = h('button', { type: 'button', 'data-testid': 'download-csv', onclick: () => void this.download() }, 'Download CSV') as HTMLButtonElement;
    this.bar = h('section', { class: 'toolbar range-bar', 'data-testid': 'range-bar', 'aria-label': 'Time range' }, ...presets, custom, this.downloadButton, this.status);
    // A scrolling range moves every second.
    setInterval(() => this.tick(), 1000);
    this.renderBar();
  }

  /** The device's range charts, placed in its card; asks for its history if the socket is open. */
  attach(deviceId: string, container: HTMLElement): void {
    if (this.devices.has(deviceId)) return;
    const series = new RangeSeries(deviceId);
    const live = this.options.liveSeries?.(deviceId);
    const charts = new FieldCharts(this.followsGapFill() ? live! : series, {
      window: () => windowOf(this.range, this.now()),
      onZoom: (from, to) => this.setRange({ kind: 'fixed', from: Math.floor(from), to: Math.ceil(to) }),
      onLive: () => this.setRange(LIVE),
    });
    container.append(charts.root);
    this.devices.set(deviceId, { series, live, charts, generation: 0 });
    if (this.options.isOpen()) this.askMarks(deviceId);
    if (this.followsGapFill()) this.queueDraw();
    else if (this.options.isOpen()) this.request(deviceId);
  }

  /** The default live range, with the page's live window: the gap-fill's history and live readings serve the range charts too. */
  private followsGapFill(): boolean {
    return this.options.liveSeries !== undefined && sameRange(this.range, LIVE);
  }

  detach(deviceId: string): void {
    this.devices.get(deviceId)?.charts.destroy();
    this.devices.delete(deviceId);
  }

  /** A new range for the whole page: the address, and every device's history asked for again. */
  setRange(range: TimeRange): void {
    if (!sameRange(range, this.range)) {
      this.range = range;
      this.address.replace(withTimeRange(new URLSearchParams(this.address.search()), range).toString());
    }
    this.renderBar();
    if (this.followsGapFill()) {
      // The live window is held already: no request, and the last range's points are let go.
      for (const [deviceId, device] of this.devices) {
        device.generation++;
        device.series.replace([], 'raw');
        device.charts.setSeries(device.live!);
        this.askMarks(deviceId);
      }
      return;
    }
    for (const [deviceId, device] of this.devices) {
      device.charts.setSeries(device.series);
      this.request(deviceId);
    }
  }

  /** The socket opened (or reopened): every device's range again (live: the gap-fill asks, and its replies come here too). */
  onOpen(): void {
    if (this.followsGapFill()) {
      for (const deviceId of this.devices.keys()) this.askMarks(deviceId);
      return;
    }
    for (const deviceId of this.devices.keys()) this.request(deviceId);
  }

  /** Every chart drawn again (the alarms changed: thresholds and marks). */
  redraw(): void {
    for (const { charts } of this.devices.values()) charts.draw(true);
  }

  private askMarks(deviceId: string): void {
    if (!this.options.onWindow || this.devices.size > MAX_DEVICES_WITH_PAST_MARKS) return;
    const { since, until } = windowOf(this.range, this.now());
    this.options.onWindow(deviceId, since, until);
  }

  /**
   * A frame from the server. History replies and errors to this view's requests are its own (true: the
   * page need not look at them); live readings extend the charts and go on to the page too (false).
   */
  onFrame(text: unknown): boolean {
    if (typeof text !== 'string') return false;
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return false;
    }
    if (!isObject(frame)) return false;
    const requestId = typeof frame.requestId === 'string' ? frame.requestId : undefined;
    if (requestId?.startsWith(CSV_REQUEST_PREFIX)) {
      this.exporting?.onFrame(frame);
      return true;
    }
    if (requestId?.startsWith(REQUEST_PREFIX)) {
      const pending = this.pending.get(requestId);
      if (frame.type === 'history' && pending) this.onHistory(requestId, pending, frame);
      if (frame.type === 'error') {
        this.pending.delete(requestId);
        this.status.textContent = `${pending?.deviceId ?? ''}: ${String(frame.message ?? frame.code)}`;
      }
      return true;
    }
    if (this.followsGapFill()) {
      // The gap-fill's replies and live readings go into the page's live window, which these charts draw.
      if (frame.type === 'history' || frame.type === 'telemetry' || frame.type === 'telemetry-batch') this.queueDraw();
      return false;
    }
    if (!includesNow(this.range, this.now())) return false;
    if (frame.type === 'telemetry') this.live(frame);
    if (frame.type === 'telemetry-batch' && Array.isArray(frame.readings)) for (const reading of frame.readings) if (isObject(reading)) this.live(reading);
    return false;
  }

  private live(reading: Record<string, unknown>): void {
    const device = typeof reading.deviceId === 'string' ? this.devices.get(reading.deviceId) : undefined;
    if (!device || typeof reading.ts !== 'number' || !isObject(reading.data)) return;
    device.series.addLive({
      ts: reading.ts,
      data: reading.data,
      ...(typeof reading.id === 'string' ? { id: reading.id } : {}),
      ...(isObject(reading.min) ? { min: reading.min as Record<string, number> } : {}),
      ...(isObject(reading.max) ? { max: reading.max as Record<string, number> } : {}),
    });
    this.queueDraw();
  }

  private onHistory(requestId: string, pending: Pending, frame: Record<string, unknown>): void {
    const device = this.devices.get(pending.deviceId);
    if (!device || device.generation !== pending.generation) {
      if (frame.done === true) this.pending.delete(requestId);
      return;
    }
    const points = (Array.isArray(frame.points) ? frame.points : []).filter((p): p is RangePoint => isObject(p) && typeof p.ts === 'number' && isObject(p.data));
    if (pending.fresh) {
      device.series.replace(points, typeof frame.resolution === 'string' ? frame.resolution : frame.downsampled === true ? 'downsampled' : 'raw', typeof frame.bucketMs === 'number' ? frame.bucketMs : undefined);
      pending.fresh = false;
    } else device.series.append(points);
    if (frame.done === true) {
      this.pending.delete(requestId);
      const next = isObject(frame.next) && typeof frame.next.since === 'number' ? frame.next.since : undefined;
      if (frame.truncated === true && next !== undefined && next < pending.until && pending.continuations < MAX_CONTINUATIONS) {
        this.send(pending.deviceId, next, pending.until, { ...pending, continuations: pending.continuations + 1, fresh: false });
      } else {
        this.status.textContent = `${describeRange(this.range)} · ${device.series.resolution === 'raw' ? 'raw readings' : `${device.series.resolution} buckets`}`;
      }
    }
    this.queueDraw();
  }

  private request(deviceId: string): void {
    const device = this.devices.get(deviceId);
    if (!device || !this.options.isOpen()) return;
    device.generation++;
    this.askMarks(deviceId);
    const { since, until } = windowOf(this.range, this.now());
    this.send(deviceId, since, until, { deviceId, generation: device.generation, until, continuations: 0, fresh: true });
  }

  private send(deviceId: string, since: number, until: number, pending: Pending): void {
    const requestId = `${REQUEST_PREFIX}${++this.requests}`;
    this.pending.set(requestId, pending);
    this.options.send({ action: 'history', deviceId, since: Math.floor(since), until: Math.ceil(until), maxPoints: this.maxPoints, requestId });
  }

  private drawQueued = false;
  private queueDraw(): void {
    if (this.drawQueued) return;
    this.drawQueued = true;
    requestAnimationFrame(() => {
      this.drawQueued = false;
      // While the range includes now, a device's charts take new readings at most every LIVE_DRAW_MS: a 5-minute
      // window is about 600 ms a pixel wide, and redrawing every chart at each reading (10/s) held 50 pinned
      // devices far under 60 frames/s (bench/pinnedCharts.ts). A reply (a new range) draws at once.
      const throttle = includesNow(this.range, this.now()) ? LIVE_DRAW_MS : 0;
      let waiting = false;
      for (const { charts } of this.devices.values()) if (!charts.draw(false, throttle)) waiting = true;
      if (waiting) this.queueDraw();
    });
  }

  private tick(): void {
    if (this.range.kind !== 'recent') return;
    const { since } = windowOf(this.range, this.now());
    for (const { series, charts } of this.devices.values()) {
      series.trim(since);
      charts.draw(true);
    }
  }

  private renderBar(): void {
    for (const [name, button] of this.buttons) button.setAttribute('aria-pressed', String(this.range.kind === 'recent' && this.range.name === name));
    const { since, until } = windowOf(this.range, this.now());
    const local = (ms: number) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    this.fromInput.value = local(since);
    this.toInput.value = local(until);
    this.bar.dataset.range = describeRange(this.range);
  }

  /** The socket closed: a download in flight fails (its replies will not come). */
  onClose(): void {
    this.exporting?.onClose();
  }

  /**
   * Download CSV: the devices and range on screen by the export's rule (./csvExport.ts), fetched over the socket
   * with progress on the button; a failure says why in the range bar.
   */
  private async download(): Promise<void> {
    if (this.exporting) return;
    const button = this.downloadButton;
    const devices = [...this.devices.keys()];
    if (devices.length === 0 || !this.options.isOpen()) {
      this.failDownload(devices.length === 0 ? 'no device on screen' : 'not connected');
      return;
    }
    const { since, until } = windowOf(this.range, this.now());
    const exporting = new CsvExport({
      send: this.options.send,
      devices,
      since: Math.floor(since),
      until: Math.ceil(until),
      onProgress: (fraction, what) => {
        if (fraction >= 0) button.textContent = `Downloading… ${Math.floor(fraction * 100)}%`;
        button.title = what;
      },
    });
    this.exporting = exporting;
    button.disabled = true;
    button.dataset.state = 'busy';
    button.textContent = 'Downloading… 0%';
    try {
      const result = await exporting.run();
      const blob = new Blob([result.csv], { type: 'text/csv' });
      const name = `${devices.length === 1 ? devices[0] : `${devices.length}-devices`}-${describeRange(this.range)}-${result.resolution}`.replace(/[^A-Za-z0-9-]+/g, '_');
      const link = h('a', { href: URL.createObjectURL(blob), download: `${name}.csv` });
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      button.dataset.state = 'done';
      this.status.textContent = `CSV: ${result.rows.toLocaleString('en-US')} ${result.resolution === 'raw' ? 'readings' : `${result.resolution} rows`}`;
    } catch (error) {
      this.failDownload((error as Error).message);
    } finally {
      this.exporting = undefined;
      button.disabled = false;
      button.textContent = 'Download CSV';
    }
  }

  private failDownload(message: string): void {
    this.downloadButton.dataset.state = 'error';
    this.downloadButton.title = message;
    this.status.textContent = `Download failed: ${message}`;
  }
}
