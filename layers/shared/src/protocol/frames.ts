/**
 * The wire format (docs/asyncapi.yaml), validated in one place. Every inbound frame
 * goes through `parseClientFrame`; every outbound frame is built here.
 * The document has a message (schema, examples, invalid examples) per action in ACTIONS and
 * per frame `type`, and every limit below under `x-limits`; test/unit/protocol/contract.test.ts
 * fails, naming what is missing, when one is added here and not there.
 */
import { BadRequest, type ErrorCode } from './errors.js';

// 128 KB: API Gateway WebSocket message payload quota.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html#apigateway-execution-service-websocket-limits-table
export const MAX_PAYLOAD_BYTES = 128 * 1024;
/** 32 KB: API Gateway WebSocket frame size quota (a larger message is split into frames). */
export const MAX_FRAME_BYTES = 32 * 1024;
// A frame names at most this many devices: bounds the writes one frame can cause.
export const MAX_DEVICES_PER_FRAME = 50;
// A connection holds at most this many subscriptions: bounds disconnect's work.
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 200;
// A token's `devices` claim lists at most this many devices. Separate from the per-frame limit, so that an
// operator never has to issue a "*" token for a fleet of 51; the list must also fit API Gateway's 8 KB
// authorizer result (scopeEncoding.ts).
export const MAX_SCOPE_DEVICES = 1000;
// JSON nested deeper than this is refused: no dashboard needs it, and JSON.stringify recurses, so a
// few thousand levels (which fit in 128 KB) overflow the stack: an `internal` error for a client's mistake.
export const MAX_NESTING_DEPTH = 32;
// Device ids become MQTT topic levels and table keys: no wildcards (+ #), no separators (/), no control characters.
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,128}$/;
export const ALL_DEVICES = '*';
/** The alarm routes (layers/shared/src/alarms/): their frames' contents are checked there. */
export const ALARM_ACTIONS = ['putAlarmRule', 'deleteAlarmRule', 'alarms', 'ackAlarm'] as const;

export const ACTIONS = ['subscribe', 'unsubscribe', 'message', 'ping', 'history', 'devices', ...ALARM_ACTIONS] as const;
export type Action = (typeof ACTIONS)[number];

export type DeviceSelection = string[] | typeof ALL_DEVICES;

export type ClientFrame =
  | { action: 'subscribe'; devices: DeviceSelection }
  | { action: 'unsubscribe'; devices: DeviceSelection }
  | { action: 'message'; data: Record<string, unknown> }
  | { action: 'ping' }
  | HistoryRequest
  | { action: 'devices'; requestId?: string; cursor?: string; limit?: number }
  | AlarmRequest;

/** An alarm route's frame, its fields as sent (alarms/alarmRoutes.ts validates them). */
export type AlarmRequest = { action: (typeof ALARM_ACTIONS)[number] } & Record<string, unknown>;

/** `{"action":"history",...}` (docs/asyncapi.yaml, historyRequest). `until` and `maxPoints` are filled in by the route. */
export interface HistoryRequest {
  action: 'history';
  deviceId: string;
  since: number;
  until?: number;
  maxPoints?: number;
  requestId?: string;
}

// ---- history replies at every zoom (README, "The wire format"; docs/decisions/008-rollups.md)
/** `raw` readings, or the rollup level the points come from. */
export type HistoryResolution = 'raw' | '1m' | '10m' | '1h';

/** One frame of a `history` reply; the last says `done: true`, and, cut short, `truncated` and where to continue. */
export interface HistoryReplyFrame {
  type: 'history';
  requestId?: string;
  deviceId: string;
  resolution: HistoryResolution;
  downsampled: boolean;
  /** Rollup or downsampled points: the width of each point's time bucket. */
  bucketMs?: number;
  done: boolean;
  truncated?: true;
  next?: { since: number };
  points: HistoryReplyPoint[];
}

export interface HistoryReplyPoint {
  /** The time the reading is stored at; a rollup bucket's start; a raw-downsampled bucket's last reading's time. */
  ts: number;
  /** Raw readings: the reading's id, and the device's own ts when it was not believed. */
  id?: string;
  deviceTs?: number;
  /** Raw: the reading's data; buckets: each numeric field's last value. */
  data: Record<string, unknown>;
  min?: Record<string, number>;
  max?: Record<string, number>;
  mean?: Record<string, number>;
  /** Readings in the bucket. */
  count?: number;
  /** Too large for a frame: sent with its numeric and boolean fields only. */
  reduced?: true;
  /** Too large even reduced: sent with its time and id only (history/fitPoint.ts). */
  oversize?: true;
}

