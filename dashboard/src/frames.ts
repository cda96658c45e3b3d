/**
 * The wire format as the page sees it (DESIGN §3, plus what the routes in
 * layers/shared/src/routes.ts actually send). Types come from the server's own
 * module so the two cannot drift; the checks here are the page's: anything it
 * cannot use becomes `{ type: 'invalid' }` rather than an exception.
 */
import type { ErrorCode } from '../../layers/shared/src/errors.js';
import type { MessageFrame, TelemetryFrame } from '../../layers/shared/src/frames.js';

export type { ErrorCode, MessageFrame, TelemetryFrame };
export type DeviceSelection = string[] | '*';

export interface SubscriptionFrame {
  type: 'subscribed' | 'unsubscribed';
  devices: DeviceSelection;
  /** Every subscription the connection holds after the change (sent by our routes; absent in DESIGN §3). */
  subscriptions?: string[];
}
export interface PongFrame {
  type: 'pong';
  ts?: number;
}
export interface SentFrame {
  type: 'sent';
  id?: string;
  recipients?: number;
  delivered?: number;
}
export interface ErrorFrame {
  type: 'error';
  code: ErrorCode | string;
  message: string;
}
export interface InvalidFrame {
  type: 'invalid';
  reason: string;
}

/**
 * The coalesced fan-out's frame (FanoutMode=coalesced): several readings, each
 * exactly a telemetry frame without its `type`; `invalid` counts the readings
 * the page could not use (the others still count).
 */
export interface TelemetryBatchFrame {
  type: 'telemetry-batch';
  readings: TelemetryFrame[];
  invalid: number;
}

export type ServerFrame = TelemetryFrame | TelemetryBatchFrame | MessageFrame | SubscriptionFrame | PongFrame | SentFrame | ErrorFrame | InvalidFrame;

export type ClientFrame =
  | { action: 'subscribe'; devices: DeviceSelection }
  | { action: 'unsubscribe'; devices: DeviceSelection }
  | { action: 'ping' };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isSelection = (v: unknown): v is DeviceSelection =>
  v === '*' || (Array.isArray(v) && v.every((d) => typeof d === 'string'));

const invalid = (reason: string): InvalidFrame => ({ type: 'invalid', reason });

/** A telemetry frame, or one reading of a telemetry-batch frame: the same checks for both. */
const parseTelemetry = (value: Record<string, unknown>): TelemetryFrame | InvalidFrame => {
  const { id, deviceId, ts, receivedAt, data } = value;
  if (typeof id !== 'string' || id === '') return invalid('telemetry without an id');
  if (typeof deviceId !== 'string' || deviceId === '') return invalid('telemetry without a deviceId');
  if (!isObject(data)) return invalid('telemetry without a data object');
  const received = isFiniteNumber(receivedAt) ? receivedAt : isFiniteNumber(ts) ? ts : NaN;
  if (Number.isNaN(received)) return invalid('telemetry without ts or receivedAt');
  return { type: 'telemetry', id, deviceId, ts: isFiniteNumber(ts) ? ts : received, receivedAt: received, data };
};

export const parseServerFrame = (text: unknown): ServerFrame => {
  if (typeof text !== 'string') return invalid('binary frame');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalid('malformed JSON');
  }
  if (!isObject(value)) return invalid('not a JSON object');
  switch (value.type) {
    case 'telemetry':
      return parseTelemetry(value);
    case 'telemetry-batch': {
      if (!Array.isArray(value.readings)) return invalid('telemetry-batch without readings');
      // A top-level deviceId may stand for every reading's (DESIGN §3).
      const shared = typeof value.deviceId === 'string' ? value.deviceId : undefined;
      const readings: TelemetryFrame[] = [];
      let bad = 0;
      for (const reading of value.readings) {
        const parsed = isObject(reading) ? parseTelemetry(shared !== undefined && reading.deviceId === undefined ? { ...reading, deviceId: shared } : reading) : invalid('not an object');
        if (parsed.type === 'telemetry') readings.push(parsed);
        else bad++;
      }
      return { type: 'telemetry-batch', readings, invalid: bad };
    }
    case 'message': {
      const { id, from, ts, data } = value;
      if (typeof id !== 'string' || id === '') return invalid('message without an id');
      return { type: 'message', id, from: typeof from === 'string' ? from : '', ts: isFiniteNumber(ts) ? ts : 0, data: isObject(data) ? data : {} };
    }
    case 'subscribed':
    case 'unsubscribed': {
      if (!isSelection(value.devices)) return invalid(`${value.type} without devices`);
      const frame: SubscriptionFrame = { type: value.type, devices: value.devices };
      if (Array.isArray(value.subscriptions) && value.subscriptions.every((d) => typeof d === 'string')) {
        frame.subscriptions = value.subscriptions as string[];
      }
      return frame;
    }
    case 'pong':
      return isFiniteNumber(value.ts) ? { type: 'pong', ts: value.ts } : { type: 'pong' };
    case 'sent':
      return {
        type: 'sent',
        id: typeof value.id === 'string' ? value.id : undefined,
        recipients: isFiniteNumber(value.recipients) ? value.recipients : undefined,
        delivered: isFiniteNumber(value.delivered) ? value.delivered : undefined,
      };
    case 'error':
      return {
        type: 'error',
        code: typeof value.code === 'string' ? value.code : 'unknown',
        message: typeof value.message === 'string' ? value.message : JSON.stringify(value).slice(0, 200),
      };
    case undefined:
      // API Gateway's own failures arrive untyped: {"message":"Internal server error","connectionId":...,"requestId":...}.
      if (typeof value.message === 'string') return { type: 'error', code: 'gateway', message: value.message };
      return invalid('frame without a type');
    default:
      return invalid(`unknown frame type ${JSON.stringify(value.type)}`);
  }
};
