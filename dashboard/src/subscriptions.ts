/**
 * Which devices this page receives: what the user wants, what the server has
 * confirmed, and the one `subscribe`/`unsubscribe` frame that moves the second
 * towards the first.
 *
 * One frame is in flight at a time: API Gateway may run two frames' Lambdas
 * concurrently, and `unsubscribe "*"` followed by `subscribe [...]` must not be
 * reordered. Server semantics this follows (connectionStore.ts): "*" is its own
 * subscription, so unsubscribing one device does nothing while "*" holds; and
 * `unsubscribe "*"` removes every subscription.
 */
import type { ClientFrame, DeviceSelection, SubscriptionFrame } from './frames.js';

export const ALL_DEVICES = '*';
// layers/shared/src/frames.ts: MAX_DEVICES_PER_FRAME
export const MAX_DEVICES_PER_FRAME = 50;
// A reply this late is presumed lost; the frame is sent again.
export const REPLY_TIMEOUT_MS = 15_000;

type SubscriptionAction = Extract<ClientFrame, { action: 'subscribe' | 'unsubscribe' }>;

export class SubscriptionPlanner {
  private wantAll: boolean;
  private readonly wanted = new Set<string>();
  /** Server-confirmed subscriptions ("*" is a member when held); undefined while disconnected. */
  private have: Set<string> | undefined;
  private pending: { frame: SubscriptionAction; sentAt: number } | undefined;

  /**
   * @param scope the token's `devices` claim ("*" without a token)
   * @param initial devices from `?devices=`; undefined means everything the token covers
   */
  constructor(
    readonly scope: DeviceSelection,
    initial?: readonly string[],
  ) {
    this.wantAll = !initial || initial.length === 0;
    for (const id of initial ?? []) this.wanted.add(id);
  }

  get mode(): 'all' | 'some' {
    return this.wantAll ? 'all' : 'some';
  }

  get connected(): boolean {
    return this.have !== undefined;
  }

  get inFlight(): SubscriptionAction | undefined {
    return this.pending?.frame;
  }

  /** Devices to name in the connect URL's `devices=`; undefined lets the server subscribe the token's scope. */
  connectDevices(): string[] | undefined {
    if (this.wantAll || this.wanted.size === 0 || this.wanted.size > MAX_DEVICES_PER_FRAME) return undefined;
    // $connect refuses the whole connection (403) for a device outside the token: those are asked for by a
    // subscribe frame after it opens, whose `forbidden` the page can show.
    const inScope = [...this.wanted].filter((id) => this.scope === ALL_DEVICES || this.scope.includes(id));
    return inScope.length > 0 ? inScope.sort() : undefined;
  }

  /** The socket opened with `devices` in its URL (or none): $connect subscribed exactly that. */
  onConnected(devices: readonly string[] | undefined): void {
    this.have = new Set(devices && devices.length > 0 ? devices : this.scope === ALL_DEVICES ? [ALL_DEVICES] : this.scope);
    this.pending = undefined;
  }

  onDisconnected(): void {
    this.have = undefined;
    this.pending = undefined;
  }

  /** The user wants this device (in "all" mode it already is, when the token covers it). */
  wants(deviceId: string): boolean {
    if (this.wantAll) return this.scope === ALL_DEVICES || this.scope.includes(deviceId);
    return this.wanted.has(deviceId);
  }

  /** The server has confirmed that this connection receives the device. */
  receives(deviceId: string): boolean {
    return this.have !== undefined && (this.have.has(ALL_DEVICES) || this.have.has(deviceId));
  }

  /** Server-confirmed subscriptions, for display. */
  confirmed(): string[] | undefined {
    return this.have ? [...this.have].sort() : undefined;
  }

  subscribe(deviceId: string): void {
    if (this.wants(deviceId)) return;
    if (this.wantAll) {
      // Only reachable with a list-scoped token: keep its devices and add this one.
      for (const id of this.scope) this.wanted.add(id);
      this.wantAll = false;
    }
    this.wanted.add(deviceId);
  }

  /**
   * Leaving "all" needs the device list to keep: `known` is every device the page has seen,
   * so the others stay subscribed. Devices that appear later are not received until
   * the user returns to "all".
   */
  unsubscribe(deviceId: string, known: Iterable<string>): void {
    if (this.wantAll) {
      this.wanted.clear();
      for (const id of this.scope === ALL_DEVICES ? known : this.scope) this.wanted.add(id);
      this.wantAll = false;
    }
    this.wanted.delete(deviceId);
  }

  subscribeAll(): void {
    this.wantAll = true;
    this.wanted.clear();
  }

  /** The next frame to send, or undefined when in sync, disconnected, or waiting for a reply. */
  next(now: number): SubscriptionAction | undefined {
    if (!this.have) return undefined;
    if (this.pending) {
      if (now - this.pending.sentAt < REPLY_TIMEOUT_MS) return undefined;
      this.pending = undefined;
    }
    const frame = this.plan(this.have);
    if (frame) this.pending = { frame, sentAt: now };
    return frame;
  }

  onReply(frame: SubscriptionFrame): void {
    if (frame.subscriptions) {
      this.have = new Set(frame.subscriptions);
    } else if (this.have) {
      // The contract's replies (docs/asyncapi.yaml) require only `devices`: apply the change ourselves.
      const devices = frame.devices === ALL_DEVICES ? [ALL_DEVICES] : frame.devices;
      if (frame.type === 'subscribed') for (const id of devices) this.have.add(id);
      else if (frame.devices === ALL_DEVICES) this.have.clear();
      else for (const id of devices) this.have.delete(id);
    }
    this.pending = undefined;
  }

  /**
   * An error frame while a change is in flight is that change's refusal (forbidden,
   * too many subscriptions...). The wish falls back to what the server holds, so the
   * page does not retry a refused frame forever. Returns the refused frame.
   */
  onError(): SubscriptionAction | undefined {
    const refused = this.pending?.frame;
    if (!refused) return undefined;
    this.pending = undefined;
    if (this.have) {
      if (this.have.has(ALL_DEVICES)) {
        this.subscribeAll();
      } else {
        this.wantAll = false;
        this.wanted.clear();
        for (const id of this.have) this.wanted.add(id);
      }
    }
    return refused;
  }

  private wantedSet(): Set<string> {
    if (!this.wantAll) return this.wanted;
    return new Set(this.scope === ALL_DEVICES ? [ALL_DEVICES] : this.scope);
  }

  private plan(have: Set<string>): SubscriptionAction | undefined {
    const want = this.wantedSet();
    if (want.has(ALL_DEVICES)) {
      return have.has(ALL_DEVICES) ? undefined : { action: 'subscribe', devices: ALL_DEVICES };
    }
    // "*" cannot be narrowed: drop it (which drops everything), then add the wanted list.
    if (have.has(ALL_DEVICES)) return { action: 'unsubscribe', devices: ALL_DEVICES };
    const remove = [...have].filter((id) => !want.has(id)).sort();
    if (remove.length > 0) return { action: 'unsubscribe', devices: remove.slice(0, MAX_DEVICES_PER_FRAME) };
    const add = [...want].filter((id) => !have.has(id)).sort();
    if (add.length > 0) return { action: 'subscribe', devices: add.slice(0, MAX_DEVICES_PER_FRAME) };
    return undefined;
  }
}
