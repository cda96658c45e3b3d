/**
 * IoT Core's connect/disconnect lifecycle events, and their order.
 * https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html
 *
 * The device id is the MQTT client id: a device connects with its thing name as its client id (the
 * template's DevicePolicy allows `iot:Connect` only as `client/${iot:Connection.Thing.ThingName}`), and
 * publishes to `devices/<that id>/telemetry`. A client id that is not a valid device id is ignored.
 *
 * Events "might be sent out of order" and "you might receive duplicate messages" (the page above). They are
 * ordered by `versionNumber` first: it increases for each new connection of a client id, and a connection's
 * connect and disconnect events carry the same number, so at one version the disconnect is the later. IoT
 * Core resets the number to 0 when a client has been disconnected for about an hour (longer with a
 * persistent session); a lower version with a clearly later `timestamp` is such a reset, and a higher one
 * with a clearly earlier timestamp is a late event from before it (docs/decisions/013-presence.md).
 */
import { DEVICE_ID_PATTERN } from '../protocol/frames.js';

export type LifecycleEventType = 'connected' | 'disconnected';

export interface LifecycleEvent {
  clientId: string;
  timestamp: number;
  eventType: LifecycleEventType;
  sessionIdentifier?: string;
  principalIdentifier?: string;
  versionNumber: number;
  ipAddress?: string;
  clientInitiatedDisconnect?: boolean;
  disconnectReason?: string;
}

/** What is kept per device, and compared with the next event. */
export interface PresenceRecord {
  state: 'online' | 'offline';
  /** The event's timestamp (ms since the epoch, IoT Core's clock). */
  since: number;
  eventType: LifecycleEventType;
  versionNumber: number;
  reason?: string;
  sessionIdentifier?: string;
}

/** The wire frame: `{"type":"presence","deviceId","state","since","reason"?}` (docs/asyncapi.yaml). */
export interface PresenceFrame {
  type: 'presence';
  deviceId: string;
  state: 'online' | 'offline';
  since: number;
  reason?: string;
}

/**
 * How much later (by timestamp) a lower versionNumber must be to count as IoT Core's reset. The reset comes
 * after about an hour disconnected; ten minutes leaves room for "about" and is far above any clock skew
 * between brokers, which is the only other way a lower version could carry a later timestamp.
 */
export const VERSION_RESET_GAP_MS = 10 * 60_000;

export class InvalidLifecycleEvent extends Error {
  override name = 'InvalidLifecycleEvent';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The event a presence rule delivers (`SELECT * FROM '$aws/events/presence/connected/+'`, and `disconnected/+`; docs/asyncapi.yaml), checked. */
export const parseLifecycleEvent = (event: unknown): LifecycleEvent => {
  if (!isObject(event)) throw new InvalidLifecycleEvent('a lifecycle event is a JSON object');
  const { clientId, timestamp, eventType, versionNumber } = event;
  if (typeof clientId !== 'string' || !DEVICE_ID_PATTERN.test(clientId)) throw new InvalidLifecycleEvent(`clientId ${JSON.stringify(clientId)} is not a device id`);
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) throw new InvalidLifecycleEvent('timestamp must be a number (ms)');
  if (eventType !== 'connected' && eventType !== 'disconnected') throw new InvalidLifecycleEvent(`eventType ${JSON.stringify(eventType)} is not connected or disconnected`);
  if (typeof versionNumber !== 'number' || !Number.isInteger(versionNumber) || versionNumber < 0) throw new InvalidLifecycleEvent('versionNumber must be a non-negative integer');
  const optionalString = (key: string) => (typeof event[key] === 'string' ? { [key]: event[key] as string } : {});
  return {
    clientId,
    timestamp,
    eventType,
    versionNumber,
    ...optionalString('sessionIdentifier'),
    ...optionalString('principalIdentifier'),
    ...optionalString('ipAddress'),
    ...(typeof event.clientInitiatedDisconnect === 'boolean' ? { clientInitiatedDisconnect: event.clientInitiatedDisconnect } : {}),
    ...optionalString('disconnectReason'),
  };
};

export const presenceRecord = (event: LifecycleEvent): PresenceRecord => ({
  state: event.eventType === 'connected' ? 'online' : 'offline',
  since: event.timestamp,
  eventType: event.eventType,
  versionNumber: event.versionNumber,
  ...(event.eventType === 'disconnected' && event.disconnectReason ? { reason: event.disconnectReason } : {}),
  ...(event.sessionIdentifier ? { sessionIdentifier: event.sessionIdentifier } : {}),
});

export const presenceFrame = (deviceId: string, record: Pick<PresenceRecord, 'state' | 'since' | 'reason'>): PresenceFrame => ({
  type: 'presence',
  deviceId,
  state: record.state,
  since: record.since,
  ...(record.reason ? { reason: record.reason } : {}),
});

/**
 * Whether `incoming` supersedes `held` (the device's kept presence): false for a duplicate and for an event
 * older than what is kept, so a late "connected" never overwrites a newer "disconnected".
 */
export const supersedes = (incoming: PresenceRecord, held: PresenceRecord | undefined, resetGapMs = VERSION_RESET_GAP_MS): boolean => {
  if (!held) return true;
  const later = incoming.since - held.since;
  if (incoming.versionNumber !== held.versionNumber) {
    const higher = incoming.versionNumber > held.versionNumber;
    // A version that disagrees with the clocks by more than the reset gap: the counter was reset between them.
    if (higher && later <= -resetGapMs) return false;
    if (!higher && later >= resetGapMs) return true;
    return higher;
  }
  // One connection: its disconnect follows its connect, whatever the timestamps say.
  if (incoming.eventType !== held.eventType) return incoming.eventType === 'disconnected';
  // The same event again (a duplicate), or a second one of one kind at one version: keep the later.
  return later > 0;
};
