/**
 * Everything the page knows, updated one server frame at a time. DOM-free:
 * the view reads it, tests feed it frames.
 */
import { RecentIds, messageKey, telemetryKey } from './dedup.js';
import { PresenceBook } from './fleet/presenceBook.js';
import { type SilenceOptions, SilenceDetector } from './fleet/silence.js';
import { type ClientFrame, type ServerFrame, parseServerFrame } from './frames.js';
import { GapFill, type HistoryRequest } from './history.js';
import { LatencyWindow } from './latency.js';
import { SubscriptionPlanner } from './subscriptions.js';
import { type StoreOptions, TelemetryStore } from './telemetryStore.js';

export interface Notice {
  key: string;
  code: string;
  message: string;
  firstAt: number;
  lastAt: number;
  count: number;
}

export interface ModelOptions extends StoreOptions {
  scope: string[] | '*';
  devices?: string[];
  dedupCapacity?: number;
  latencySamples?: number;
  maxNotices?: number;
  silence?: SilenceOptions;
}

export type Outcome =
  /** With a seq gap, `requests` refill the range between the two readings from history. */
  | { kind: 'telemetry'; deviceId: string; gap?: number; requests?: HistoryRequest[] }
  | { kind: 'duplicate'; id: string }
  | { kind: 'subscription' }
  | { kind: 'error'; notice: Notice }
  | { kind: 'pong' | 'sent' | 'message' }
  /** The server shed readings of `deviceId` in [from, to]: refill that range from history. */
  | { kind: 'resync'; deviceId: string; from: number; to: number; requests: HistoryRequest[] }
  /** `next` asks for the following page of devices (the snapshot carried a cursor). */
  | { kind: 'snapshot'; requests: HistoryRequest[]; next?: Extract<ClientFrame, { action: 'devices' }> }
  | { kind: 'presence'; deviceId: string; changed: boolean }
  | { kind: 'history'; deviceId: string; added: number }
  | { kind: 'invalid'; reason: string }
  /** A telemetry-batch frame: what each of its readings did, exactly as if each were a telemetry frame. */
  | { kind: 'batch'; outcomes: Outcome[]; invalid: number };

export class DashboardModel {
  readonly store: TelemetryStore;
  readonly recent: RecentIds;
  readonly latency: LatencyWindow;
  readonly subscriptions: SubscriptionPlanner;
  /** Charts filled from history on open and after every reconnect (./history.ts). */
  readonly history: GapFill;
  /** Each device's presence (IoT Core lifecycle events) and its own reporting rhythm (./fleet/). */
  readonly presence = new PresenceBook();
  readonly silence: SilenceDetector;
  readonly counters = { frames: 0, telemetry: 0, duplicates: 0, invalid: 0, messages: 0, resyncs: 0 };
  lastFrameAt: number | undefined;
  lastTelemetryAt: number | undefined;
  private readonly maxNotices: number;
  private readonly noticeList: Notice[] = [];
  /** Arrival times of recent telemetry, for the message rate. */
  private readonly arrivals: number[] = [];

  constructor(options: ModelOptions) {
    this.store = new TelemetryStore(options);
    this.recent = new RecentIds(options.dedupCapacity ?? 10_000);
    this.latency = new LatencyWindow(options.latencySamples ?? 100);
    this.subscriptions = new SubscriptionPlanner(options.scope, options.devices);
    this.history = new GapFill({ store: this.store });
    this.maxNotices = options.maxNotices ?? 5;
    this.silence = new SilenceDetector(options.silence);
  }

  /** Notices for the user, newest first. */
  get notices(): readonly Notice[] {
    return this.noticeList;
  }

  /** Every device the page can show: seen, wanted, or in the token's list. */
  knownDevices(): string[] {
    const ids = new Set(this.store.deviceIds());
    for (const id of this.subscriptions.confirmed() ?? []) if (id !== '*') ids.add(id);
    if (this.subscriptions.scope !== '*') for (const id of this.subscriptions.scope) ids.add(id);
    return [...ids].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  }

  /** Telemetry messages per second over the last `spanMs`. */
  rate(now: number, spanMs = 5_000): number {
    const since = now - spanMs;
    while (this.arrivals.length > 0 && this.arrivals[0] < since) this.arrivals.shift();
    return this.arrivals.length / (spanMs / 1000);
  }

  receive(text: unknown, now: number): Outcome {
    this.counters.frames++;
    this.lastFrameAt = now;
    return this.apply(parseServerFrame(text), now);
  }