// A history request's default and largest point count (docs/asyncapi.yaml x-limits, like every limit here).
export const DEFAULT_MAX_POINTS = 600;
export const MAX_MAX_POINTS = 5000;
// Echoed on every reply frame: bounded so that an echo cannot grow a frame much.
export const MAX_REQUEST_ID_LENGTH = 128;
// `devices` pages: the default and largest number of devices per page, and the longest cursor the server hands out.
export const DEFAULT_DEVICES_PAGE = 500;
export const MAX_DEVICES_PAGE = 1000;
export const MAX_CURSOR_LENGTH = 1024;

const ALLOWED_FIELDS: Record<Action, readonly string[]> = {
  subscribe: ['action', 'devices'],
  unsubscribe: ['action', 'devices'],
  message: ['action', 'data'],
  ping: ['action'],
  history: ['action', 'deviceId', 'since', 'until', 'maxPoints', 'requestId'],
  devices: ['action', 'requestId', 'cursor', 'limit'],
  putAlarmRule: ['action', 'rule', 'requestId'],
  deleteAlarmRule: ['action', 'id', 'requestId'],
  alarms: ['action', 'deviceId', 'since', 'until', 'requestId'],
  ackAlarm: ['action', 'ruleId', 'deviceId', 'requestId'],
};

/** Whether `value` nests objects or arrays more than `max` levels deep. Iterative: safe at any depth. */
export const nestingExceeds = (value: unknown, max: number): boolean => {
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) pending.push([child, depth + 1]);
  }
  return false;
};

const describe = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const validateDeviceId = (value: unknown, where = 'device id'): string => {
  if (typeof value !== 'string') throw new BadRequest(`${where} must be a string, got ${describe(value)}`);
  if (!DEVICE_ID_PATTERN.test(value)) {
    const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    throw new BadRequest(
      `${where} ${shown} is invalid: use 1 to 128 characters of A-Z a-z 0-9 _ . : @ - (no MQTT wildcards, slashes or control characters)`,
    );
  }
  return value;
};

/** `max`: the per-frame limit by default; a token's scope passes MAX_SCOPE_DEVICES. */
export const validateDeviceSelection = (value: unknown, { max = MAX_DEVICES_PER_FRAME, per = 'frame' }: { max?: number; per?: string } = {}): DeviceSelection => {
  if (value === ALL_DEVICES) return ALL_DEVICES;
  if (!Array.isArray(value)) {
    throw new BadRequest(`"devices" must be an array of device ids or "*", got ${describe(value)}`);
  }
  if (value.length === 0) throw new BadRequest('"devices" must name at least one device');
  if (value.length > max) {
    throw new BadRequest(`"devices" names ${value.length} devices; at most ${max} per ${per}`);
  }
  const ids = value.map((id, i) => (id === ALL_DEVICES ? ALL_DEVICES : validateDeviceId(id, `devices[${i}]`)));
  return ids.includes(ALL_DEVICES) ? ALL_DEVICES : [...new Set(ids)];
};

/** Parses a frame's text into a JSON object, or throws BadRequest. */
export const parseJsonObject = (body: string | undefined | null, isBase64Encoded = false): Record<string, unknown> => {
  if (isBase64Encoded) throw new BadRequest('binary frames are not supported: send JSON text frames');
  if (body === undefined || body === null || body === '') throw new BadRequest('empty frame: send a JSON object');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BadRequest('malformed JSON: a frame must be a JSON object such as {"action":"ping"}');
  }
  if (!isPlainObject(parsed)) throw new BadRequest(`a frame must be a JSON object, got ${describe(parsed)}`);
  return parsed;
};

