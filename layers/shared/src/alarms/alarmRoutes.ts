/**
 * The alarm routes: putAlarmRule, deleteAlarmRule, alarms, ackAlarm (the
 * wire format in README.md, "Alarms"). Reading follows the connection's
 * device scope; changing anything needs the `alarms` permission (the token's
 * `alarms` claim, or the Cognito group `alarms`).
 */
import { inScope } from '../auth/principal.js';
import { BadRequest, Forbidden, NotFound } from '../protocol/errors.js';
import { ALL_DEVICES, type DeviceSelection, validateClientFrame, validateDeviceId } from '../protocol/frames.js';
import { type WsEvent, type WsResult, errorReply, ok, requestIdOf } from '../runtime/middleware.js';
import type { Log } from '../runtime/observability.js';
import type { ConnectionRecord, ConnectionStore } from '../store/connectionStore.js';
import type { AlarmStore, AlarmTransition } from './alarmStore.js';
import { newRuleId } from './alarmStore.js';
import { type DeliverToDevice, alarmFrame } from './notifier.js';
import { type AlarmRule, ruleFrame, ruleVisibleTo, ruleWatches, validateAlarmRule, validateRuleId } from './rules.js';
import type { AlarmState } from './stateMachine.js';

/** Items per `alarms` reply list: about 250 bytes each, well under the 128 KB message quota. */
export const MAX_ALARMS_REPLY_ITEMS = 300;
/** Transitions in one `alarms` reply for a device's chart. */
export const MAX_REPLY_TRANSITIONS = 200;
/** A scope this short is read device by device; a longer one (or `*`) reads every rule once. */
const PER_DEVICE_READ_MAX = 50;

export interface AlarmRouteDeps {
  store: ConnectionStore;
  alarms: AlarmStore;
  log: Log;
  /** The fan-out of an acknowledgement's `alarm` frame to the device's recipients. */
  deliver?: DeliverToDevice;
  now?: () => number;
}

type Frame = Record<string, unknown>;

const frameFor = (event: WsEvent, action: string): Frame => {
  const frame = validateClientFrame(event.frame ?? {}) as unknown as Frame;
  if (frame.action !== action) throw new BadRequest(`this route takes "${action}" frames, got "${String(frame.action)}"`);
  return frame;
};

const requestIdEcho = (frame: Frame) => (typeof frame.requestId === 'string' ? { requestId: frame.requestId } : {});

const connectionOf = async (store: ConnectionStore, event: WsEvent) => {
  const connection = await store.getConnection(event.requestContext.connectionId);
  if (!connection) throw new NotFound('this connection is not registered (it may have expired); reconnect');
  return connection;
};

const requireAlarms = (connection: ConnectionRecord) => {
  if (!connection.alarms) throw new Forbidden('your token does not allow managing alarms (the "alarms" claim, or the Cognito group "alarms")');
};

/** The rules a scope may see. */
export const visibleRules = async (alarms: AlarmStore, scope: DeviceSelection): Promise<AlarmRule[]> => {
  if (scope !== ALL_DEVICES && scope.length <= PER_DEVICE_READ_MAX) {
    const lists = await Promise.all([...scope, ALL_DEVICES].map((d) => alarms.rulesOf(d)));
    return lists.flat().filter((r) => ruleVisibleTo(r, scope));
  }
  return (await alarms.allRules()).filter((r) => ruleVisibleTo(r, scope));
};

const activeEntry = (s: AlarmState, rule: AlarmRule) => alarmFrame({ ...s, field: rule.field, ts: s.lastTs, since: s.since, ...(s.acknowledgedBy ? { acknowledgedBy: s.acknowledgedBy } : {}) });

export const createPutAlarmRuleRoute =
  ({ store, alarms, log, now = Date.now }: AlarmRouteDeps) =>
  async (event: WsEvent): Promise<WsResult> => {
    const frame = frameFor(event, 'putAlarmRule');
    const connection = await connectionOf(store, event);
    requireAlarms(connection);
    const input = validateAlarmRule(frame.rule, connection.scope);
    if (input.deviceId === ALL_DEVICES && connection.scope !== ALL_DEVICES && connection.scope.length === 0) throw new Forbidden('your token covers no device');
    const rule: AlarmRule = { ...input, id: input.id ?? newRuleId(input.deviceId), createdBy: connection.sub, scope: connection.scope, createdAt: now() };
    if (input.id) {
      const existing = await alarms.getRule(input.id);
      if (!existing) throw new NotFound(`no alarm rule ${input.id}: leave "id" out to create one`);
    }
    await alarms.putRule(rule);
    log.info('alarm rule stored', { ruleId: rule.id, deviceId: rule.deviceId, sub: connection.sub });
    return ok({ type: 'alarm-rule', rule: ruleFrame(rule), ...requestIdEcho(frame) });
  };

