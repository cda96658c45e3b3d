/**
 * The IoT Core stand-in with a stub in place of the functions: the topic rule
 * engine invokes asynchronously, retries a failed invocation twice like
 * Lambda's async invoke, and shrugs off what devices send.
 */
import { connect } from 'node:net';
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { type IotCore, startIotCore } from '../../../local/iot/iotCore.js';
import { createAsyncInvoker } from '../../../local/lambda/asyncInvoke.js';
import type { TopicRuleSpec } from '../../../local/template/stackModel.js';
import { connectDevice } from '../../helpers/localStack.js';
import { waitFor } from '../../helpers/waitFor.js';

const rule = (sql: string, overrides: Partial<TopicRuleSpec> = {}): TopicRuleSpec => ({
  logicalId: 'TestRule',
  name: 'test_rule',
  sql,
  sqlVersion: '2016-03-23',
  disabled: false,
  functionIds: ['TargetFunction'],
  putItemTables: [],
  unsupportedActions: [],
  ...overrides,
});

describe('local IoT Core: broker and topic rules', function () {
  this.timeout(10_000);
  let iot: IotCore;
  let device: MqttClient;
  let calls: { event: any; attempt: number; at: number }[];
  let outcome: (attempt: number) => void;
  let logs: string[];

  const start = async (rules: TopicRuleSpec[], retryDelaysMs = [100, 200]) => {
    iot = await startIotCore({
      rules,
      asyncInvoker: createAsyncInvoker({ retryDelaysMs }),
      log: (level, source, text) => logs.push(`${level} ${source} ${text}`),
      invoke: async (_functionId, event, meta) => {
        calls.push({ event, attempt: meta.attempt, at: Date.now() });
        outcome(meta.attempt);
        return { ok: true };
      },
    });
    const port = await iot.listen(0, '127.0.0.1');
    device = await connectDevice(`mqtt://127.0.0.1:${port}`, 'dev-1');
    return port;
  };

  beforeEach(() => {
    calls = [];
    logs = [];
    outcome = () => undefined;
  });
  afterEach(async () => {
    await device?.endAsync().catch(() => undefined);
    await iot?.close();
  });

  it('invokes the rule target with the rule output for a matching topic only', async () => {
    await start([rule("SELECT *, topic(2) AS deviceId FROM 'devices/+/telemetry' WHERE temperature > 0")]);
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ temperature: 20 }));
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ temperature: -5 }));
    await device.publishAsync('elsewhere/dev-1/telemetry', JSON.stringify({ temperature: 20 }));
    // Every publish seen by the rule engine (it evaluates the rules as it counts one), then every invocation done.
    await waitFor(() => iot.stats.published === 3);
    await iot.settled();
    expect(calls.map((c) => c.event)).to.deep.equal([{ temperature: 20, deviceId: 'dev-1' }]);
    expect(iot.stats).to.include({ published: 3, matched: 1 });
  });

  it('retries a failing invocation twice with the configured delays, then gives up with a log line', async () => {
    // Arrange
    await start([rule("SELECT * FROM 't'")], [100, 200]);
    outcome = () => {
      throw new Error('handler crashed');
    };

    // Act
    await device.publishAsync('t', '{"n":1}');
    await waitFor(() => calls.length === 3, { timeoutMs: 3000 });
    await iot.settled();

    // Assert
    expect(calls.map((c) => c.attempt)).to.deep.equal([1, 2, 3]);
    expect(calls[1]!.at - calls[0]!.at).to.be.at.least(90);
    expect(calls[2]!.at - calls[1]!.at).to.be.at.least(190);
    expect(iot.stats.failed).to.equal(1);
    expect(logs.some((l) => /gave up .* after 3 attempts: handler crashed/.test(l))).to.equal(true);
  });

  it('stops retrying once an attempt succeeds', async () => {
    await start([rule("SELECT * FROM 't'")], [10, 10]);
    outcome = (attempt) => {
      if (attempt === 1) throw new Error('once');
    };
    await device.publishAsync('t', '{"n":1}');
    await waitFor(() => calls.length === 2);
    // settled() covers the retries still scheduled: a third attempt would have run by then.
    await iot.settled();
    expect(calls).to.have.length(2);
    expect(iot.stats.failed).to.equal(0);
  });

  it('logs and drops payloads that are not a JSON object, and keeps serving', async () => {
    await start([rule("SELECT * FROM 't'")]);
    for (const payload of ['not json', '[1,2]', '42', Buffer.from([0xff, 0x00, 0xfe])]) await device.publishAsync('t', payload);
    await device.publishAsync('t', '{"fine":true}');
    await waitFor(() => calls.length === 1);
    expect(iot.stats.dropped).to.equal(4);
    expect(calls[0]!.event).to.deep.equal({ fine: true });
  });

  it('survives garbage on the MQTT port', async () => {
    const port = await start([rule("SELECT * FROM 't'")]);
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.from('GET / HTTP/1.1\r\n\r\n\u0000\u00ff garbage')));
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
    await device.publishAsync('t', '{"after":"garbage"}');
    await waitFor(() => calls.length === 1);
  });

  it('skips disabled rules and rules whose SQL cannot run, with a log line for each', async () => {
    await start([rule("SELECT * FROM 't'", { disabled: true }), rule('SELECT nope(', { logicalId: 'BrokenRule' })]);
    await device.publishAsync('t', '{"n":1}');
    await waitFor(() => iot.stats.published === 1);
    await iot.settled();
    expect(calls).to.deep.equal([]);
    expect(logs.some((l) => /TestRule is disabled/.test(l))).to.equal(true);
    expect(logs.some((l) => /BrokenRule: its SQL cannot run locally/.test(l))).to.equal(true);
  });
});
