/**
 * Drops repeats by message id with bounded memory.
 *
 * Lambda retries a failed async invoke (the IoT rule's target) up to twice with
 * the same event, and the server derives the id from the event, so a retry
 * reaches the page with an id it already has.
 */
/**
 * The key a frame is deduplicated by. Telemetry ids are unique per device, not
 * across devices: keyed by (deviceId, id), one device's frames can never hide
 * another's, even from a server that passes device-supplied ids through bare.
 * JSON keeps the pair unambiguous whatever characters either part holds.
 */
export const telemetryKey = (deviceId: string, id: string): string => JSON.stringify(['telemetry', deviceId, id]);
export const messageKey = (id: string): string => JSON.stringify(['message', id]);

export class RecentIds {
  // A Map iterates in insertion order: the first key is the least recently seen id.
  private readonly ids = new Map<string, true>();

  constructor(readonly capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** True the first time an id is offered; false for a repeat, which also refreshes it (LRU). */
  admit(id: string): boolean {
    if (this.ids.has(id)) {
      this.ids.delete(id);
      this.ids.set(id, true);
      return false;
    }
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.keys().next().value as string;
      this.ids.delete(oldest);
    }
    return true;
  }

  clear(): void {
    this.ids.clear();
  }
}
