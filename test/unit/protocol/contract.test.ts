/**
 * docs/asyncapi.yaml and the code, held together so that they cannot drift: the document is valid AsyncAPI 3.0;
 * every action in ACTIONS has a documented message (and operation, and route) and vice versa; every error code
 * is in the error frame's enum and vice versa; every frame type the layer's source builds is documented, and
 * the frames the code really builds validate against the document's JSON Schemas (with no undocumented field);
 * every documented example passes the code's validator and its schema, every documented invalid example is
 * rejected by both with the documented code; the limits are the code's constants; `$connect`'s documented
 * outcomes are the ones the authorizer and the connect route produce; the MQTT topic and the topic rule are the
 * template's. Each failure names what drifted and where.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import { Ajv, type ValidateFunction } from 'ajv';
import { SignJWT, generateKeyPair } from 'jose';
import { parse } from 'yaml';
import * as protocol from '@serverless-iot-dashboard/shared/protocol';
import * as shared from '@serverless-iot-dashboard/shared';
import {
  ACTIONS,
  ERROR_CODES,
  DEVICE_ID_PATTERN,
  type AlarmRule,
  type AlarmState,
  type AlarmStore,
  type AlarmTransition,
  type ConnectionRecord,
  type ConnectionStore,
  type DeviceSelection,
  type DevicesStore,
  type FanoutTask,
  type FrameError,
  type HistoryStore,
  type LatestReading,
  type RateLimiter,
  type RawPoint,
  type RollupBucket,
  type RollupLevel,
  type Principal,
  type WsEvent,
  ALARM_ACTIONS,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  createAlarmEmitter,
  createAlarmEvaluator,
  createAlarmRoutes,
  createAlarmStore,
  createAuthorizer,
  createCognitoVerifier,
  createConnectRoute,
  createDefaultRoute,
  createDevicesRoute,
  createFanOut,
  createHistoryRoute,
  createMessageRoute,
  createPingRoute,
  createSubscribeRoute,
  createTokenVerifier,
  createUnsubscribeRoute,
  createDevicesStore,
  createPresenceHandler,
  createSilentSweep,
  errorFrame,
  errorReply,
  groupByDevice,
  isFrameError,
  parseLifecycleEvent,
  presenceFrame,
  presenceRecord,
  parseClientFrame,
  resyncFor,
  signToken,
  splitIntoFrames,
  telemetryEnvelope,
  BadRequest,
  MAX_RULES_PER_DEVICE,
  NotFound,
  validateClientFrame,
  wsRoute,
} from '@serverless-iot-dashboard/shared';
import { PROJECT_ROOT, readTemplate, resourcesOfType } from '../../../scripts/template.js';
import { lambdaContext, loadEvent } from '../../helpers/events.js';
import { pagedHistory } from '../../helpers/pagedHistory.js';

type Node = Record<string, any>;

const DOC = 'docs/asyncapi.yaml';
const readDoc = (): Node => {
  try {
    return parse(readFileSync(join(PROJECT_ROOT, DOC), 'utf8')) as Node;
  } catch (error) {
    throw new Error(`${DOC} is not valid YAML: ${(error as Error).message}`);
  }
};
const doc = readDoc();
const template = readTemplate();

// ---- reading the document

const unescape = (segment: string) => segment.replace(/~1/g, '/').replace(/~0/g, '~');

/** The node at a local JSON pointer (`#/a/b`) of `root`, or undefined. */
const at = (pointer: string, root: Node = doc): any => {
  if (!pointer.startsWith('#/')) throw new Error(`${DOC}: only local references are used here, got ${pointer}`);
  return pointer
    .slice(2)
    .split('/')
    .map(unescape)
    .reduce<any>((node, key) => (node === undefined || node === null ? undefined : node[key]), root);
};

/** Follows `$ref`s until a node without one. */
const deref = (node: any): any => {
  for (let hops = 0; node && typeof node.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`${DOC}: $ref loop at ${node.$ref}`);
    const target = at(node.$ref);
    if (target === undefined) throw new Error(`${DOC}: $ref ${node.$ref} points at nothing`);
    node = target;
  }
  return node;
};

/** Every `$ref` in the document, with where it is. */
const refsIn = (node: any, path = '#'): { path: string; ref: string }[] => {
  if (node === null || typeof node !== 'object') return [];
  const own = typeof node.$ref === 'string' ? [{ path, ref: node.$ref as string }] : [];
  return own.concat(Object.entries(node).flatMap(([key, child]) => refsIn(child, `${path}/${key}`)));
};

interface Documented {
  /** The key under channels.dashboard.messages. */
  key: string;
  /** A JSON pointer to its payload schema (for the validator). */
  payloadPointer: string;
  message: Node;
}

const dashboardMessages = (): Documented[] =>
  Object.entries(doc.channels?.dashboard?.messages ?? {}).map(([key, ref]) => {
    const pointer = (ref as Node).$ref as string | undefined;
    const message = deref(ref);
    const payloadPointer = message.payload?.$ref ?? `${pointer ?? `#/channels/dashboard/messages/${key}`}/payload`;
    return { key, payloadPointer, message };
  });

/** Client messages by their action (payload.properties.action.const). */
const clientMessages = new Map<string, Documented>();
/** Server messages by their frame type (payload.properties.type.const). */
const serverMessages = new Map<string, Documented>();
for (const documented of dashboardMessages()) {
  const properties = deref(documented.message.payload)?.properties ?? {};
  const action = deref(properties.action)?.const;
  const type = deref(properties.type)?.const;
  if (typeof action === 'string') clientMessages.set(action, documented);
  else if (typeof type === 'string') serverMessages.set(type, documented);
  else throw new Error(`${DOC}: channels.dashboard.messages.${documented.key} has neither payload.properties.action.const nor payload.properties.type.const`);
}

/** The MQTT channels IoT Core's lifecycle events arrive on (documented with an x-topic-rule each). */
const LIFECYCLE_CHANNELS = ['presenceConnected', 'presenceDisconnected'] as const;
/** Every documented lifecycle event example, with its channel and where it is. */
const lifecycleExamples = (): { channel: string; where: string; payloadPointer: string; payload: Node }[] =>
  LIFECYCLE_CHANNELS.flatMap((channel) =>
    Object.entries((doc.channels?.[channel]?.messages ?? {}) as Node).flatMap(([key, ref]) =>
      ((deref(ref).examples ?? []) as Node[]).map((example) => ({
        channel,
        where: `channels.${channel}.messages.${key}.examples.${example.name}`,
        payloadPointer: `${(ref as Node).$ref}/payload`,
        payload: example.payload as Node,
      })),
    ),
  );

// ---- validating against it

/**
 * The same document with `additionalProperties: false` on every object schema that lists its properties and
 * says nothing else: clients must ignore fields they do not know, but the server must send none undocumented.
 */
const closed = (node: any): any => {
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) return node.map(closed);
  const copy: Node = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, closed(v)]));
  if (copy.properties && typeof copy.properties === 'object' && copy.additionalProperties === undefined) copy.additionalProperties = false;
  return copy;
};

// AsyncAPI's default schema format is a superset of JSON Schema draft-07: ajv's default dialect.
const ajv = new Ajv({ strict: false, validateSchema: false, validateFormats: false, allErrors: true });
// Ajv compiles the document's root too: AsyncAPI's `id` there is not JSON Schema's (`$id`), so it is left out.
const { id: _asyncApiId, ...schemaRoot } = doc;
ajv.addSchema(schemaRoot, 'doc');
ajv.addSchema(closed(schemaRoot), 'closed');
const validators = new Map<string, ValidateFunction>();
const validatorFor = (pointer: string, strict = false): ValidateFunction => {
  const id = `${strict ? 'closed' : 'doc'}${pointer}`;
  let validate = validators.get(id);
  if (!validate) validators.set(id, (validate = ajv.compile({ $ref: id })));
  return validate;
};
/** Why `value` fails the schema at `pointer`, or undefined when it passes. */
const schemaErrors = (pointer: string, value: unknown, strict = false): string | undefined => {
  const validate = validatorFor(pointer, strict);
  if (validate(value)) return undefined;
  return (validate.errors ?? [])
    .map((e) => `frame${e.instancePath} ${e.message}${e.params.additionalProperty === undefined ? '' : ` ("${String(e.params.additionalProperty)}")`}`)
    .join('; ');
};
const expectValid = (pointer: string, value: unknown, what: string, strict = false) => {
  const errors = schemaErrors(pointer, value, strict);
  expect(errors, `${what} does not match ${DOC} ${pointer}: ${errors}\n${JSON.stringify(value).slice(0, 400)}`).to.equal(undefined);
};

