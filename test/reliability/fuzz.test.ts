/**
 * Property-based fuzzing of the live gateway (fast-check): random bytes,
 * random JSON, huge strings near the 128 KB quota, deep nesting, random
 * actions, fields and device ids, one frame at a time. Every frame must get
 * exactly one answer: an error frame that names a client mistake, or the
 * reply its action promises. No handler may fail, and the stack must still
 * serve a new client afterwards.
 *
 * FUZZ_SEED=<n> replays a run (fast-check prints the seed and path of a failure).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { type TestStack, connectDevice, startTestStack } from '../helpers/localStack.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';
import { debug, halfStored, readTable } from './support.js';

// 128 KB: API Gateway's WebSocket message payload quota, enforced by the gateway (1009 past it).
const MAX_PAYLOAD_BYTES = 128 * 1024;
const REPLY_TIMEOUT_MS = 10_000;
// rate_limited: the fuzzer broadcasts far faster than one sender may (MessageRatePerMinute).
const CLIENT_MISTAKES = new Set(['bad_request', 'forbidden', 'not_found', 'payload_too_large', 'rate_limited']);
const SUCCESS_REPLY: Record<string, string> = { subscribe: 'subscribed', unsubscribe: 'unsubscribed', ping: 'pong', message: 'sent', history: 'history', devices: 'snapshot' };
/**
 * A device payload with no room left for the envelope under the 128 KB quota is dropped by design:
 * the function logs it (at ERROR, for operators) and counts PayloadTooLarge, and Lambda does not retry.
 */
const HANDLED_LINE = /frame exceeds the 128 KB WebSocket payload quota; not delivered/;
const isFailure = (line: string) => FAILURE_LINE.test(line) && !HANDLED_LINE.test(line);
/** Log lines that mean a handler, or the stack, failed rather than refused. */
const FAILURE_LINE = /\b(ERROR|CRITICAL|FATAL)\b|route failed|failed: |gave up|Runtime\.|Sandbox\.|uncaught|unhandled|Internal server error/i;

type Outbound = ({ kind: 'text'; text: string } | { kind: 'binary'; bytes: Uint8Array }) & { [fc.toStringMethod]?: () => string };

/** Counterexamples print short: kind, size and the first 200 characters. */
const printable = (frame: Outbound): Outbound =>
  Object.assign(frame, {
    [fc.toStringMethod]: () =>
      frame.kind === 'binary'
        ? `binary(${frame.bytes.length} bytes: ${Buffer.from(frame.bytes.slice(0, 64)).toString('hex')}${frame.bytes.length > 64 ? '…' : ''})`
        : `text(${Buffer.byteLength(frame.text)} bytes: ${JSON.stringify(frame.text.slice(0, 200))}${frame.text.length > 200 ? '…' : ''})`,
  });

// ---------------------------------------------------------------- what is sent