export const createDeleteAlarmRuleRoute =
  ({ store, alarms, log }: AlarmRouteDeps) =>
  async (event: WsEvent): Promise<WsResult> => {
    const frame = frameFor(event, 'deleteAlarmRule');
    const id = validateRuleId(frame.id);
    const connection = await connectionOf(store, event);
    requireAlarms(connection);
    const rule = await alarms.getRule(id);
    // A rule outside the scope is answered as missing: its existence is not the caller's to know.
    if (!rule || !ruleVisibleTo(rule, connection.scope)) throw new NotFound(`no alarm rule ${id}`);
    if (rule.deviceId === ALL_DEVICES && connection.scope !== ALL_DEVICES && rule.createdBy !== connection.sub) {
      throw new Forbidden('a "*" rule may be deleted by its creator or by a token that covers every device');
    }
    await alarms.deleteRule(id);
    log.info('alarm rule deleted', { ruleId: id, sub: connection.sub });
    return ok({ type: 'alarm-rule-deleted', id, ...requestIdEcho(frame) });
  };

export const createAlarmsRoute =
  ({ store, alarms, now = Date.now }: AlarmRouteDeps) =>
  async (event: WsEvent): Promise<WsResult> => {
    const frame = frameFor(event, 'alarms');
    const connection = await connectionOf(store, event);
    const scope = connection.scope;
    let history: { deviceId: string; since: number; until: number } | undefined;
    if (frame.deviceId !== undefined) {
      const deviceId = validateDeviceId(frame.deviceId, 'deviceId');
      if (!inScope(scope, [deviceId])) throw new Forbidden(`your token does not cover ${JSON.stringify(deviceId)}`);
      const until = frame.until === undefined ? now() : Number(frame.until);
      const since = frame.since === undefined ? until - 24 * 3_600_000 : Number(frame.since);
      if (!Number.isFinite(since) || !Number.isFinite(until) || since > until) throw new BadRequest('"since" and "until" must be epoch milliseconds, since ≤ until');
      history = { deviceId, since, until };
    } else if (frame.since !== undefined || frame.until !== undefined) throw new BadRequest('"since" and "until" need "deviceId": the transitions are one device\'s');
    const [rules, active, transitions] = await Promise.all([
      visibleRules(alarms, scope),
      alarms.active(),
      history ? alarms.transitions(history.deviceId, history.since, history.until, MAX_REPLY_TRANSITIONS) : Promise.resolve(undefined as AlarmTransition[] | undefined),
    ]);
    const byId = new Map(rules.map((r) => [r.id, r]));
    const shown = active
      .filter((s) => inScope(scope, [s.deviceId]) && byId.has(s.ruleId))
      // Active alarms first: ALARM before PENDING, unacknowledged first, newest first.
      .sort((a, b) => (a.state === b.state ? 0 : a.state === 'ALARM' ? -1 : 1) || Number(!!a.acknowledgedBy) - Number(!!b.acknowledgedBy) || b.since - a.since)
      .slice(0, MAX_ALARMS_REPLY_ITEMS)
      .map((s) => activeEntry(s, byId.get(s.ruleId)!));
    return ok({
      type: 'alarms',
      rules: rules.slice(0, MAX_ALARMS_REPLY_ITEMS).map(ruleFrame),
      active: shown,
      ...(rules.length > MAX_ALARMS_REPLY_ITEMS ? { truncated: true } : {}),
      ...(history && transitions ? { deviceId: history.deviceId, transitions: transitions.map((t) => ({ ...alarmFrame(t), from: t.from })) } : {}),
      ...requestIdEcho(frame),
    });
  };

export const createAckAlarmRoute =
  ({ store, alarms, log, deliver }: AlarmRouteDeps) =>
  async (event: WsEvent): Promise<WsResult> => {
    const frame = frameFor(event, 'ackAlarm');
    const ruleId = validateRuleId(frame.ruleId, '"ruleId"');
    const deviceId = validateDeviceId(frame.deviceId, 'deviceId');
    const connection = await connectionOf(store, event);
    requireAlarms(connection);
    if (!inScope(connection.scope, [deviceId])) throw new Forbidden(`your token does not cover ${JSON.stringify(deviceId)}`);
    const rule = await alarms.getRule(ruleId);
    if (!rule || !ruleWatches(rule, deviceId)) throw new NotFound(`no alarm rule ${ruleId} watches ${deviceId}`);
    const state = await alarms.acknowledge(deviceId, ruleId, connection.sub);
    const body = activeEntry(state, rule);
    await deliver?.(deviceId, JSON.stringify(body)).catch((error: Error) => log.warn('could not fan out an acknowledgement', { ruleId, deviceId, reason: error.message }));
    log.info('alarm acknowledged', { ruleId, deviceId, sub: connection.sub });
    return ok({ ...body, ...requestIdEcho(frame) });
  };

/** The four alarm routes behind one function (AlarmsFunction): the route key picks one. */
export const createAlarmRoutes = (deps: AlarmRouteDeps) => {
  const routes: Record<string, (event: WsEvent) => Promise<WsResult>> = {
    putAlarmRule: createPutAlarmRuleRoute(deps),
    deleteAlarmRule: createDeleteAlarmRuleRoute(deps),
    alarms: createAlarmsRoute(deps),
    ackAlarm: createAckAlarmRoute(deps),
  };
  return async (event: WsEvent): Promise<WsResult> => {
    const route = routes[event.requestContext.routeKey];
    try {
      if (!route) throw new BadRequest(`this function serves ${Object.keys(routes).join(', ')}, not "${event.requestContext.routeKey}"`);
      return await route(event);
    } catch (error) {
      // Named errors echo the frame's requestId, so that a page can tell its editor's refusal from the rest.
      return errorReply(error, requestIdOf(event.frame));
    }
  };
};
