/**
 * Alarms (issue 22): what evaluating rules adds per reading, crossing-to-frame latency, and exactly-once
 * notifications under injected faults. docs/decisions/010-alarm-evaluation-where-readings-flow.md.
 *
 * - cost: 10,000 rules over 1,000 devices in dynalite (AlarmsTable from template.yaml); readings that change no
 *   state, through a warm evaluator: read and write units per reading (as DynamoDB bills them), and the CPU of
 *   evaluation per reading against the same readings for devices with no rules.
 * - exactlyOnce: 1,000 crossings (ALARM and back to OK) on 100 devices, every reading evaluated by two evaluators
 *   at once and once more as a retry, with 10 % of DynamoDB calls failing (ThrottlingException) and the
 *   invocation retried as Lambda would: notifications per transition.
 * - latency: the local stack in-process: MQTT publish of a crossing → the `alarm` frame at a WebSocket client,
 *   and → the `notify` line.
 */
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import {
  type AlarmRule,
  type AlarmTransition,
  type Reading,
  createAlarmEmitter,
  createAlarmEvaluator,
  createAlarmStore,
  noopCounter,
  signToken,
} from '@serverless-iot-dashboard/shared';
import { startStack } from '../local/stack/stack.js';
import { tableDefinitions } from '../scripts/template.js';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

export interface AlarmsPlan {
  devices: number;
  rulesPerDevice: number;
  readings: number;
  crossingDevices: number;
  crossingsPerDevice: number;
  faultRate: number;
  latencyCrossings: number;
}

export interface AlarmsRow {
  scenario: string;
  [key: string]: string | number;
}

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;

const startDynalite = async () => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === 'AlarmsTable')!;
  let n = 0;
  const table = async () => {
    const name = `alarms-bench-${++n}`;
    await client.send(new CreateTableCommand({ ...(definition as object), TableName: name } as never));
    await waitUntilTableExists({ client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: name });
    return name;
  };
  return { doc, table, stop: async () => (client.destroy(), await new Promise<void>((r) => server.close(() => r()))) };
};

const ruleOf = (deviceId: string, i: number): AlarmRule => ({
  id: `${deviceId}~${String(i).padStart(8, '0')}`,
  deviceId,
  field: `f${i}`,
  above: 100 + i,
  forSeconds: i % 2 === 0 ? 0 : 10,
  createdBy: 'bench',
  scope: '*',
  createdAt: 0,
});

const loadRules = async (doc: DynamoDBDocumentClient, tableName: string, rules: AlarmRule[]) => {
  for (let i = 0; i < rules.length; i += 25) {
    await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: rules.slice(i, i + 25).map((r) => ({ PutRequest: { Item: { pk: 'rules', sk: r.id, ...r } } })) } }));
  }
};

const reading = (deviceId: string, i: number, fields: number): Reading => ({
  id: `${deviceId}-${i}`,
  deviceId,
  ts: 1_795_597_200_000 + i * 1000,
  receivedAt: 1_795_597_200_000 + i * 1000 + 20,
  data: Object.fromEntries(Array.from({ length: fields }, (_, f) => [`f${f}`, 50 + (i % 7)])),
});

const cpuMicros = async (run: () => Promise<void>) => {
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  return used.user + used.system;
};