/** Fails with `message` and the list, one item a line, when `items` is not empty. */
const expectNone = (items: readonly unknown[], message: string) => {
  if (items.length > 0) expect.fail(`${message}:\n${items.map((item) => `  - ${String(item)}`).join('\n')}`);
};

/** The error the code throws for `run`, or undefined when it accepts. */
const rejection = (run: () => unknown): FrameError | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    if (isFrameError(error)) return error;
    throw error;
  }
};

// ---- fakes for building frames with the real code

const log = { info() {}, warn() {}, error() {}, debug() {} } as never;
const CONNECTION_ID = 'L0SM9cOFvHcCIhw=';
const connection = (scope: ConnectionRecord['scope'] = '*'): ConnectionRecord => ({
  connectionId: CONNECTION_ID,
  sub: 'alice',
  scope,
  publish: true,
  devices: ['dev-1'],
  connectedAt: 1795597200000,
  expiresAt: 1795600800,
});
const fakeStore = (scope: ConnectionRecord['scope'] = '*', put: unknown[] = []) =>
  ({
    async putConnection(record: unknown) {
      put.push(record);
      return record;
    },
    getConnection: async () => connection(scope),
    subscribe: async (_id: string, devices: string[] | '*') => (devices === '*' ? ['*'] : ['dev-1', ...devices.filter((d) => d !== 'dev-1')]),
    unsubscribe: async () => ['dev-1'],
    touch: async () => true,
    removeConnection: async () => undefined,
    async *recipientPages() {
      yield ['c-1', 'c-2'];
    },
    usage: { requests: 0, readUnits: 0 },
  }) as unknown as ConnectionStore;

const LATEST: LatestReading[] = [
  { deviceId: 'dev-1', ts: 1795597200000, receivedAt: 1795597200187, data: { temperature: 21.5, status: 'ok' } },
  { deviceId: 'dev-3', ts: 1795597199000, receivedAt: 1795597199120, data: { humidity: 40.2 } },
];
const fakeDevices = {
  recordLatest: async () => true,
  latest: async (ids: readonly string[]) => LATEST.filter((r) => ids.includes(r.deviceId)),
  async *all() {
    yield LATEST;
  },
  usage: { requests: 0, readUnits: 0 },
} as unknown as DevicesStore;

/**
 * A history store over `points` (raw readings) and `buckets` (rollup buckets by level name), served in pages of
 * `pageSize`, each page costing one read unit on the request's tally (so that a read budget can cut a reply short).
 */
const fakeHistory = (points: RawPoint[], buckets: Partial<Record<RollupLevel['name'], RollupBucket[]>> = {}, pageSize = 10): HistoryStore =>
  pagedHistory(
    {
      raw: (_deviceId, since, until) => points.filter((p) => p.ts >= since && p.ts <= until),
      buckets: (_deviceId, level, since, until) => (buckets[level.name] ?? []).filter((b) => b.start + level.ms > since && b.start <= until),
    },
    pageSize,
  );

/** A rollup bucket of one field, as the store decodes it. */
const bucket = (start: number, ms: number, count: number, temperature: number): RollupBucket => ({
  start,
  ms,
  count,
  fields: new Map([['temperature', { min: temperature - 1, max: temperature + 2, sum: temperature * count, count, last: temperature, lastKey: `${start}#r` }]]),
});

/**
 * A DynamoDB document client over DevicesTable items, for the real devices store: Scan pages of `scanPage` items
 * (with LastEvaluatedKey while more follow), BatchGet by key.
 */
const fakeDevicesTable = (items: Record<string, unknown>[], scanPage = 2) =>
  ({
    async send(command: { constructor: { name: string }; input: Node }) {
      const capacity = { CapacityUnits: 1 };
      if (command.constructor.name === 'ScanCommand') {
        const after = command.input.ExclusiveStartKey?.deviceId as string | undefined;
        const from = after === undefined ? 0 : items.findIndex((item) => item.deviceId === after) + 1;
        const page = items.slice(from, from + Math.min(scanPage, command.input.Limit ?? scanPage));
        const more = from + page.length < items.length;
        return { Items: page, ConsumedCapacity: capacity, ...(more ? { LastEvaluatedKey: { deviceId: page[page.length - 1]!.deviceId } } : {}) };
      }
      if (command.constructor.name === 'BatchGetCommand') {
        const [[table, { Keys }]] = Object.entries(command.input.RequestItems as Record<string, { Keys: { deviceId: string }[] }>);
        return { Responses: { [table!]: items.filter((item) => Keys.some((k) => k.deviceId === item.deviceId)) }, ConsumedCapacity: [capacity] };
      }
      throw new Error(`fakeDevicesTable: unexpected ${command.constructor.name}`);
    },
  }) as never;

/** DevicesTable items as the telemetry function and the presence store write them. */
const DEVICE_ITEMS: Record<string, unknown>[] = [
  { deviceId: 'dev-1', at: 1795597500000, receivedAt: 1795597500187, id: 'r-1', d: '{"temperature":21.7}', expiresAt: 1796202300, presence: { state: 'online', since: 1795597100000, eventType: 'connected', versionNumber: 4, sessionIdentifier: 's-1' } },
  // Connected, no reading yet: presence only.
  { deviceId: 'dev-2', expiresAt: 1796202200, presence: { state: 'online', since: 1795597400000, eventType: 'connected', versionNumber: 0 } },
  {
    deviceId: 'dev-3',
    at: 1795590000000,
    receivedAt: 1795590000110,
    id: 'r-3',
    d: '{"humidity":40.2}',
    expiresAt: 1796194800,
    presence: { state: 'offline', since: 1795590060000, eventType: 'disconnected', versionNumber: 2, reason: 'MQTT_KEEP_ALIVE_TIMEOUT' },
  },
  // A reading written before presence existed (no presence attribute), too large for a frame: sent reduced.
  { deviceId: 'dev-4', at: 1795597000000, receivedAt: 1795597000100, id: 'r-4', d: JSON.stringify({ temperature: 19, blob: 'x'.repeat(40_000) }), expiresAt: 1796201800 },
  // Too large even reduced (thousands of numeric fields): sent oversize, with its times and no data.
  {
    deviceId: 'dev-5',
    at: 1795597000000,
    receivedAt: 1795597000100,
    id: 'r-5',
    d: JSON.stringify(Object.fromEntries(Array.from({ length: 3000 }, (_, f) => [`field${f}`, f]))),
    expiresAt: 1796201800,
    presence: { state: 'online', since: 1795596000000, eventType: 'connected', versionNumber: 1 },
  },
];

// ---- alarms: a rule store in memory, and the real alarm routes over it

const ALARM_NOW = 1795597500000;
/** The rule of the events/ fixtures (deleteAlarmRule.json, ackAlarm.json), in ALARM on dev-1. */
const FIXTURE_RULE: AlarmRule = {
  id: 'dev-1~3f9a1c27d5e8b640',
  deviceId: 'dev-1',
  field: 'temperature',
  above: 30,
  forSeconds: 10,
  name: 'Freezer warm',
  createdBy: 'alice',
  scope: '*',
  createdAt: 1795597200000,
};
/** A rule on a device outside the routes' list scope (dev-1 to dev-4). */
const OUT_OF_SCOPE_RULE: AlarmRule = { ...FIXTURE_RULE, id: 'dev-9~5b7e2a90c4d1f836', deviceId: 'dev-9' };
/** dev-4 has as many rules as a device may have. */
const FULL_DEVICE_RULES: AlarmRule[] = Array.from({ length: MAX_RULES_PER_DEVICE }, (_, i) => ({ ...FIXTURE_RULE, id: `dev-4~${String(i).padStart(16, '0')}`, deviceId: 'dev-4', above: 30 + i }));
const FIXTURE_TRANSITIONS: AlarmTransition[] = [
  { ruleId: FIXTURE_RULE.id, deviceId: 'dev-1', field: 'temperature', from: 'OK', state: 'PENDING', ver: 1, value: 30.4, ts: 1795597200000, since: 1795597200000 },
  { ruleId: FIXTURE_RULE.id, deviceId: 'dev-1', field: 'temperature', from: 'PENDING', state: 'ALARM', ver: 2, value: 31.5, ts: 1795597210000, since: 1795597210000 },
];