/** Validates a parsed frame against the schema of its action. */
export const validateClientFrame = (frame: Record<string, unknown>): ClientFrame => {
  const action = frame.action;
  if (typeof action !== 'string') throw new BadRequest(`"action" must be a string, got ${describe(action)}`);
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new BadRequest(`unknown action ${JSON.stringify(action.slice(0, 40))}; valid actions: ${ACTIONS.join(', ')}`);
  }
  const known = ALLOWED_FIELDS[action as Action];
  const unknown = Object.keys(frame).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new BadRequest(`unknown field ${JSON.stringify(unknown[0]?.slice(0, 40))} for action "${action}"; allowed: ${known.join(', ')}`);
  }
  switch (action as Action) {
    case 'subscribe':
    case 'unsubscribe':
      if (!('devices' in frame)) throw new BadRequest(`"${action}" needs "devices": an array of device ids or "*"`);
      return { action: action as 'subscribe' | 'unsubscribe', devices: validateDeviceSelection(frame.devices) };
    case 'message':
      if (!isPlainObject(frame.data)) throw new BadRequest(`"message" needs "data": a JSON object, got ${describe(frame.data)}`);
      if (nestingExceeds(frame.data, MAX_NESTING_DEPTH)) throw new BadRequest(`"data" is nested more than ${MAX_NESTING_DEPTH} levels deep`);
      return { action: 'message', data: frame.data };
    case 'ping':
      return { action: 'ping' };
    case 'history':
      return validateHistoryRequest(frame);
    case 'devices': {
      const requestId = validateRequestId(frame.requestId);
      const { cursor, limit } = frame;
      if (cursor !== undefined && (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH)) {
        throw new BadRequest(`"cursor" must be the string a previous snapshot gave (at most ${MAX_CURSOR_LENGTH} characters)`);
      }
      if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_DEVICES_PAGE)) {
        throw new BadRequest(`"limit" must be an integer from 1 to ${MAX_DEVICES_PAGE}`);
      }
      return {
        action: 'devices',
        ...(requestId === undefined ? {} : { requestId }),
        ...(cursor === undefined ? {} : { cursor: cursor as string }),
        ...(limit === undefined ? {} : { limit: limit as number }),
      };
    }
    case 'putAlarmRule':
    case 'deleteAlarmRule':
    case 'alarms':
    case 'ackAlarm':
      validateRequestId(frame.requestId);
      return { ...frame, action: action as AlarmRequest['action'] };
  }
};

/** An optional `requestId`: a short string, echoed on every reply frame. */
export const validateRequestId = (value: unknown): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_REQUEST_ID_LENGTH) {
    throw new BadRequest(`"requestId" must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters`);
  }
  return value;
};

const epochMs = (value: unknown, field: string): number => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new BadRequest(`"${field}" must be a number (milliseconds since the epoch), got ${describe(value)}`);
  return value;
};

/**
 * The shape of a history request. A wildcard device id fails `validateDeviceId`; the window's
 * length against the retention, and the scope, are the route's checks (they need its config).
 */
export const validateHistoryRequest = (frame: Record<string, unknown>): HistoryRequest => {
  const requestId = validateRequestId(frame.requestId);
  if (frame.deviceId === ALL_DEVICES) throw new BadRequest('"deviceId" must name one device: history takes no wildcard');
  const deviceId = validateDeviceId(frame.deviceId, 'deviceId');
  const since = epochMs(frame.since, 'since');
  const until = frame.until === undefined ? undefined : epochMs(frame.until, 'until');
  if (until !== undefined && since > until) throw new BadRequest('"since" is after "until"');
  let maxPoints: number | undefined;
  if (frame.maxPoints !== undefined) {
    if (typeof frame.maxPoints !== 'number' || !Number.isInteger(frame.maxPoints) || frame.maxPoints < 1 || frame.maxPoints > MAX_MAX_POINTS) {
      throw new BadRequest(`"maxPoints" must be an integer from 1 to ${MAX_MAX_POINTS}`);
    }
    maxPoints = frame.maxPoints;
  }
  return {
    action: 'history',
    deviceId,
    since,
    ...(until === undefined ? {} : { until }),
    ...(maxPoints === undefined ? {} : { maxPoints }),
    ...(requestId === undefined ? {} : { requestId }),
  };
};

export const parseClientFrame = (body: string | undefined | null, isBase64Encoded = false): ClientFrame =>
  validateClientFrame(parseJsonObject(body, isBase64Encoded));

// ---- server to client ----

export interface TelemetryFrame {
  type: 'telemetry';
  id: string;
  deviceId: string;
  ts: number;
  receivedAt: number;
  data: Record<string, unknown>;
}

export interface MessageFrame {
  type: 'message';
  id: string;
  from: string;
  ts: number;
  data: Record<string, unknown>;
}

export type ServerFrame =
  | TelemetryFrame
  | MessageFrame
  | { type: 'subscribed' | 'unsubscribed'; devices: DeviceSelection }
  | { type: 'pong'; ts: number }
  | { type: 'error'; code: ErrorCode; message: string };

export const errorFrame = (code: ErrorCode, message: string): ServerFrame => ({ type: 'error', code, message });

export const byteLength = (text: string): number => Buffer.byteLength(text, 'utf8');