export const runAlarmCost = async (plan: AlarmsPlan, progress: (line: string) => void): Promise<AlarmsRow[]> => {
  const dynamo = await startDynalite();
  try {
    const tableName = await dynamo.table();
    const devices = Array.from({ length: plan.devices }, (_, d) => `dev-${d}`);
    progress(`alarms: loading ${plan.devices * plan.rulesPerDevice} rules over ${plan.devices} devices`);
    await loadRules(dynamo.doc, tableName, devices.flatMap((d) => Array.from({ length: plan.rulesPerDevice }, (_, i) => ruleOf(d, i))));
    const rows: AlarmsRow[] = [];
    for (const mode of ['shared version (telemetry functions)', 'own version item, read ≤ 1/s (1,000 readings/s)'] as const) {
      let now = 1_795_597_200_000;
      const store = createAlarmStore({ doc: dynamo.doc, tableName, now: () => now });
      const evaluator = createAlarmEvaluator({
        store,
        emit: createAlarmEmitter({ log: silentLog, counter: noopCounter }),
        log: silentLog,
        counter: noopCounter,
        now: () => now,
        checkEveryMs: 1000,
        ...(mode.startsWith('shared') ? { sharedVersion: () => 'v1' } : {}),
      });
      // Warm: every device seen once (its rules and states read).
      for (const d of devices) await evaluator.evaluate([reading(d, 0, plan.rulesPerDevice)]);
      const before = { ...store.usage };
      const withRules = await cpuMicros(async () => {
        for (let i = 0; i < plan.readings; i++) {
          now += 1; // 1,000 readings a second
          await evaluator.evaluate([reading(devices[i % devices.length]!, 1 + i, plan.rulesPerDevice)]);
        }
      });
      const reads = store.usage.readUnits - before.readUnits;
      const writes = store.usage.writeUnits - before.writeUnits;
      const requests = store.usage.requests - before.requests;
      // The same readings for devices with no rule (their empty lists cached).
      const unruled = Array.from({ length: plan.devices }, (_, d) => `none-${d}`);
      for (const d of unruled) await evaluator.evaluate([reading(d, 0, plan.rulesPerDevice)]);
      const withoutRules = await cpuMicros(async () => {
        for (let i = 0; i < plan.readings; i++) await evaluator.evaluate([reading(unruled[i % unruled.length]!, 1 + i, plan.rulesPerDevice)]);
      });
      rows.push({
        scenario: `cost, ${mode}`,
        rules: plan.devices * plan.rulesPerDevice,
        readings: plan.readings,
        requestsPerReading: round(requests / plan.readings),
        readUnitsPerReading: round(reads / plan.readings),
        writeUnitsPerReading: round(writes / plan.readings),
        cpuMicrosPerReading: round(withRules / plan.readings, 1),
        cpuMicrosPerReadingNoRules: round(withoutRules / plan.readings, 1),
        addedCpuMicros: round((withRules - withoutRules) / plan.readings, 1),
      });
      progress(`alarms: ${JSON.stringify(rows.at(-1))}`);
    }
    return rows;
  } finally {
    await dynamo.stop();
  }
};

export const runAlarmExactlyOnce = async (plan: AlarmsPlan, progress: (line: string) => void): Promise<AlarmsRow[]> => {
  const dynamo = await startDynalite();
  try {
    const tableName = await dynamo.table();
    let calls = 0;
    let faults = 0;
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    // FAULTS: a share of DynamoDB calls is throttled before it reaches the table, as DynamoDB does.
    const faulty = new Proxy(dynamo.doc, {
      get(target, key) {
        if (key !== 'send') return Reflect.get(target, key);
        return async (command: unknown) => {
          calls++;
          if (random() < plan.faultRate) {
            faults++;
            throw Object.assign(new Error('injected'), { name: 'ThrottlingException' });
          }
          return (target.send as (c: unknown) => Promise<unknown>)(command);
        };
      },
    }) as DynamoDBDocumentClient;
    const store = createAlarmStore({ doc: faulty, tableName });
    const devices = Array.from({ length: plan.crossingDevices }, (_, d) => `x-${d}`);
    await loadRules(dynamo.doc, tableName, devices.map((d) => ({ ...ruleOf(d, 0), field: 'temperature', above: 30, forSeconds: 0 })));
    const notified = new Map<string, number>();
    const emit = createAlarmEmitter({
      log: silentLog,
      counter: noopCounter,
      publish: async (n) => {
        const key = `${n.attributes.ruleId} ${n.attributes.deviceId} ${n.attributes.state} ${n.message.split('\n').find((l) => l.startsWith('at: '))}`;
        notified.set(key, (notified.get(key) ?? 0) + 1);
      },
    });
    const evaluators = [0, 1].map(() => createAlarmEvaluator({ store, emit, log: silentLog, counter: noopCounter, checkEveryMs: 0 }));
    /** An invocation: Lambda retries a failed one twice (and SQS more); give it up to 10 tries. */
    const invoke = async (e: (typeof evaluators)[number], readings: Reading[]) => {
      for (let attempt = 1; attempt <= 10; attempt++) {
        try {
          return await e.evaluate(readings);
        } catch {
          // retried
        }
      }
      return undefined;
    };
    const transitions: AlarmTransition[] = [];
    const started = performance.now();
    for (let c = 0; c < plan.crossingsPerDevice; c++) {
      for (const value of [31.5, 20]) {
        await Promise.all(
          devices.map(async (d) => {
            const r: Reading = { id: `${d}-${c}-${value}`, deviceId: d, ts: 1_795_597_200_000 + c * 10_000 + (value > 30 ? 0 : 5000), receivedAt: 0, data: { temperature: value } };
            r.receivedAt = r.ts + 20;
            // Two concurrent invocations, then a retry of one of them (a duplicate).
            const outs = await Promise.all([invoke(evaluators[0]!, [r]), invoke(evaluators[1]!, [r, r])]);
            const retry = await invoke(evaluators[0]!, [r]);
            for (const out of [...outs, retry]) if (out) transitions.push(...out.transitions);
          }),
        );
      }
    }
    const expected = plan.crossingDevices * plan.crossingsPerDevice * 2;
    const counts = [...notified.values()];
    const row: AlarmsRow = {
      scenario: `exactly once, FAULTS ${Math.round(plan.faultRate * 100)} % throttled`,
      crossings: plan.crossingDevices * plan.crossingsPerDevice,
      expectedTransitions: expected,
      committedTransitions: transitions.length,
      notifications: counts.reduce((a, b) => a + b, 0),
      notifiedTwice: counts.filter((n) => n > 1).length,
      notNotified: expected - notified.size,
      ddbCalls: calls,
      faultsInjected: faults,
      seconds: round((performance.now() - started) / 1000, 1),
    };
    progress(`alarms: ${JSON.stringify(row)}`);
    return [row];
  } finally {
    await dynamo.stop();
  }
};