/**
 * The AlarmStore's contract in memory: rules by id (a device's by the id's prefix), states by device and rule
 * with `ver` as the transition's condition, transitions kept. Seeded with the fixtures' rule in ALARM on dev-1.
 */
const fakeAlarmStore = (): AlarmStore => {
  const rules = new Map<string, AlarmRule>([FIXTURE_RULE, OUT_OF_SCOPE_RULE, ...FULL_DEVICE_RULES].map((r) => [r.id, structuredClone(r)]));
  const states = new Map<string, AlarmState>();
  const key = (deviceId: string, ruleId: string) => `${deviceId}#${ruleId}`;
  const last = FIXTURE_TRANSITIONS[FIXTURE_TRANSITIONS.length - 1]!;
  states.set(key('dev-1', FIXTURE_RULE.id), { ruleId: FIXTURE_RULE.id, deviceId: 'dev-1', state: 'ALARM', ver: 2, since: last.since, lastTs: last.ts, value: last.value });
  const log: AlarmTransition[] = structuredClone(FIXTURE_TRANSITIONS);
  let version = 0;
  const store = {
    usage: { requests: 0, readUnits: 0, writeUnits: 0 },
    versions: async () => ({ rules: `r${version}`, states: `s${version}` }),
    rulesOf: async (deviceId: string) => [...rules.values()].filter((r) => r.id.startsWith(`${deviceId}~`)),
    allRules: async () => [...rules.values()],
    putRule: async (rule: AlarmRule) => {
      // The real store's cap (MAX_RULES_PER_DEVICE), over a document client that answers its count with these rules.
      const doc = {
        send: async (command: { constructor: { name: string }; input: Node }) =>
          command.constructor.name === 'QueryCommand'
            ? { Items: [...rules.keys()].filter((id) => id.startsWith(command.input.ExpressionAttributeValues[':prefix'])).map((sk) => ({ sk })) }
            : {},
      } as never;
      await createAlarmStore({ doc, tableName: 'alarms' }).putRule(rule);
      rules.set(rule.id, rule);
      version++;
      return rule;
    },
    getRule: async (id: string) => rules.get(id),
    deleteRule: async (id: string) => {
      const rule = rules.get(id);
      rules.delete(id);
      return rule;
    },
    statesOf: async (deviceId: string) => [...states.values()].filter((s) => s.deviceId === deviceId),
    getState: async (deviceId: string, ruleId: string) => states.get(key(deviceId, ruleId)),
    transition: async (from: AlarmState, to: AlarmState, field: string | null) => {
      if ((states.get(key(to.deviceId, to.ruleId))?.ver ?? 0) !== from.ver) return undefined;
      states.set(key(to.deviceId, to.ruleId), to);
      const record: AlarmTransition = { ruleId: to.ruleId, deviceId: to.deviceId, field, from: from.state, state: to.state, ver: to.ver, value: to.value, ts: to.lastTs, since: to.since };
      log.push(record);
      version++;
      return record;
    },
    acknowledge: async (deviceId: string, ruleId: string, by: string) => {
      const state = states.get(key(deviceId, ruleId));
      if (state?.state !== 'ALARM') throw new NotFound(`rule ${ruleId} is not in ALARM on ${deviceId}: nothing to acknowledge`);
      const acknowledged = { ...state, ver: state.ver + 1, acknowledgedBy: by, acknowledgedAt: ALARM_NOW };
      states.set(key(deviceId, ruleId), acknowledged);
      return acknowledged;
    },
    active: async () => [...states.values()].filter((s) => s.state !== 'OK'),
    transitions: async (deviceId: string, since: number, until: number, limit = 500) => log.filter((t) => t.deviceId === deviceId && t.ts >= since && t.ts <= until).slice(0, limit),
  };
  return store as unknown as AlarmStore;
};

/** The scope the alarm routes' connection has unless told: a list, so that "outside the scope" can be shown. */
const ALARM_SCOPE = ['dev-1', 'dev-2', 'dev-3', 'dev-4'];

/** The real alarm routes (AlarmsFunction's), over a fresh fake store, for a connection with the `alarms` permission. */
const alarmRoutes = ({ scope = ALARM_SCOPE, delivered = [] }: { scope?: ConnectionRecord['scope']; delivered?: string[] } = {}) => {
  const store = { ...fakeStore(scope), getConnection: async () => ({ ...connection(scope), alarms: true }) } as unknown as ConnectionStore;
  const route = createAlarmRoutes({ store, alarms: fakeAlarmStore(), log, deliver: async (_deviceId, body) => void delivered.push(body), now: () => ALARM_NOW });
  return async (payload: Node): Promise<Node> => replyOf(await route(messageEvent(payload.action as string, payload)));
};

/** What the alarm routes answer a frame that parseClientFrame passes (their checks need the store and the scope). */
const isAlarmAction = (action: unknown): boolean => (ALARM_ACTIONS as readonly unknown[]).includes(action);

/** A MESSAGE event from its events/ fixture, with `body` replaced and parsed as the middy chain does. */
const messageEvent = (fixture: string, body?: Node): WsEvent => {
  const event = loadEvent<WsEvent>(fixture);
  if (body) event.body = JSON.stringify(body);
  event.frame = JSON.parse(event.body!);
  return event;
};
const replyOf = (result: { body?: string }): Node => JSON.parse(result.body!);

/**
 * Every frame the code sends, built by the code itself, by the path that sends it.
 * A documented frame type that no builder here produces fails the spec: add the builder.
 */