  apply(frame: ServerFrame, now: number): Outcome {
    switch (frame.type) {
      case 'telemetry': {
        if (!this.recent.admit(telemetryKey(frame.deviceId, frame.id))) {
          this.counters.duplicates++;
          return { kind: 'duplicate', id: frame.id };
        }
        this.counters.telemetry++;
        this.lastTelemetryAt = now;
        this.arrivals.push(now);
        if (this.arrivals.length > 10_000) this.arrivals.shift();
        this.latency.add(now - frame.ts);
        this.silence.observe(frame.deviceId, now);
        const previousTs = this.store.device(frame.deviceId)?.lastTs;
        // A reading that history brought already is merged silently: it is not a duplicate delivery.
        const { gap } = this.store.ingest(frame, now);
        if (gap === undefined) return { kind: 'telemetry', deviceId: frame.deviceId };
        // What the gap misses lies between the two readings: history has it (a shed, or a reading still on its way).
        const request = previousTs !== undefined && previousTs < frame.ts ? this.history.refillGap(frame.deviceId, previousTs, frame.ts) : undefined;
        const requests = request ? [request] : [];
        return { kind: 'telemetry', deviceId: frame.deviceId, gap, requests };
      }
      case 'telemetry-batch': {
        const outcomes = frame.readings.map((reading) => this.apply(reading, now));
        this.counters.invalid += frame.invalid;
        return { kind: 'batch', outcomes, invalid: frame.invalid };
      }
      case 'message':
        if (!this.recent.admit(messageKey(frame.id))) {
          this.counters.duplicates++;
          return { kind: 'duplicate', id: frame.id };
        }
        this.counters.messages++;
        return { kind: 'message' };
      case 'subscribed':
      case 'unsubscribed':
        this.subscriptions.onReply(frame);
        return { kind: 'subscription' };
      case 'snapshot': {
        for (const entry of frame.devices) {
          if (entry.presence) this.presence.apply(entry.deviceId, entry.presence);
          if (entry.ts > 0) this.silence.observe(entry.deviceId, entry.receivedAt);
        }
        // Devices connected but not reported yet have presence only: nothing to chart.
        const readings = frame.devices.filter((entry) => entry.ts > 0);
        const requests = this.history.onSnapshot(readings.length === frame.devices.length ? frame : { ...frame, devices: readings }, now);
        const next = frame.cursor === undefined || !frame.done ? undefined : { action: 'devices' as const, cursor: frame.cursor, ...(frame.requestId === undefined ? {} : { requestId: frame.requestId }) };
        return { kind: 'snapshot', requests, ...(next ? { next } : {}) };
      }
      case 'presence':
        return { kind: 'presence', deviceId: frame.deviceId, changed: this.presence.apply(frame.deviceId, { state: frame.state, since: frame.since, ...(frame.reason ? { reason: frame.reason } : {}) }) };
      case 'history': {
        const { deviceId, added } = this.history.onHistory(frame, now);
        return { kind: 'history', deviceId, added };
      }
      case 'error': {
        if (frame.requestId !== undefined) {
          // The answer to a history or devices request: not about a subscription change.
          return { kind: 'error', notice: this.notify(frame.code, `history: ${frame.message}`, now) };
        }
        const refused = this.subscriptions.onError();
        const what = refused ? `${refused.action} ${refused.devices === '*' ? 'all devices' : refused.devices.join(', ')} refused: ` : '';
        return { kind: 'error', notice: this.notify(frame.code, `${what}${frame.message}`, now) };
      }
      case 'resync':
        this.counters.resyncs++;
        return { kind: 'resync', deviceId: frame.deviceId, from: frame.from, to: frame.to, requests: [this.history.refill(frame.deviceId, frame.from, frame.to)] };
      case 'pong':
        return { kind: 'pong' };
      case 'sent':
        return { kind: 'sent' };
      case 'invalid':
        this.counters.invalid++;
        return { kind: 'invalid', reason: frame.reason };
    }
  }

  /** Adds a notice for the user; a repeat of the same one counts up instead of stacking. */
  notify(code: string, message: string, now: number): Notice {
    const key = `${code}\n${message}`;
    const existing = this.noticeList.find((n) => n.key === key);
    if (existing) {
      existing.count++;
      existing.lastAt = now;
      this.noticeList.splice(this.noticeList.indexOf(existing), 1);
      this.noticeList.unshift(existing);
      return existing;
    }
    const notice: Notice = { key, code, message, firstAt: now, lastAt: now, count: 1 };
    this.noticeList.unshift(notice);
    this.noticeList.length = Math.min(this.noticeList.length, this.maxNotices);
    return notice;
  }

  dismiss(key: string): void {
    const at = this.noticeList.findIndex((n) => n.key === key);
    if (at >= 0) this.noticeList.splice(at, 1);
  }
}