export const runAlarmLatency = async (plan: AlarmsPlan, progress: (line: string) => void): Promise<AlarmsRow[]> => {
  const lines: { at: number; line: string }[] = [];
  const stack = await startStack({ port: 0, wsPort: 0, mqttPort: 0, simulatedDevices: 0, localAuth: 'token', log: (line) => lines.push({ at: performance.now(), line }) });
  try {
    const token = await signToken({ secret: stack.devSecret!, sub: 'bench', devices: '*', alarms: true, ttlSeconds: 3600 });
    const ws = new WebSocket(`${stack.urls.websocket}?token=${token}&devices=lat-1`);
    const frames: { at: number; frame: Record<string, unknown> }[] = [];
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    ws.on('message', (data) => frames.push({ at: performance.now(), frame: JSON.parse(data.toString()) }));
    const waitUntil = async (check: () => boolean, what: string, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    ws.send(JSON.stringify({ action: 'putAlarmRule', rule: { deviceId: 'lat-1', field: 'temperature', above: 30 } }));
    await waitUntil(() => frames.some((f) => f.frame.type === 'alarm-rule'), 'the rule');
    const device = await mqtt.connectAsync(stack.urls.mqtt, { clientId: 'alarm-latency' });
    const toFrame: number[] = [];
    const toNotify: number[] = [];
    await device.publishAsync('devices/lat-1/telemetry', JSON.stringify({ ts: Date.now(), temperature: 20 }));
    for (let i = 0; i < plan.latencyCrossings; i++) {
      for (const [value, state] of [[31.5, 'ALARM'], [20, 'OK']] as const) {
        const framesBefore = frames.filter((f) => f.frame.type === 'alarm').length;
        const notesBefore = lines.filter((l) => l.line.startsWith('notify ')).length;
        const sent = performance.now();
        await device.publishAsync('devices/lat-1/telemetry', JSON.stringify({ ts: Date.now(), temperature: value }));
        await waitUntil(() => frames.filter((f) => f.frame.type === 'alarm').length > framesBefore, `the ${state} frame`);
        await waitUntil(() => lines.filter((l) => l.line.startsWith('notify ')).length > notesBefore, `the ${state} notify line`);
        toFrame.push(frames.filter((f) => f.frame.type === 'alarm').at(-1)!.at - sent);
        toNotify.push(lines.filter((l) => l.line.startsWith('notify ')).at(-1)!.at - sent);
      }
    }
    await device.endAsync();
    ws.close();
    const f = [...toFrame].sort((a, b) => a - b);
    const n = [...toNotify].sort((a, b) => a - b);
    const row: AlarmsRow = {
      scenario: 'latency, local stack (direct mode)',
      transitions: f.length,
      frameP50Ms: round(pct(f, 50), 1),
      frameP99Ms: round(pct(f, 99), 1),
      notifyP50Ms: round(pct(n, 50), 1),
      notifyP99Ms: round(pct(n, 99), 1),
    };
    progress(`alarms: ${JSON.stringify(row)}`);
    return [row];
  } finally {
    await stack.stop();
  }
};

export const runAlarms = async ({ plan, progress }: { plan: AlarmsPlan; progress: (line: string) => void }): Promise<AlarmsRow[]> => [
  ...(await runAlarmCost(plan, progress)),
  ...(await runAlarmExactlyOnce(plan, progress)),
  ...(await runAlarmLatency(plan, progress)),
];
