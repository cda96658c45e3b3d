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
  type ConnectionRecord,
  type ConnectionStore,
  type DeviceSelection,
  type DevicesStore,
  type FanoutTask,
  type FrameError,
  type HistoryPoint,
  type HistoryStore,
  type LatestReading,
  type Principal,
  type WsEvent,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
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
  errorFrame,
  errorReply,
  groupByDevice,
  isFrameError,
  parseClientFrame,
  resyncFor,
  signToken,
  splitIntoFrames,
  telemetryEnvelope,
  BadRequest,
  validateClientFrame,
  wsRoute,
} from '@serverless-iot-dashboard/shared';
import { PROJECT_ROOT, readTemplate, resourcesOfType } from '../../../scripts/template.js';
import { lambdaContext, loadEvent } from '../../helpers/events.js';

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

const fakeHistory = (points: HistoryPoint[]): HistoryStore => ({
  async *raw(_deviceId, since, until) {
    yield points.filter((p) => p.ts >= since && p.ts <= until).map((p, i) => ({ ...p, id: `r-${i}` }));
  },
  // No rollup buckets: every reply is answered from the raw readings.
  async *buckets() {},
  usage: { requests: 0, readUnits: 0 },
});

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
  'history (the history route: raw, downsampled, and an error with its requestId)': async () => {
    const posted: string[] = [];
    const points = Array.from({ length: 20 }, (_, i): HistoryPoint => ({ ts: 1795596900000 + i * 15_000, data: { temperature: 20 + (i % 7), label: `p${i}` } }));
    const route = (scope: ConnectionRecord['scope']) =>
      createHistoryRoute({ store: fakeStore(scope), history: fakeHistory(points), post: async (_id, body) => void posted.push(body), log, retentionDays: 7, now: () => 1795597200000 });
    const request = { action: 'history', deviceId: 'dev-1', since: 1795596900000, until: 1795597200000, requestId: 'chart-dev-1' };
    await route('*')(messageEvent('history', request));
    await route('*')(messageEvent('history', { ...request, maxPoints: 3 }));
    const refused = replyOf(await route(['dev-2'])(messageEvent('history', request)));
    return [...posted.map((p) => JSON.parse(p)), refused];
  },
  'snapshot (the devices route)': async () => {
    const posted: string[] = [];
    await createDevicesRoute({ store: fakeStore(), devices: fakeDevices, post: async (_id, body) => void posted.push(body), log })(messageEvent('devices'));
    return posted.map((p) => JSON.parse(p));
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

    it('rejects every documented invalid example with the documented code, in the code and (where JSON Schema can say it) in the schema', () => {
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
          expect(error, `${where} is accepted by parseClientFrame`).to.not.equal(undefined);
          expect(error!.code, `${where} is rejected with "${error!.code}" (${error!.message}), documented "${example.code}"`).to.equal(example.code);
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
      const history = JSON.stringify(template.Resources.HistoryRule?.Properties?.TopicRulePayload?.Sql);
      expect(history, 'HistoryRule reads the documented topic').to.include(`FROM '${filter}'`);
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
});