const builders: Record<string, () => Promise<unknown[]>> = {
  'telemetry (events/telemetry.json through telemetryEnvelope)': async () => [telemetryEnvelope(loadEvent('telemetry'))],
  'telemetry-batch (events/telemetry-batch.json, grouped and split)': async () => {
    const { devices } = groupByDevice(loadEvent('telemetry-batch').Records);
    const readings = [...devices.values()].flat().map((parsed) => parsed.reading);
    return [...splitIntoFrames(readings), ...splitIntoFrames(readings, 400)].map((body) => JSON.parse(body));
  },
  'resync (a shed reading)': async () => {
    const envelope = telemetryEnvelope(loadEvent('telemetry'));
    const task: FanoutTask = { body: JSON.stringify(envelope), id: envelope.id, deviceId: envelope.deviceId, receivedAt: envelope.receivedAt, connectionIds: [] };
    return [resyncFor(task)];
  },
  'snapshot and subscribed (the subscribe route)': async () => {
    const posted: string[] = [];
    const route = createSubscribeRoute({ store: fakeStore(), log, snapshot: { devices: fakeDevices, post: async (_id, body) => void posted.push(body) } });
    const reply = replyOf(await route(messageEvent('subscribe')));
    const all = replyOf(await createSubscribeRoute({ store: fakeStore(), log })(messageEvent('subscribe', { action: 'subscribe', devices: '*' })));
    return [...posted.map((p) => JSON.parse(p)), reply, all];
  },
  'unsubscribed (the unsubscribe route)': async () => [replyOf(await createUnsubscribeRoute({ store: fakeStore(), log })(messageEvent('unsubscribe')))],
  'pong (the ping route)': async () => [replyOf(await createPingRoute({ store: fakeStore(), log, now: () => 1795597200123 })(messageEvent('ping')))],
  'message and sent (the message route, through the real fan-out)': async () => {
    const posted: string[] = [];
    const fanOut = createFanOut({ store: fakeStore(), post: async (_id, body) => void posted.push(body), log, counter: { count() {} } as never });
    const route = createMessageRoute({ store: fakeStore(), fanOut, log, newId: () => 'm-1', now: () => 1795597200123 });
    const reply = replyOf(await route(messageEvent('message')));
    return [...new Set(posted)].map((p) => JSON.parse(p)).concat([reply]);
  },
  'history (the history route: raw with ids and deviceTs, a reduced and an oversize point, raw downsampled, rollups, truncated, and an error with its requestId)': async () => {
    const posted: string[] = [];
    const NOW = 1795597200000;
    const points = Array.from({ length: 20 }, (_, i): RawPoint => ({ ts: 1795596900000 + i * 15_000, id: `dev-1/r-${i}`, data: { temperature: 20 + (i % 7), label: `p${i}` } }));
    // A microsecond ts, not believed: stored at receivedAt, the device's time kept as deviceTs.
    points[3]!.deviceTs = 1795596945000000;
    // Too large for a frame: reduced to its numbers and booleans; and one that is too large even so.
    points[5]!.data = { temperature: 25, door: true, blob: 'x'.repeat(40_000) };
    points[6]!.data = Object.fromEntries(Array.from({ length: 3000 }, (_, f) => [`field${f}`, f]));
    // Ten-minute buckets over a day, one reading a second: a 24-hour window at maxPoints 60 reads them.
    const DAY = 86_400_000;
    const tenMinutes = Array.from({ length: 145 }, (_, i) => bucket(Math.floor((NOW - DAY) / 600_000) * 600_000 + i * 600_000, 600_000, 600, 20 + (i % 5)));
    const hours = Array.from({ length: 30 }, (_, i) => bucket(Math.floor((NOW - 30 * DAY) / 3_600_000) * 3_600_000 + i * 3_600_000, 3_600_000, 3600, 21));
    const route = (scope: ConnectionRecord['scope'], readBudget?: number) =>
      createHistoryRoute({
        store: fakeStore(scope),
        history: fakeHistory(points, { '10m': tenMinutes, '1h': hours }),
        post: async (_id, body) => void posted.push(body),
        log,
        retentionDays: 30,
        readBudget,
        now: () => NOW,
      });
    const request = { action: 'history', deviceId: 'dev-1', since: 1795596900000, until: NOW, requestId: 'chart-dev-1' };
    await route('*')(messageEvent('history', request));
    await route('*')(messageEvent('history', { ...request, maxPoints: 10 }));
    await route('*')(messageEvent('history', { ...request, since: NOW - DAY, maxPoints: 60 }));
    // 30 days at 600 points reads hour buckets; a budget of 2 read units cuts it after two pages.
    await route('*', 2)(messageEvent('history', { ...request, since: NOW - 30 * DAY, maxPoints: 600 }));
    const refused = replyOf(await route(['dev-2'])(messageEvent('history', request)));
    // Past the token holder's rate: `rate_limited`, with the requestId.
    const limiter = Object.assign(async () => ({ allowed: false, retryAfterMs: 3000 }), { perMinute: 30, burst: 5 }) as unknown as RateLimiter;
    const limited = replyOf(
      await createHistoryRoute({ store: fakeStore(), history: fakeHistory(points), post: async () => {}, log, retentionDays: 30, limiter, now: () => NOW })(messageEvent('history', request)),
    );
    expect(limited, 'a history request past the rate').to.include({ code: 'rate_limited', requestId: 'chart-dev-1' });
    const frames = posted.map((p) => JSON.parse(p) as Node);
    const has = (what: string, test: (frame: Node) => boolean) => expect(frames.some(test), `the history builder built no ${what}`).to.equal(true);
    const pointsOf = (frame: Node) => frame.points as Node[];
    has('raw reply with deviceTs', (f) => f.resolution === 'raw' && !f.downsampled && pointsOf(f).some((p) => p.deviceTs !== undefined));
    has('reduced point', (f) => pointsOf(f).some((p) => p.reduced === true));
    has('oversize point', (f) => pointsOf(f).some((p) => p.oversize === true));
    has('raw downsampled reply', (f) => f.resolution === 'raw' && f.downsampled === true && pointsOf(f).length > 0);
    has('rollup reply with mean and count', (f) => f.resolution === '10m' && pointsOf(f).some((p) => p.mean && p.count));
    has('truncated reply', (f) => f.resolution === '1h' && f.truncated === true && typeof f.next?.since === 'number' && f.done === true);
    return [...frames, refused, limited];
  },
  'snapshot (the devices route, through the real devices store: presence, presence only, a reduced entry, paged by cursor, every device and a scoped list)': async () => {
    const posted: string[] = [];
    const devices = createDevicesStore({ doc: fakeDevicesTable(DEVICE_ITEMS), tableName: 'devices', now: () => 1795597500000 });
    const store = (scope: ConnectionRecord['scope']) =>
      ({ ...fakeStore(scope), getConnection: async () => ({ ...connection(scope), devices: ['*'] }) }) as unknown as ConnectionStore;
    const route = (scope: ConnectionRecord['scope']) => createDevicesRoute({ store: store(scope), devices, post: async (_id, body) => void posted.push(body), log });
    // Every device, two a page: follow the cursors to the end.
    let cursor: string | undefined;
    let pages = 0;
    do {
      const before = posted.length;
      const reply = await route('*')(messageEvent('devices', { action: 'devices', requestId: 'fleet', limit: 2, ...(cursor ? { cursor } : {}) }));
      expect(reply.body, `the devices route answered ${reply.body}`).to.equal(undefined);
      cursor = (JSON.parse(posted[posted.length - 1]!) as Node).cursor;
      expect(posted.slice(before).every((p) => (JSON.parse(p) as Node).cursor === cursor), 'every frame of a page carries its cursor').to.equal(true);
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(pages, 'pages of five devices, two a page').to.equal(3);
    // A token scoped to a list: pages by offset.
    await route(['dev-1', 'dev-2', 'dev-3'])(messageEvent('devices', { action: 'devices', limit: 2 }));
    // A cursor this server did not give, and a list's cursor for every device: `bad_request`, with the requestId.
    const refused = [
      replyOf(await route('*')(messageEvent('devices', { action: 'devices', requestId: 'fleet', cursor: 'bm90LW91cnM' }))),
      replyOf(await route('*')(messageEvent('devices', { action: 'devices', requestId: 'fleet', cursor: 'eyJvZmZzZXQiOjJ9' }))),
    ];
    for (const error of refused) expect(error, 'a foreign cursor').to.include({ type: 'error', code: 'bad_request', requestId: 'fleet' });
    const frames = posted.map((p) => JSON.parse(p) as Node);
    const entries = frames.flatMap((f) => f.devices as Node[]);
    expect(entries.some((e) => e.presence && e.ts === undefined), 'a presence-only entry').to.equal(true);
    expect(entries.some((e) => e.presence?.reason), 'an offline entry with its reason').to.equal(true);
    expect(entries.some((e) => e.reduced === true), 'a reduced entry').to.equal(true);
    expect(entries.some((e) => e.oversize === true), 'an oversize entry').to.equal(true);
    return [...frames, ...refused];
  },
  'presence (the presence handler, from events/presence-*.json and every documented lifecycle event)': async () => {
    const posted: string[] = [];
    const handler = createPresenceHandler({
      presence: { record: async () => true },
      store: fakeStore(),
      fanOut: { deliver: async (_pages, body) => (posted.push(body), { recipients: 2, delivered: 2, gone: 0, failed: 0, retried: 0 }) },
      log,
      counter: { count() {} } as never,
    });
    const events = [loadEvent('presence-connected'), loadEvent('presence-disconnected'), ...lifecycleExamples().map((e) => e.payload)];
    for (const event of events) expect((await handler(event)).status, `the presence handler took ${JSON.stringify(event)}`).to.equal('fanned-out');
    return posted.map((p) => JSON.parse(p));
  },
  'alarm-rule, alarm-rule-deleted, alarms and alarm (the alarm routes, from the events/ fixtures and the documented examples)': async () => {
    const frames: Node[] = [];
    const delivered: string[] = [];
    const routes = alarmRoutes({ delivered });
    const fixture = (name: string) => JSON.parse(loadEvent<WsEvent>(name).body!) as Node;
    for (const name of ['putAlarmRule', 'alarms', 'ackAlarm', 'deleteAlarmRule']) frames.push(await routes(fixture(name)));
    for (const action of ALARM_ACTIONS) {
      const { message } = clientMessages.get(action)!;
      // A fresh store per example: each runs against the fixtures' state (the rule exists, in ALARM on dev-1).
      for (const example of message.examples as Node[]) frames.push(await alarmRoutes({ delivered })(example.payload));
    }
    // A token whose scope is "*" sees every rule, and more than one page of transitions' worth of reply.
    frames.push(await alarmRoutes({ scope: '*' })({ action: 'alarms', deviceId: 'dev-1' }));
    const errors = frames.filter((f) => f.type === 'error');
    expect(errors, 'the alarm routes refused a fixture or a documented example').to.deep.equal([]);
    const types = new Set(frames.map((f) => f.type));
    for (const type of ['alarm-rule', 'alarm-rule-deleted', 'alarms', 'alarm']) expect(types.has(type), `the alarm routes built no "${type}"`).to.equal(true);
    expect(frames.some((f) => f.type === 'alarms' && (f.transitions as Node[] | undefined)?.length && (f.active as Node[]).length), 'an alarms reply with active alarms and transitions').to.equal(true);
    expect(delivered.length, 'an acknowledgement fans its alarm frame out').to.be.greaterThan(0);
    return [...frames, ...delivered.map((d) => JSON.parse(d) as Node)];
  },
  'alarm (the evaluator and the emitter: OK → PENDING → ALARM → OK, a duplicate; and the silent sweep)': async () => {
    const delivered: string[] = [];
    const counter = { count() {} } as never;
    const store = fakeAlarmStore();
    const rule: AlarmRule = { ...FIXTURE_RULE, id: 'dev-2~6d0e3b8a1f47c925', deviceId: 'dev-2', deadband: 0.5 };
    await store.putRule(rule);
    const emit = createAlarmEmitter({ deliver: async (_deviceId, body) => void delivered.push(body), log, counter });
    const evaluator = createAlarmEvaluator({ store, emit, log, counter, now: () => ALARM_NOW });
    const reading = (ts: number, temperature: number) => ({ id: `dev-2/r-${ts}`, deviceId: 'dev-2', ts, receivedAt: ts + 150, data: { temperature } });
    const readings = [reading(1795597200000, 30.5), reading(1795597205000, 31), reading(1795597211000, 31.5), reading(1795597220000, 29.8), reading(1795597230000, 29.2)];
    // Twice, as a retried invocation would: the second pass makes no transition.
    const first = await evaluator.evaluate(readings);
    const again = await evaluator.evaluate(readings);
    expect(first.transitions.map((t) => t.state), 'the transitions of one crossing').to.deep.equal(['PENDING', 'ALARM', 'OK']);
    expect(again.transitions, 'a duplicate delivery').to.deep.equal([]);
    // A silent rule: dev-3 last seen ten minutes ago, the rule's window five.
    const silent: AlarmRule = { id: 'dev-3~8c41d2e07a9b5f13', deviceId: 'dev-3', field: null, silentSeconds: 300, createdBy: 'alice', scope: '*', createdAt: 1795597200000 };
    await store.putRule(silent);
    const devices = { lastSeen: async () => new Map([['dev-3', ALARM_NOW - 600_000]]), known: async () => ['dev-3'] };
    const swept = await createSilentSweep({ store, evaluator, emit, devices, log, now: () => ALARM_NOW })();
    expect(swept.raised, 'the silent rule fires').to.equal(1);
    const frames = delivered.map((d) => JSON.parse(d) as Node);
    expect(frames.some((f) => f.field === null && f.value === null && f.state === 'ALARM'), 'a silent rule\'s alarm frame').to.equal(true);
    return frames;
  },
  'error (every code, errorReply, and the middy chain on $default and on a failure)': async () => {
    const frames: unknown[] = ERROR_CODES.map((code) => errorFrame(code, `a ${code} error`));
    frames.push(replyOf(errorReply(new BadRequest('"since" is after "until"'), 'chart-dev-1')));
    frames.push(replyOf(await wsRoute(createDefaultRoute())(loadEvent('default'), lambdaContext())));
    frames.push(replyOf(await wsRoute(async () => Promise.reject(new Error('boom')))(loadEvent('ping'), lambdaContext())));
    return frames;
  },
};

/**
 * `type` literals in the layer's source that are not frame types, each with its reason (none yet). The scan
 * below takes every `type: '...'` as a frame's; add a name here only when it is something else.
 */
const NOT_FRAME_TYPES = new Map<string, string>();

/** Frame types written as literals in the layer's source (`type: 'x'`, `"type":"x"`), with where. */
const frameTypesInSource = (): Map<string, string> => {
  const found = new Map<string, string>();
  const root = join(PROJECT_ROOT, 'layers', 'shared', 'src');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        for (const match of text.matchAll(/\btype:\s*('[a-z][a-z-]*'(?:\s*\|\s*'[a-z][a-z-]*')*)|"type":"([a-z][a-z-]*)"/g)) {
          const names = match[2] ? [match[2]] : match[1]!.split('|').map((s) => s.trim().slice(1, -1));
          for (const name of names) if (!found.has(name)) found.set(name, relative(PROJECT_ROOT, path));
        }
      }
    }
  };
  walk(root);
  return found;
};

