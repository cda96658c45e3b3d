/**
 * Turns the IoT topic rule's output into the `telemetry` frame (docs/asyncapi.yaml).
 * The rule is `SELECT *, topic(2) AS deviceId, timestamp() AS receivedAt`,
 * so the event is the device's JSON payload plus those two fields.
 */
import { createHash } from 'node:crypto';
import { BadRequest } from './errors.js';
import { type TelemetryFrame, isPlainObject, validateDeviceId } from './frames.js';

const RESERVED = new Set(['deviceId', 'receivedAt', 'ts', 'id']);

/**
 * The id is derived from the message itself, not drawn at random: Lambda
 * retries a failed async invocation with the same event, and a retry must
 * produce the same id so that dashboards can drop what they already have.
 */
export const telemetryId = (deviceId: string, receivedAt: number, payload: unknown): string =>
  createHash('sha256').update(`${deviceId}\n${receivedAt}\n${JSON.stringify(payload)}`).digest('base64url').slice(0, 22);

/**
 * A device-supplied id, keyed by its device: dashboards drop repeats by id, so
 * a bare payload id would let one device hide another's frames by reusing its
 * ids. "/" cannot occur in a device id (DEVICE_ID_PATTERN), so the device part
 * ends at the first "/" and no two devices can produce the same id.
 */
export const deviceScopedId = (deviceId: string, id: string): string => `${deviceId}/${id}`;

export const telemetryEnvelope = (event: unknown, now: () => number = Date.now): TelemetryFrame => {
  if (!isPlainObject(event)) throw new BadRequest('telemetry event must be a JSON object');
  const deviceId = validateDeviceId(event.deviceId, 'deviceId');
  const receivedAt = typeof event.receivedAt === 'number' && Number.isFinite(event.receivedAt) ? event.receivedAt : now();
  const ts = typeof event.ts === 'number' && Number.isFinite(event.ts) ? event.ts : receivedAt;
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (!RESERVED.has(key)) data[key] = value;
  }
  const id =
    typeof event.id === 'string' && event.id.length > 0 && event.id.length <= 128
      ? deviceScopedId(deviceId, event.id)
      : telemetryId(deviceId, receivedAt, event);
  return { type: 'telemetry', id, deviceId, ts, receivedAt, data };
};
