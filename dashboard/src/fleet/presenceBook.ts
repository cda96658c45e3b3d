/**
 * Each device's presence as the page knows it: from `presence` frames (IoT Core's lifecycle events, through
 * the presence function) and from `snapshot` entries. The server orders events already; the page keeps the
 * newer of two by `since`, so a snapshot that raced a live frame never turns a device back.
 * DOM-free: the fleet view reads it, specs feed it.
 */
export type PresenceState = 'online' | 'offline';

export interface Presence {
  state: PresenceState;
  /** When the device connected or disconnected (IoT Core's event timestamp, ms). */
  since: number;
  /** Why it disconnected (IoT Core's disconnectReason), for offline. */
  reason?: string;
}

export class PresenceBook {
  private readonly byId = new Map<string, Presence>();
  /** Bumped on every change, so the view recounts only when something moved. */
  version = 0;

  get(deviceId: string): Presence | undefined {
    return this.byId.get(deviceId);
  }

  deviceIds(): IterableIterator<string> {
    return this.byId.keys();
  }

  get size(): number {
    return this.byId.size;
  }

  /** Keeps `presence` unless the page holds a newer one; true when it changed. */
  apply(deviceId: string, presence: Presence): boolean {
    const held = this.byId.get(deviceId);
    if (held && held.since > presence.since) return false;
    if (held && held.since === presence.since && held.state === presence.state && held.reason === presence.reason) return false;
    this.byId.set(deviceId, { ...presence });
    this.version++;
    return true;
  }
}