describe(`the wire contract (${DOC}) and the code`, () => {
  describe('the document', () => {
    it('is a valid AsyncAPI 3.0 document', () => {
      const require = createRequire(import.meta.url);
      const asyncapi30 = require('@asyncapi/specs/schemas/3.0.0-without-$id.json') as Node;
      const validate = new Ajv({ strict: false, validateFormats: false, allErrors: true }).compile(asyncapi30);
      expect(doc.asyncapi).to.equal('3.0.0');
      const valid = validate(doc);
      const errors = (validate.errors ?? []).filter((e) => !/must match exactly one schema in oneOf|must have required property '\$ref'/.test(e.message ?? ''));
      expect(valid, `${DOC} is not valid AsyncAPI 3.0:\n${errors.map((e) => `  ${e.instancePath} ${e.message}`).join('\n')}`).to.equal(true);
    });

    it('has no $ref that points at nothing', () => {
      const broken = refsIn(doc).filter(({ ref }) => at(ref) === undefined);
      expectNone(broken.map((b) => `${b.path}: ${b.ref}`), `${DOC} has dangling $refs`);
    });

    it('lists every dashboard message in an operation, and every operation message on the dashboard channel', () => {
      const inOperations = new Set<string>();
      for (const [name, operation] of Object.entries(doc.operations as Node)) {
        for (const ref of [...(operation.messages ?? []), ...(operation.reply?.messages ?? [])]) {
          expect(at(ref.$ref), `operations.${name} names ${ref.$ref}, which is not there`).to.not.equal(undefined);
          inOperations.add(ref.$ref);
        }
      }
      const unused = Object.keys(doc.channels.dashboard.messages).filter((key) => !inOperations.has(`#/channels/dashboard/messages/${key}`));
      expectNone(unused, `channels.dashboard.messages that no operation sends, receives or replies with`);
    });
  });

  describe('client frames', () => {
    it('documents a message for every action in ACTIONS, and no action the code does not have', () => {
      const undocumented = ACTIONS.filter((action) => !clientMessages.has(action));
      expectNone(
        undocumented,
        `ACTIONS (layers/shared/src/protocol/frames.ts) has ${undocumented.map((a) => `"${a}"`).join(', ')} but ${DOC} documents no client message for it: ` +
          'add one under components.messages (payload.properties.action.const = the action), list it in channels.dashboard.messages, and add an operation that receives it',
      );
      const unknown = [...clientMessages.keys()].filter((action) => !(ACTIONS as readonly string[]).includes(action));
      expectNone(unknown, `${DOC} documents actions that ACTIONS does not have`);
    });

    it('receives every action in an operation that names its replies, and routes it in template.yaml', () => {
      const routeKeys = new Set(resourcesOfType(template, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties?.RouteKey as string));
      const [, api] = resourcesOfType(template, 'AWS::ApiGatewayV2::Api').find(([, r]) => r.Properties?.ProtocolType === 'WEBSOCKET')!;
      expect(api.Properties?.RouteSelectionExpression, 'the document says API Gateway routes on the action').to.equal('$request.body.action');
      for (const [action, { key }] of clientMessages) {
        const receivers = Object.entries(doc.operations as Node).filter(
          ([, op]) => op.action === 'receive' && (op.messages ?? []).some((m: Node) => m.$ref === `#/channels/dashboard/messages/${key}`),
        );
        expect(receivers.length, `no operation with action "receive" takes the "${action}" message (${key})`).to.be.greaterThan(0);
        for (const [name, op] of receivers) expect(op.reply?.messages?.length ?? 0, `operations.${name} ("${action}") names no reply`).to.be.greaterThan(0);
        expect(routeKeys.has(action), `template.yaml has no WebSocket route for the documented action "${action}"`).to.equal(true);
      }
    });

    it('accepts every documented example, in the code and in its schema', () => {
      for (const [action, { key, payloadPointer, message }] of clientMessages) {
        expect(message.examples?.length ?? 0, `${key} ("${action}") has no example`).to.be.greaterThan(0);
        for (const example of message.examples) {
          const where = `${key}.examples.${example.name}`;
          const error = rejection(() => parseClientFrame(JSON.stringify(example.payload)));
          expect(error?.message, `${where} is rejected by parseClientFrame`).to.equal(undefined);
          expect(validateClientFrame(example.payload).action, `${where} is parsed as another action`).to.equal(action);
          expectValid(payloadPointer, example.payload, where);
        }
      }
    });

    it('shows every documented field of every action in an example the code accepts', () => {
      for (const [action, { key, message }] of clientMessages) {
        const fields = Object.keys(deref(message.payload).properties);
        const shown = new Set(message.examples.flatMap((example: Node) => Object.keys(example.payload)));
        const missing = fields.filter((field) => !shown.has(field));
        expectNone(missing, `${key} ("${action}") documents fields that no example shows (so nothing proves the code takes them)`);
      }
    });

    it('rejects every documented invalid example with the documented code, in the code and (where JSON Schema can say it) in the schema', async () => {
      const clientPointers = [...clientMessages.values()].map((m) => m.payloadPointer);
      const matchesSomeAction = (value: unknown) => clientPointers.some((pointer) => schemaErrors(pointer, value) === undefined);
      let count = 0;
      for (const example of doc.channels.dashboard['x-invalid-examples'] as Node[]) {
        const where = `channels.dashboard.x-invalid-examples.${example.name}`;
        const body = 'raw' in example ? (example.raw as string) : JSON.stringify(example.payload);
        const error = rejection(() => parseClientFrame(body, example.binary === true));
        expect(error, `${where} is accepted by parseClientFrame`).to.not.equal(undefined);
        expect(error!.code, `${where} is rejected with "${error!.code}" (${error!.message}), documented "${example.code}"`).to.equal(example.code);
        if ('payload' in example) expect(matchesSomeAction(example.payload), `${where} matches a client message's schema`).to.equal(false);
        count++;
      }
      for (const [action, { key, payloadPointer, message }] of clientMessages) {
        for (const example of (message['x-invalid-examples'] ?? []) as Node[]) {
          const where = `${key}.x-invalid-examples.${example.name}`;
          expect(example.payload?.action, `${where} is an example of another action`).to.equal(action);
          const error = rejection(() => parseClientFrame(JSON.stringify(example.payload)));
          if (error === undefined && isAlarmAction(action)) {
            // parseClientFrame checks an alarm frame's fields and requestId; the rule, the scope and the store are
            // the alarm routes' checks: their error frame is what the client gets.
            const reply = await alarmRoutes()(example.payload);
            expect(reply.type, `${where} is accepted by parseClientFrame and by the alarm routes (${JSON.stringify(reply).slice(0, 200)})`).to.equal('error');
            expect(reply.code, `${where} is refused by the alarm routes with "${reply.code}" (${reply.message}), documented "${example.code}"`).to.equal(example.code);
          } else {
            expect(error, `${where} is accepted by parseClientFrame`).to.not.equal(undefined);
            expect(error!.code, `${where} is rejected with "${error!.code}" (${error!.message}), documented "${example.code}"`).to.equal(example.code);
          }
          const schema = schemaErrors(payloadPointer, example.payload);
          if (example.schemaAccepts === true) expect(schema, `${where} says schemaAccepts, but the schema rejects it (${schema}): drop schemaAccepts`).to.equal(undefined);
          else expect(schema, `${where} is valid against ${payloadPointer}: the schema allows what the code refuses`).to.not.equal(undefined);
          count++;
        }
      }
      expect(count).to.be.greaterThan(20);
    });

    it('refuses an undocumented field in every action, in the code and in the schema', () => {
      for (const [action, { key, payloadPointer, message }] of clientMessages) {
        const frame = { ...message.examples[0].payload, undocumented: 1 };
        expect(rejection(() => validateClientFrame(frame))?.code, `the code takes an undocumented field in "${action}"`).to.equal('bad_request');
        expect(schemaErrors(payloadPointer, frame), `${key}'s schema takes an undocumented field (additionalProperties: false)`).to.not.equal(undefined);
      }
    });

    it('documents every field the code takes in every action (the fields its refusal names as allowed)', () => {
      const drift: string[] = [];
      for (const [action, { key, message }] of clientMessages) {
        const refusal = rejection(() => validateClientFrame({ ...message.examples[0].payload, undocumented: 1 }))?.message ?? '';
        const allowed = /allowed: (.+)$/.exec(refusal)?.[1]?.split(', ');
        expect(allowed, `the code's refusal of an unknown "${action}" field no longer lists the allowed fields: ${refusal}`).to.not.equal(undefined);
        const documented = Object.keys(deref(message.payload).properties);
        for (const field of allowed!.filter((f) => !documented.includes(f))) drift.push(`"${action}" takes "${field}", which ${key} does not document`);
        for (const field of documented.filter((f) => !allowed!.includes(f))) drift.push(`${key} documents "${field}", which the code refuses`);
      }
      expectNone(drift, 'client fields that the code and the document disagree on');
    });
  });

  describe('server frames', () => {
    let built: Map<string, { frame: Node; by: string }[]>;
    before(async () => {
      built = new Map();
      for (const [by, build] of Object.entries(builders)) {
        for (const frame of (await build()) as Node[]) {
          const list = built.get(frame.type) ?? [];
          list.push({ frame, by });
          built.set(frame.type, list);
        }
      }
    });

    it('documents every frame type written in layers/shared/src', () => {
      const undocumented = [...frameTypesInSource()].filter(([type]) => !serverMessages.has(type) && !NOT_FRAME_TYPES.has(type));
      expectNone(
        undocumented.map(([type, file]) => `"${type}" (${file})`),
        `frame types the layer builds but ${DOC} does not document: add a message under components.messages (payload.properties.type.const = the type) and list it in channels.dashboard.messages ` +
          `(a \`type\` that is not a frame's goes in NOT_FRAME_TYPES in this spec, with its reason)`,
      );
    });

    it('has the code build every documented frame type (a builder in this spec runs the code that sends it)', () => {
      const unbuilt = [...serverMessages.keys()].filter((type) => !built.has(type));
      expectNone(unbuilt, `documented frame types that no builder in test/unit/protocol/contract.test.ts produces: add one`);
    });

    it('validates every frame the code builds against its documented schema, with no undocumented field', () => {
      for (const [type, frames] of built) {
        const documented = serverMessages.get(type);
        expect(documented, `the code built a "${type}" frame (${frames[0]!.by}) that ${DOC} does not document`).to.not.equal(undefined);
        for (const { frame, by } of frames) expectValid(documented!.payloadPointer, frame, `a "${type}" frame built by ${by}`, true);
      }
    });

    it('validates every documented example against its schema, with no undocumented field', () => {
      for (const [type, { key, payloadPointer, message }] of serverMessages) {
        expect(message.examples?.length ?? 0, `${key} ("${type}") has no example`).to.be.greaterThan(0);
        for (const example of message.examples) expectValid(payloadPointer, example.payload, `${key}.examples.${example.name}`, true);
      }
    });

    it('lists every ErrorCode in the error frame, and explains each', () => {
      const errorMessage = serverMessages.get('error')!.message;
      const documented: string[] = deref(errorMessage.payload).properties.code.enum;
      const missing = ERROR_CODES.filter((code) => !documented.includes(code));
      expectNone(missing, `ErrorCode (layers/shared/src/protocol/errors.ts) has codes that ${DOC}'s error frame does not list in payload.properties.code.enum`);
      const extra = documented.filter((code) => !(ERROR_CODES as readonly string[]).includes(code));
      expectNone(extra, `${DOC}'s error frame lists codes that ErrorCode does not have`);
      const unexplained = ERROR_CODES.filter((code) => !String(errorMessage.description).includes(`\`${code}\``));
      expectNone(unexplained, `the error frame's description does not say when these codes are sent`);
    });
  });

  describe('limits', () => {
    const limits = doc['x-limits'] as Record<string, { value: number; constant: string; appliesTo?: string[] }>;
    const constants = shared as unknown as Record<string, unknown>;

    it('equal the code constants they name, wherever the document states them', () => {
      for (const [name, limit] of Object.entries(limits)) {
        expect(constants[limit.constant], `x-limits.${name} is ${limit.value}, but the code's ${limit.constant} is ${String(constants[limit.constant])}`).to.equal(limit.value);
        for (const pointer of limit.appliesTo ?? []) {
          expect(at(pointer), `x-limits.${name} (${limit.constant} = ${limit.value}) is stated as ${String(at(pointer))} at ${pointer}`).to.equal(limit.value);
        }
      }
    });

    it('include every numeric limit that the protocol module exports', () => {
      const documented = new Set(Object.values(limits).map((limit) => limit.constant));
      const missing = Object.entries(protocol)
        .filter(([name, value]) => /^(MAX|DEFAULT)_/.test(name) && typeof value === 'number')
        .filter(([name]) => !documented.has(name))
        .map(([name, value]) => `${name} = ${String(value)}`);
      expectNone(missing, `limits in layers/shared/src/protocol that ${DOC} x-limits does not list`);
    });

    it('give device ids the code pattern', () => {
      expect(at('#/components/schemas/DeviceId/pattern'), 'components.schemas.DeviceId.pattern differs from DEVICE_ID_PATTERN').to.equal(DEVICE_ID_PATTERN.source);
    });
  });

  describe('$connect', () => {
    const channel = doc.channels.dashboard as Node;

    it('takes the documented query parameters: the authorizer reads token, the connect route reads devices', async () => {
      const query = channel.bindings.ws.query;
      expect(Object.keys(query.properties), 'the ws binding query parameters').to.have.members(channel['x-connect'].queryParameters);
      expect(channel['x-connect'].queryParameters).to.have.members(['token', 'devices']);
      const [, authorizer] = resourcesOfType(template, 'AWS::ApiGatewayV2::Authorizer')[0]!;
      expect(authorizer.Properties?.IdentitySource, 'template.yaml ConnectAuthorizer identity source').to.deep.equal(['route.request.querystring.token']);
      expect(doc.components.securitySchemes.token).to.include({ in: 'query', name: 'token' });

      let seen: string | undefined;
      const principal: Principal = { sub: 'alice', devices: '*', publish: false, exp: 1 };
      await createAuthorizer({ verify: async (token) => ((seen = token), principal), allowedOrigins: [], log })(loadEvent('authorizer'));
      expect(seen).to.equal(loadEvent('authorizer').queryStringParameters.token);
      const put: Node[] = [];
      await createConnectRoute({ store: fakeStore('*', put), log, requireAuth: true })(loadEvent('connect'));
      expect(put[0]?.devices, '?devices=dev-1,dev-2 (events/connect.json) subscribes on connect').to.deep.equal(['dev-1', 'dev-2']);
    });

    it('answers every documented case with its documented HTTP status, through the authorizer and the connect route', async () => {
      const SECRET = 'contract-spec-secret';
      const verify = createTokenVerifier({ secret: async () => SECRET, issuer: DEFAULT_ISSUER, audience: DEFAULT_AUDIENCE });
      const token = (devices: DeviceSelection, ttlSeconds = 600, secret = SECRET) => signToken({ secret, sub: 'alice', devices, ttlSeconds });
      const ids = (n: number) => Array.from({ length: n }, (_, i) => `d${i}`);
      // A signed-in user in no device group: a Cognito access token, checked by the real Cognito verifier.
      const noGroupToken = async () => {
        const { privateKey, publicKey } = await generateKeyPair('RS256');
        const issuer = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_contract';
        const cognito = createCognitoVerifier({ issuer, jwksUrl: `${issuer}/.well-known/jwks.json`, clientId: 'app', log, keys: async () => publicKey });
        const jwt = await new SignJWT({ token_use: 'access', client_id: 'app', 'cognito:groups': ['publish'] })
          .setProtectedHeader({ alg: 'RS256' })
          .setIssuer(issuer)
          .setSubject('bob')
          .setExpirationTime('10m')
          .sign(privateKey);
        return { jwt, cognito };
      };

      /** What API Gateway answers an upgrade with: the authorizer first, then the $connect route with its context. */
      const status = async ({ token, devices, allowedOrigins = [], verifier = verify }: { token?: string; devices?: string; allowedOrigins?: string[]; verifier?: typeof verify }) => {
        const query = { ...(token === undefined ? {} : { token }), ...(devices === undefined ? {} : { devices }) };
        const authorizerEvent = { ...loadEvent('authorizer'), queryStringParameters: query };
        let result;
        try {
          result = await createAuthorizer({ verify: verifier, allowedOrigins, log })(authorizerEvent);
        } catch (error) {
          // An authorizer's "Unauthorized" error is API Gateway's 401.
          return (error as Error).message === 'Unauthorized' ? 401 : 500;
        }
        // A Deny policy is API Gateway's 403.
        if (result.policyDocument.Statement[0]!.Effect !== 'Allow') return 403;
        const event = loadEvent<WsEvent>('connect');
        event.queryStringParameters = query;
        event.requestContext.authorizer = { principalId: result.principalId, ...result.context };
        try {
          await createConnectRoute({ store: fakeStore(), log, requireAuth: true })(event);
          return 101;
        } catch (error) {
          return isFrameError(error) ? error.statusCode : 500;
        }
      };

      const cases: Record<string, () => Promise<number>> = {
        validToken: async () => status({ token: await token('*') }),
        devicesInScope: async () => status({ token: await token(['dev-1', 'dev-2']), devices: 'dev-1' }),
        devicesMalformed: async () => status({ token: await token('*'), devices: 'dev/1' }),
        devicesTooMany: async () => status({ token: await token('*'), devices: ids(51).join(',') }),
        scopeTooLargeWithoutDevices: async () => status({ token: await token(ids(201)) }),
        noToken: async () => status({}),
        malformedToken: async () => status({ token: 'not-a-jwt' }),
        badSignature: async () => status({ token: await token('*', 600, 'another-secret') }),
        expiredToken: async () => status({ token: await token('*', -60) }),
        originNotAllowed: async () => status({ token: await token('*'), allowedOrigins: ['https://elsewhere.example.com'] }),
        noDeviceGroup: async () => {
          const { jwt, cognito } = await noGroupToken();
          return status({ token: jwt, verifier: cognito });
        },
        devicesOutsideScope: async () => status({ token: await token(['dev-1']), devices: 'dev-9' }),
      };

      const outcomes = channel['x-connect'].outcomes as { status: number; cases: string[] }[];
      const documented = outcomes.flatMap((o) => o.cases.map((name) => ({ name, status: o.status })));
      expectNone(
        documented.filter(({ name }) => !(name in cases)).map(({ name }) => name),
        `x-connect cases that this spec cannot run: add them to the cases here`,
      );
      expectNone(
        Object.keys(cases).filter((name) => !documented.some((d) => d.name === name)),
        `cases this spec runs that x-connect does not list under any outcome`,
      );
      const wrong: string[] = [];
      for (const { name, status: expected } of documented) {
        const actual = await cases[name]!();
        if (actual !== expected) wrong.push(`${name}: documented ${expected}, the code answers ${actual}`);
      }
      expectNone(wrong, `x-connect outcomes that the authorizer and the connect route do not produce`);
    });
  });

  describe('MQTT: devices/{deviceId}/telemetry', () => {
    const channel = doc.channels.deviceTelemetry as Node;
    const rule = channel['x-topic-rule'] as Node;

    it('is the topic the template rules read, and the rule adds what the document says', () => {
      const resource = template.Resources[rule.resource];
      expect(resource?.Type, `x-topic-rule.resource ${rule.resource} is not a topic rule in template.yaml`).to.equal('AWS::IoT::TopicRule');
      const sql = resource!.Properties?.TopicRulePayload?.Sql;
      expect(sql, `x-topic-rule.sql differs from template.yaml ${rule.resource}`).to.equal(rule.sql);
      const filter = channel.address.replace('{deviceId}', '+');
      expect(sql).to.include(`FROM '${filter}'`);
      const level = (channel.address as string).split('/').indexOf('{deviceId}') + 1;
      expect(sql).to.include(`topic(${level}) AS deviceId`);
      for (const field of Object.keys(rule.adds)) expect(sql, `the rule does not add ${field}`).to.match(new RegExp(`AS ${field}\\b`));
    });

    it('documents every topic rule in template.yaml that reads a device or lifecycle topic, and no rule the template lacks', () => {
      // The stack's own topics, not a device's: the rules' error documents (rule-errors/<stack>/+), queued for redrive.
      const INTERNAL_TOPICS = /^rule-errors\//;
      const documented = new Map<string, string>();
      for (const [name, ch] of Object.entries(doc.channels as Node)) if (ch['x-topic-rule']) documented.set(ch['x-topic-rule'].resource as string, name);
      const undocumented: string[] = [];
      for (const [logicalId, resource] of resourcesOfType(template, 'AWS::IoT::TopicRule')) {
        const sql = JSON.stringify(resource.Properties?.TopicRulePayload?.Sql);
        const topic = /FROM '([^']+)'/.exec(sql)?.[1];
        if (topic === undefined || INTERNAL_TOPICS.test(topic)) continue;
        if (!documented.has(logicalId)) undocumented.push(`${logicalId} (FROM '${topic}')`);
      }
      expectNone(undocumented, `topic rules in template.yaml that no channel's x-topic-rule in ${DOC} names`);
      const gone = [...documented].filter(([logicalId]) => template.Resources[logicalId]?.Type !== 'AWS::IoT::TopicRule').map(([id, ch]) => `${id} (channels.${ch})`);
      expectNone(gone, `x-topic-rule resources that are not topic rules in template.yaml`);
      expect(String(channel.description), 'the telemetry channel still names a rule the template no longer has').to.not.include('HistoryRule');
    });

    it('turns every documented device reading, with what the rule adds, into a documented telemetry frame', () => {
      const readingPointer = channel.messages.deviceReading.$ref + '/payload';
      const message = deref(channel.messages.deviceReading);
      expect(message.examples.length).to.be.greaterThan(0);
      for (const example of message.examples) {
        const where = `deviceReading.examples.${example.name}`;
        expectValid(readingPointer, example.payload, where);
        const event = { ...example.payload, deviceId: 'dev-1', receivedAt: 1795597200187 };
        expectValid('#/components/schemas/TelemetryRuleEvent', event, `${where} with deviceId and receivedAt`);
        expectValid(serverMessages.get('telemetry')!.payloadPointer, telemetryEnvelope(event), `the telemetry frame of ${where}`, true);
      }
    });

    it('describes the rule output of the events/ fixtures', () => {
      expectValid('#/components/schemas/TelemetryRuleEvent', loadEvent('telemetry'), 'events/telemetry.json');
      for (const record of loadEvent('telemetry-batch').Records) expectValid('#/components/schemas/TelemetryRuleEvent', JSON.parse(record.body), 'a body of events/telemetry-batch.json');
    });
  });

  describe('MQTT: $aws/events/presence/{connected,disconnected}/{clientId} (IoT Core lifecycle events)', () => {
    it('are the topics the template presence rules read, each with its documented SQL', () => {
      for (const name of LIFECYCLE_CHANNELS) {
        const channel = doc.channels[name] as Node | undefined;
        expect(channel, `channels.${name} is missing from ${DOC}`).to.not.equal(undefined);
        const rule = channel!['x-topic-rule'] as Node;
        const resource = template.Resources[rule.resource];
        expect(resource?.Type, `channels.${name} x-topic-rule.resource ${rule.resource} is not a topic rule in template.yaml`).to.equal('AWS::IoT::TopicRule');
        const sql = resource!.Properties?.TopicRulePayload?.Sql;
        expect(sql, `x-topic-rule.sql differs from template.yaml ${rule.resource}`).to.equal(rule.sql);
        expect(sql).to.include(`FROM '${(channel!.address as string).replace('{clientId}', '+')}'`);
        const functionArn = JSON.stringify(resource!.Properties?.TopicRulePayload?.Actions);
        expect(functionArn, `${rule.resource} invokes the presence function`).to.include('PresenceFunction');
      }
    });

    it('describe the events/ fixtures, which are the documented examples', () => {
      for (const name of LIFECYCLE_CHANNELS) {
        const rule = doc.channels[name]['x-topic-rule'] as Node;
        const fixture = loadEvent((rule.fixture as string).replace(/^events\/|\.json$/g, ''));
        const examples = lifecycleExamples().filter((e) => e.channel === name);
        expect(examples.length, `channels.${name} has no example`).to.be.greaterThan(0);
        expectValid(examples[0]!.payloadPointer, fixture, rule.fixture as string);
        expect(examples.map((e) => e.payload), `${rule.fixture} is not among channels.${name}'s examples`).to.deep.include(fixture);
        for (const example of examples) expect(example.payload.eventType, `${example.where} is on the ${name} channel`).to.equal(name === 'presenceConnected' ? 'connected' : 'disconnected');
      }
    });

    it('turn every documented lifecycle event into the documented presence frame, with the event time and reason', () => {
      const presencePointer = serverMessages.get('presence')!.payloadPointer;
      for (const { where, payloadPointer, payload } of lifecycleExamples()) {
        expectValid(payloadPointer, payload, where);
        const event = parseLifecycleEvent(payload);
        const frame = presenceFrame(event.clientId, presenceRecord(event));
        expectValid(presencePointer, frame, `the presence frame of ${where}`, true);
        expect(frame, where).to.deep.equal({
          type: 'presence',
          deviceId: payload.clientId,
          state: payload.eventType === 'connected' ? 'online' : 'offline',
          since: payload.timestamp,
          ...(payload.eventType === 'disconnected' && payload.disconnectReason ? { reason: payload.disconnectReason } : {}),
        });
      }
    });

    it('are refused by the code where the document requires what the event lacks', () => {
      const required: string[] = at('#/components/schemas/LifecycleEvent/required');
      const [{ payload }] = lifecycleExamples();
      for (const field of required) {
        const { [field]: _dropped, ...event } = payload!;
        expect(() => parseLifecycleEvent(event), `parseLifecycleEvent takes an event without "${field}", which the document requires`).to.throw();
        expect(schemaErrors('#/components/schemas/LifecycleEvent', event), `the schema takes an event without "${field}"`).to.not.equal(undefined);
      }
      const notADevice = { ...payload, clientId: 'dev/+' };
      expect(() => parseLifecycleEvent(notADevice), 'a client id that is not a DeviceId').to.throw();
      expect(schemaErrors('#/components/schemas/LifecycleEvent', notADevice)).to.not.equal(undefined);
    });
  });
});
