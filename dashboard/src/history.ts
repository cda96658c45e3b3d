/**
 * Gap-fill: charts open on history and refill what a reconnect missed.
 *
 *   socket opens     → onOpen():     `{"action":"devices"}`
 *   snapshot arrives → onSnapshot(): each device's latest reading merged (quiet devices appear at once),
 *                                    then one `history` request per device not yet filled on this socket,
 *                                    from where its chart stood when the socket closed (or the window's start)
 *   history arrives  → onHistory():  points merged by (deviceId, id): no duplicates, open seq gaps closed
 *   resync(ids?)     → history requests for those devices (a token-renewal reconnect)
 *   refill(id, a, b) → one history request for [a, b]: a server `resync` frame (it shed a reading), or a seq gap
 *
 * DOM-free: the page sends what these return; tests drive it with frames.
 */
import type { ClientFrame, HistoryFrame, SnapshotFrame } from './frames.js';
import type { TelemetryStore } from './telemetryStore.js';

export type HistoryRequest = Extract<ClientFrame, { action: 'history' }>;

export interface GapFillOptions {
  store: TelemetryStore;
  /** Points per request: the server's largest (5,000) keeps a 1 Hz hour raw. */
  maxPoints?: number;
  /** Request ids: unique per page. */
  newRequestId?: () => string;
}

export interface MergeOutcome {
  deviceId: string;
  added: number;
  merged: number;
  done: boolean;
}

export class GapFill {
  private readonly store: TelemetryStore;
  private readonly maxPoints: number;
  private readonly newRequestId: () => string;
  /** Where each chart stood (newest ts) when the socket last closed. */
  private readonly coveredAt = new Map<string, number>();
  /** Devices whose history was asked for on this socket. */
  private readonly filled = new Set<string>();
  /** requestId → deviceId of replies still coming. */
  private readonly inFlight = new Map<string, string>();
  private counter = 0;

  constructor({ store, maxPoints = 5000, newRequestId }: GapFillOptions) {
    this.store = store;
    this.maxPoints = maxPoints;
    this.newRequestId = newRequestId ?? (() => `h${Date.now().toString(36)}-${++this.counter}`);
  }

  /** History replies not finished yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** The socket is open (first time or again): ask for the snapshot that starts the fill. */
  onOpen(): ClientFrame[] {
    this.filled.clear();
    this.inFlight.clear();
    return [{ action: 'devices', requestId: this.newRequestId() }];
  }

  /** The socket closed: remember how far each chart reaches, so the reconnect asks only for the rest. */
  onClose(): void {
    for (const id of this.store.deviceIds()) {
      const device = this.store.device(id)!;
      if (device.x.length > 0) this.coveredAt.set(id, Math.max(this.coveredAt.get(id) ?? -Infinity, device.lastTs));
    }
  }

  /** Merges a snapshot and returns the history requests to send. */
  onSnapshot(frame: SnapshotFrame, now: number): HistoryRequest[] {
    const requests: HistoryRequest[] = [];
    for (const reading of frame.devices) {
      this.store.merge(reading.deviceId, reading, now);
      const request = this.request(reading.deviceId, now);
      if (request) requests.push(request);
    }
    return requests;
  }

  /** History requests for these devices (default: every device the page has), from where each chart stands. */
  resync(now: number, deviceIds: readonly string[] = this.store.deviceIds()): HistoryRequest[] {
    for (const id of deviceIds) {
      this.filled.delete(id);
      const device = this.store.device(id);
      if (device && device.x.length > 0) this.coveredAt.set(id, device.lastTs);
    }
    return deviceIds.flatMap((id) => this.request(id, now) ?? []);
  }

  /**
   * One history request for [from, to] of a device (ts, both included): the server shed readings there (its
   * `resync` frame), or a seq gap lies between two readings. The merge drops what the chart has already.
   */
  refill(deviceId: string, from: number, to: number): HistoryRequest {
    const requestId = this.newRequestId();
    this.inFlight.set(requestId, deviceId);
    return { action: 'history', deviceId, since: Math.floor(from), until: Math.ceil(to), maxPoints: this.maxPoints, requestId };
  }

  /** As refill, for a seq gap; none while the socket's own fill of that device is still to come (it covers the gap). */
  refillGap(deviceId: string, from: number, to: number): HistoryRequest | undefined {
    return this.filled.has(deviceId) ? this.refill(deviceId, from, to) : undefined;
  }

  /** Merges one frame of a history reply into the charts. */
  onHistory(frame: HistoryFrame, now: number): MergeOutcome {
    let added = 0;
    let merged = 0;
    for (const point of frame.points) {
      const result = this.store.merge(frame.deviceId, { ts: point.ts, ...(typeof point.id === 'string' ? { id: point.id } : {}), data: point.data }, now);
      if (result.merged) merged++;
      else added++;
    }
    if (frame.done && frame.requestId !== undefined) this.inFlight.delete(frame.requestId);
    return { deviceId: frame.deviceId, added, merged, done: frame.done };
  }

  private request(deviceId: string, now: number): HistoryRequest | undefined {
    if (this.filled.has(deviceId)) return undefined;
    this.filled.add(deviceId);
    const windowStart = now - this.store.windowMs;
    const covered = this.coveredAt.get(deviceId);
    // The reading at `covered` is on the chart already; the merge drops it again if it comes back.
    const since = Math.max(windowStart, covered ?? windowStart);
    const requestId = this.newRequestId();
    this.inFlight.set(requestId, deviceId);
    return { action: 'history', deviceId, since: Math.floor(since), maxPoints: this.maxPoints, requestId };
  }
}
