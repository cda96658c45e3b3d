/**
 * The wire format as the page sees it (docs/asyncapi.yaml, plus what the routes in
 * layers/shared/src/routes.ts actually send). Types come from the server's own
 * module so the two cannot drift; the checks here are the page's: anything it
 * cannot use becomes `{ type: 'invalid' }` rather than an exception.
 */
import type { ErrorCode } from '@serverless-iot-dashboard/shared/protocol';
import type { MessageFrame, TelemetryFrame } from '@serverless-iot-dashboard/shared/protocol';
import type { ResyncFrame } from '@serverless-iot-dashboard/shared';

export type { ErrorCode, MessageFrame, ResyncFrame, TelemetryFrame };
export type DeviceSelection = string[] | '*';

export interface SubscriptionFrame {
  type: 'subscribed' | 'unsubscribed';
  devices: DeviceSelection;
  /** Every subscription the connection holds after the change (sent by our routes; optional in docs/asyncapi.yaml). */
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
  /** The requestId of the history or devices request it answers. */
  requestId?: string;
}
/** One reading of a history reply: raw, or (downsampled) a bucket's last reading with its min/max per numeric field. */
export interface HistoryPointFrame {
  ts: number;
  /** Raw points: the reading's id (the live frame's), by which the page merges the two. */
  id?: string;
  data: Record<string, unknown>;
  min?: Record<string, number>;
  max?: Record<string, number>;
}
export interface HistoryFrame {
  type: 'history';
  requestId?: string;
  deviceId: string;
  points: HistoryPointFrame[];
  downsampled: boolean;
  done: boolean;
}
/** A device's presence as IoT Core's lifecycle events tell it (the presence function; docs/decisions/013-presence.md). */
export interface PresenceInfo {
  state: 'online' | 'offline';
  since: number;
  reason?: string;
}
/** A device in a snapshot: its latest reading (absent when connected but not reported yet) and its presence. */
export interface SnapshotReading {
  deviceId: string;
  ts: number;
  receivedAt: number;
  data: Record<string, unknown>;
  presence?: PresenceInfo;
}
export interface SnapshotFrame {
  type: 'snapshot';
  requestId?: string;
  devices: SnapshotReading[];
  /** Absent or true on the last frame of a snapshot. */
  done: boolean;
  /** On the last frame of a page of `devices`: more devices follow; ask again with this cursor. */
  cursor?: string;
}
export interface PresenceFrame extends PresenceInfo {
  type: 'presence';
  deviceId: string;
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

export type ServerFrame =
  | TelemetryFrame
  | TelemetryBatchFrame
  | MessageFrame
  | SubscriptionFrame
  | PongFrame
  | SentFrame
  | ErrorFrame
  | HistoryFrame
  | SnapshotFrame
  | ResyncFrame
  | PresenceFrame
  | InvalidFrame;

export type ClientFrame =
  | { action: 'subscribe'; devices: DeviceSelection }
  | { action: 'unsubscribe'; devices: DeviceSelection }
  | { action: 'ping' }
  | { action: 'history'; deviceId: string; since: number; until?: number; maxPoints?: number; requestId?: string }
  | { action: 'devices'; requestId?: string; cursor?: string; limit?: number };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isSelection = (v: unknown): v is DeviceSelection =>
  v === '*' || (Array.isArray(v) && v.every((d) => typeof d === 'string'));

const invalid = (reason: string): InvalidFrame => ({ type: 'invalid', reason });

const parsePresence = (value: unknown): PresenceInfo | undefined => {
  if (!isObject(value) || (value.state !== 'online' && value.state !== 'offline') || !isFiniteNumber(value.since)) return undefined;
  return { state: value.state, since: value.since, ...(typeof value.reason === 'string' && value.reason !== '' ? { reason: value.reason } : {}) };
};

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
      // A top-level deviceId may stand for every reading's (docs/asyncapi.yaml).
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
    case 'history': {
      const { deviceId, points, requestId } = value;
      if (typeof deviceId !== 'string' || deviceId === '') return invalid('history without a deviceId');
      if (!Array.isArray(points)) return invalid('history without points');
      const kept = points.filter((p): p is HistoryPointFrame => isObject(p) && isFiniteNumber(p.ts) && isObject(p.data));
      return {
        type: 'history',
        ...(typeof requestId === 'string' ? { requestId } : {}),
        deviceId,
        points: kept,
        downsampled: value.downsampled === true,
        done: value.done !== false,
      };
    }
    case 'snapshot': {
      const { devices, requestId } = value;
      if (!Array.isArray(devices)) return invalid('snapshot without devices');
      // A device connected but not reported yet has presence and no reading (ts 0, empty data).
      const kept = devices.filter(
        (d): d is SnapshotReading =>
          isObject(d) && typeof d.deviceId === 'string' && d.deviceId !== '' && ((isFiniteNumber(d.ts) && isObject(d.data)) || parsePresence(d.presence) !== undefined),
      );
      return {
        type: 'snapshot',
        ...(typeof requestId === 'string' ? { requestId } : {}),
        devices: kept.map((d) => {
          const presence = parsePresence(d.presence);
          const ts = isFiniteNumber(d.ts) ? d.ts : 0;
          return { deviceId: d.deviceId, ts, receivedAt: isFiniteNumber(d.receivedAt) ? d.receivedAt : ts, data: isObject(d.data) ? d.data : {}, ...(presence ? { presence } : {}) };
        }),
        done: value.done !== false,
        ...(typeof value.cursor === 'string' && value.cursor !== '' ? { cursor: value.cursor } : {}),
      };
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
    case 'resync': {
      // The server shed readings of this device in [from, to] (by ts): the page refills that range from history.
      const { deviceId, from, to, id } = value;
      if (typeof deviceId !== 'string' || deviceId === '') return invalid('resync without a deviceId');
      if (!isFiniteNumber(from) || !isFiniteNumber(to) || to < from) return invalid('resync without a time range');
      return { type: 'resync', deviceId, from, to, id: typeof id === 'string' ? id : '', reason: 'shed' };
    }
    case 'presence': {
      const presence = parsePresence(value);
      if (typeof value.deviceId !== 'string' || value.deviceId === '') return invalid('presence without a deviceId');
      if (!presence) return invalid('presence without state and since');
      return { type: 'presence', deviceId: value.deviceId, ...presence };
    }
    case 'error':
      return {
        type: 'error',
        code: typeof value.code === 'string' ? value.code : 'unknown',
        message: typeof value.message === 'string' ? value.message : JSON.stringify(value).slice(0, 200),
        ...(typeof value.requestId === 'string' ? { requestId: value.requestId } : {}),
      };
    case undefined:
      // API Gateway's own failures arrive untyped: {"message":"Internal server error","connectionId":...,"requestId":...}.
      if (typeof value.message === 'string') return { type: 'error', code: 'gateway', message: value.message };
      return invalid('frame without a type');
    default:
      return invalid(`unknown frame type ${JSON.stringify(value.type)}`);
  }
};