const deviceId = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.:@-]{1,128}$/),
  fc.constantFrom('*', '+', '#', 'dev/1', 'dev-1/#', '', ' ', 'a'.repeat(129), '\u0000', 'dev\n1', '../../etc', "'; DROP TABLE x; --", '${jndi:x}', 'dev#1', 'conn#x'),
  fc.string({ maxLength: 140 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

const devices = fc.oneof(fc.constant('*'), fc.array(deviceId, { maxLength: 60 }), fc.jsonValue({ maxDepth: 3 }));

const action = fc.oneof(
  fc.constantFrom('subscribe', 'unsubscribe', 'message', 'ping', 'history', 'devices', '$connect', '$disconnect', '$default', '', 'SUBSCRIBE', 'ping ', 'constructor', '__proto__'),
  fc.string({ maxLength: 30 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Frames shaped like ours, with random values and extra fields. */
const shapedFrame = fc
  .record(
    {
      action,
      devices,
      data: fc.oneof(fc.object({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 })),
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: ['action'] },
  )
  .map((frame): Outbound => ({ kind: 'text', text: JSON.stringify(frame) }));

/** A frame of `bytes` bytes (ASCII), shaped as the given action. */
const sizedFrame = (shape: 'message' | 'subscribe' | 'raw' | 'ping', bytes: number): string => {
  const wrap = {
    message: (s: string) => `{"action":"message","data":{"blob":"${s}"}}`,
    subscribe: (s: string) => `{"action":"subscribe","devices":["${s}"]}`,
    ping: (s: string) => `{"action":"ping","pad":"${s}"}`,
    raw: (s: string) => s,
  }[shape];
  const overhead = Buffer.byteLength(wrap(''));
  return wrap('x'.repeat(Math.max(0, bytes - overhead)));
};

/** Sizes around the quota: just under, at, and just over 128 KB. */
const hugeFrame = fc
  .record({ shape: fc.constantFrom<'message' | 'subscribe' | 'raw' | 'ping'>('message', 'subscribe', 'raw', 'ping'), bytes: fc.integer({ min: MAX_PAYLOAD_BYTES - 2048, max: MAX_PAYLOAD_BYTES + 64 }) })
  .map(({ shape, bytes }): Outbound => printable({ kind: 'text', text: sizedFrame(shape, bytes) }));

/** Nesting from a few levels to as deep as 128 KB allows. */
const deepFrame = fc
  .record({ depth: fc.integer({ min: 1, max: 60_000 }), as: fc.constantFrom('array', 'object'), where: fc.constantFrom('data', 'devices', 'action', 'whole') })
  .map(({ depth, as, where }): Outbound => {
    const open = as === 'array' ? '[' : '{"a":';
    const close = as === 'array' ? ']' : '}';
    const fit = Math.min(depth, Math.floor((MAX_PAYLOAD_BYTES - 64) / (open.length + close.length)));
    const nested = `${open.repeat(fit)}1${close.repeat(fit)}`;
    const text =
      where === 'whole'
        ? nested
        : where === 'data'
          ? `{"action":"message","data":{"n":${nested}}}`
          : where === 'devices'
            ? `{"action":"subscribe","devices":${nested}}`
            : `{"action":${nested}}`;
    return { kind: 'text', text };
  });

const anyFrame: fc.Arbitrary<Outbound> = fc
  .oneof(
    { weight: 3, arbitrary: shapedFrame },
    { weight: 2, arbitrary: fc.jsonValue().map((v): Outbound => ({ kind: 'text', text: JSON.stringify(v) ?? 'null' })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text): Outbound => ({ kind: 'text', text })) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 4096 }).map((bytes): Outbound => ({ kind: 'binary', bytes })) },
    { weight: 1, arbitrary: deepFrame },
  )
  .map(printable);

/** What devices publish: anything at all, under 128 KB (IoT Core's message size quota), on any device's topic. */
const devicePayload = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
  fc.record({ ts: fc.oneof(fc.double(), fc.string(), fc.constant(null)), deviceId: fc.jsonValue({ maxDepth: 1 }), receivedAt: fc.jsonValue({ maxDepth: 1 }), id: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.integer({ min: 1, max: 60_000 }).map((depth) => {
    const fit = Math.min(depth, Math.floor((MAX_PAYLOAD_BYTES - 64) / 6));
    return `{"ts":1,"n":${'{"a":'.repeat(fit)}1${'}'.repeat(fit)}}`;
  }),
  fc.integer({ min: MAX_PAYLOAD_BYTES - 4096, max: MAX_PAYLOAD_BYTES - 64 }).map((bytes) => `{"ts":1,"blob":"${'x'.repeat(bytes - 24)}"}`),
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
).map((payload) => ({
  payload,
  [fc.toStringMethod]: () => `payload(${payload.length} bytes: ${JSON.stringify(payload.toString().slice(0, 200))}${payload.length > 200 ? '…' : ''})`,
}));
// MQTT forbids wildcards in a published topic; a slash would move the device id to another level.
const topicDevice = fc.oneof(deviceId, fc.string({ maxLength: 40 })).map((id) => id.replace(/[+#/\u0000]/g, '_'));

// ---------------------------------------------------------------- what must come back

const sizeOf = (frame: Outbound) => (frame.kind === 'binary' ? frame.bytes.length : Buffer.byteLength(frame.text));

/** The route API Gateway would pick: `$request.body.action`, or $default. */
const routeOf = (frame: Outbound): string => {
  if (frame.kind === 'binary') return '$default';
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame.text);
  } catch {
    return '$default';
  }
  const value = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>).action : undefined;
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return '$default';
  return Object.hasOwn(SUCCESS_REPLY, String(value)) ? String(value) : '$default';
};

describe('reliability: fuzzing the live gateway (fast-check)', function () {
  this.timeout(90_000);
  let stack: TestStack;
  let client: TestClient | undefined;
  let sent = 0;
  let answered = 0;
  let closedByQuota = 0;
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

  const connected = async () => {
    if (client && client.ws.readyState === WebSocket.OPEN) return client;
    client = await connectClient(stack.urls.websocket);
    return client;
  };

  /** Sends one frame and checks its one answer; returns a description of what went wrong, or undefined. */
  const exchange = async (frame: Outbound): Promise<void> => {
    const c = await connected();
    const before = c.frames.length;
    sent++;
    if (frame.kind === 'binary') c.ws.send(frame.bytes, { binary: true });
    else c.ws.send(frame.text);
    if (sizeOf(frame) > MAX_PAYLOAD_BYTES) {
      // Past the quota API Gateway closes the connection with 1009; nothing else may happen.
      const { code } = await c.closed;
      expect(code, 'close code past 128 KB').to.equal(1009);
      closedByQuota++;
      client = undefined;
      return;
    }
    let reply: Frame = await c.next(() => true, REPLY_TIMEOUT_MS);
    answered++;
    const route = routeOf(frame);
    // A subscribe that succeeds sends its snapshot first; a reply of several frames ends with done: true.
    let answers = 1;
    if (route === 'subscribe' && reply.type === 'snapshot') {
      while (reply.type === 'snapshot') {
        reply = await c.next(() => true, REPLY_TIMEOUT_MS);
        answers++;
      }
    }
    if ((reply.type === 'history' || reply.type === 'snapshot') && route !== 'subscribe') {
      while (reply.done !== true) {
        reply = await c.next(() => true, REPLY_TIMEOUT_MS);
        answers++;
      }
    }
    expect(c.frames.length, 'exactly one answer').to.equal(before + answers);
    if (reply.type === 'error') {
      expect(CLIENT_MISTAKES.has(reply.code), `error code for a ${route} frame: ${JSON.stringify(reply).slice(0, 300)}`).to.equal(true);
      expect(reply.message, 'the error says what was wrong').to.be.a('string').and.not.equal('');
      return;
    }
    expect(route, `a success reply (${reply.type}) only on a routed action`).not.to.equal('$default');
    expect(reply.type, `reply to ${route}`).to.equal(SUCCESS_REPLY[route]);
  };

  before(async () => {
    stack = await startTestStack({ auth: false, logLevel: 'info' });
  });

  after(async () => {
    await client?.close();
    await stack?.stop();
  });

  it('answers every random frame with one error frame or the reply its action promises', async () => {
    await fc.assert(
      fc.asyncProperty(anyFrame, async (frame) => {
        await exchange(frame);
      }),
      { numRuns: 1000, seed, interruptAfterTimeLimit: 40_000, markInterruptAsFailure: false },
    );
    debug({ sent, answered, closedByQuota });
    expect(answered, 'frames answered').to.be.greaterThan(50);
  });

  it('answers frames around the 128 KB quota, and closes with 1009 only past it', async () => {
    await fc.assert(
      fc.asyncProperty(hugeFrame, async (frame) => {
        await exchange(frame);
      }),
      { numRuns: 60, seed, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false },
    );
  });

  it('drops or delivers every random device payload, and no function fails on one', async () => {
    const device: MqttClient = await connectDevice(stack.urls.mqtt, 'fuzz-device');
    try {
      await fc.assert(
        fc.asyncProperty(topicDevice, devicePayload, async (id, { payload }) => {
          const before = stack.lines.length;
          await device.publishAsync(`devices/${id}/telemetry`, payload, { qos: 1 });
          await stack.settled();
          const failures = stack.lines.slice(before).filter(isFailure);
          expect(failures, 'failure log lines').to.deep.equal([]);
        }),
        { numRuns: 80, seed, interruptAfterTimeLimit: 30_000, markInterruptAsFailure: false },
      );
    } finally {
      await device.endAsync();
    }
  });

  it('is still up afterwards: a new client is served, no handler failed, and the table holds only live connections', async () => {
    // Act
    await client?.close();
    client = undefined;
    await stack.settled();
    const fresh = await connectClient(stack.urls.websocket);
    const pong = await fresh.request({ action: 'ping' }, (f) => f.type === 'pong');
    const table = await readTable(stack.urls.dynamodb, stack.tableName);
    const live = stack.connections().map((c) => c.connectionId);
    await fresh.close();

    // Assert
    expect(pong.type).to.equal('pong');
    expect(sent).to.be.greaterThan(50);
    expect(closedByQuota, 'closes past the quota').to.be.at.most(sent - answered);
    expect(stack.lines.filter(isFailure), 'failure log lines').to.deep.equal([]);
    expect([...table.connections.keys()], 'connection items').to.deep.equal(live);
    expect(halfStored(table)).to.deep.equal([]);
  });
});
