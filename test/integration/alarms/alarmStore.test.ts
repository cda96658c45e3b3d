/** The alarm store's conditional transitions, the evaluator and the alarm routes against a real DynamoDB-compatible server (dynalite on 127.0.0.1). */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import {
  type AlarmRule,
  type AlarmTransition,
  TRANSITION_RETENTION_DAYS,
  createAlarmEmitter,
  createAlarmEvaluator,
  createAlarmRoutes,
  createAlarmStore,
  createConnectionStore,
  createNotificationRedelivery,
  createSilentSweep,
  OUTBOX_GRACE_MS,
  initialState,
  noopCounter,
  step,
} from '@serverless-iot-dashboard/shared';
import { tableDefinitions } from '../../../scripts/template.js';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';
import { loadEvent } from '../../helpers/events.js';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const T0 = 1_795_597_200_000;

const rule = (deviceId: string, extra: Partial<AlarmRule> = {}): AlarmRule => ({
  id: `${deviceId}~abcd0001`,
  deviceId,
  field: 'temperature',
  above: 30,
  createdBy: 'alice',
  scope: '*',
  createdAt: T0,
  ...extra,
});
const reading = (deviceId: string, i: number, temperature: number) => ({ id: `${deviceId}-${i}`, deviceId, ts: T0 + i * 1000, receivedAt: T0 + i * 1000 + 20, data: { temperature } });

describe('alarm store against dynalite', () => {
  let dynamo: TestDynamo;
  let alarmsTable: string;
  let counter = 0;

  const freshAlarmsTable = async () => {
    const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === 'AlarmsTable')!;
    const name = `alarms-${process.pid}-${++counter}`;
    await dynamo.client.send(new CreateTableCommand({ ...(definition as object), TableName: name } as never));
    await waitUntilTableExists({ client: dynamo.client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: name });
    return name;
  };

  before(async () => {
    dynamo = await startDynamo();
  });
  after(async () => dynamo.stop());
  beforeEach(async () => {
    alarmsTable = await freshAlarmsTable();
  });

  it('lets exactly one of two writers make the same transition, and keeps it 30 days', async () => {
    const store = createAlarmStore({ doc: dynamo.doc, tableName: alarmsTable });
    const r = rule('dev-1');
    const from = initialState(r.id, 'dev-1');
    const to = step(r, from, reading('dev-1', 0, 31))!;
    const results = await Promise.all([store.transition(from, to, 'temperature'), store.transition(from, to, 'temperature')]);
    expect(results.filter(Boolean)).to.have.length(1);
    // The next step from the stored state succeeds; one from the stale state does not.
    const cleared = step(r, to, reading('dev-1', 1, 20))!;
    expect(await store.transition(from, cleared, 'temperature')).to.equal(undefined);
    expect(await store.transition(to, cleared, 'temperature')).to.include({ from: 'ALARM', state: 'OK' });
    const kept = await store.transitions('dev-1', T0 - 1000, T0 + 5000);
    expect(kept.map((t) => t.state)).to.deep.equal(['ALARM', 'OK']);
    const item = await dynamo.doc.send(new GetCommand({ TableName: alarmsTable, Key: { pk: 'tr#dev-1', sk: `${T0}#${r.id}#1` } }));
    expect(item.Item?.expiresAt).to.equal(T0 / 1000 + TRANSITION_RETENTION_DAYS * 86_400);
    expect((await store.active()).map((s) => s.state)).to.deep.equal([]);
  });

  it('gives one transition and one notification per crossing when two invocations evaluate the same readings at once', async () => {
    const store = createAlarmStore({ doc: dynamo.doc, tableName: alarmsTable });
    const devices = Array.from({ length: 10 }, (_, i) => `dev-${i}`);
    for (const d of devices) await store.putRule(rule(d, { name: `Freezer ${d}` }));
    const notified: string[] = [];
    const frames: string[] = [];
    const emit = createAlarmEmitter({ log: silentLog, counter: noopCounter, publish: async (n) => void notified.push(`${n.attributes.deviceId} ${n.attributes.state}`), deliver: async (_d, b) => void frames.push(b) });
    const [a, b] = [0, 1].map(() => createAlarmEvaluator({ store, emit, log: silentLog, counter: noopCounter, checkEveryMs: 0 }));
    const readings = devices.map((d) => reading(d, 0, 31));
    // Both invocations, and a retry of one of them, get every crossing.
    await Promise.all([a!.evaluate(readings), b!.evaluate(readings), a!.evaluate(readings)]);
    expect(notified.sort()).to.deep.equal(devices.map((d) => `${d} ALARM`).sort());
    expect(frames).to.have.length(10);
    expect((await store.active()).map((s) => s.deviceId).sort()).to.deep.equal([...devices].sort());
  });

  it('costs no write for a reading that changes no state, and no read with the cache warm', async () => {
    let now = T0;
    const store = createAlarmStore({ doc: dynamo.doc, tableName: alarmsTable, now: () => now });
    await store.putRule(rule('dev-1'));
    const evaluator = createAlarmEvaluator({ store, emit: async () => ({ notified: false }), log: silentLog, counter: noopCounter, now: () => now, checkEveryMs: 1000 });
    await evaluator.evaluate([reading('dev-1', 0, 20)]);
    const warm = await Promise.all([1, 2, 3].map((i) => evaluator.evaluate([reading('dev-1', i, 25)])));
    expect(warm.map((w) => [w.requests, w.writeUnits])).to.deep.equal([[0, 0], [0, 0], [0, 0]]);
    now += 1000;
    const checked = await evaluator.evaluate([reading('dev-1', 4, 25)]);
    expect(checked).to.include({ requests: 1, writeUnits: 0 });
  });

  describe('the notification outbox', () => {
    const log = () => {
      const lines: string[] = [];
      const write = (msg: string) => void lines.push(msg);
      return { lines, log: { debug: write, info: write, warn: write, error: write } };
    };
    /** A raise of `dev-1`'s rule through an evaluator whose emitter publishes with `publish` and keeps its outbox in the store. */
    const raise = async (publish: (subject: string) => Promise<void>, now: () => number) => {
      const store = createAlarmStore({ doc: dynamo.doc, tableName: alarmsTable, now });
      await store.putRule(rule('dev-1', { name: 'Freezer' }));
      const { log: quiet } = log();
      const emit = createAlarmEmitter({ log: quiet, counter: noopCounter, outbox: store, publish: async (n) => publish(n.subject) });
      const evaluation = await createAlarmEvaluator({ store, emit, log: quiet, counter: noopCounter, checkEveryMs: 0 }).evaluate([reading('dev-1', 0, 31)]);
      expect(evaluation.transitions.map((t) => t.state)).to.deep.equal(['ALARM']);
      return { store, evaluation };
    };
    const noDevices = { lastSeen: async () => new Map<string, number>(), known: async () => [] };

    it('leaves nothing in the outbox once SNS has the notification, and the sweep then publishes nothing', async () => {
      const now = T0;
      const published: string[] = [];
      const { store } = await raise(async (s) => void published.push(s), () => now);
      expect(await store.claimPendingNotifications(0)).to.deep.equal([]);
      expect(published).to.deep.equal(['ALARM: dev-1 Freezer']);
    });

    it('publishes a notification whose publish failed from the sweep, once, after the grace period, and never twice from sweeps at once', async () => {
      let now = T0;
      const { store } = await raise(async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottledException' });
      }, () => now);
      const published: string[] = [];
      const { lines, log: sweepLog } = log();
      const redeliver = createNotificationRedelivery({ store, publish: async (n) => void published.push(n.subject), log: sweepLog, counter: noopCounter, now: () => now });
      const sweep = createSilentSweep({ store, evaluator: createAlarmEvaluator({ store, emit: async () => ({ notified: false }), log: sweepLog, counter: noopCounter }), emit: async () => ({ notified: false }), devices: noDevices, log: sweepLog, now: () => now, redeliver });
      // Within the grace period the function that wrote it may still be publishing: the sweep leaves it.
      now = T0 + OUTBOX_GRACE_MS - 1;
      expect(await sweep()).to.include({ redelivered: 0, redeliveryFailed: 0 });
      now = T0 + OUTBOX_GRACE_MS;
      const sweeps = await Promise.all([sweep(), sweep(), sweep()]);
      expect(sweeps.map((r) => r.redelivered).sort()).to.deep.equal([0, 0, 1]);
      expect(published).to.deep.equal(['ALARM: dev-1 Freezer']);
      expect(lines).to.include('published an alarm notification from the outbox');
      expect(await sweep()).to.include({ redelivered: 0 });
      expect(published).to.have.length(1);
    });

    it('keeps a notification that the sweep could not publish for the next sweep, counting its attempts, and gives it up after the last', async () => {
      let now = T0;
      const { store } = await raise(async () => {
        throw new Error('SNS down');
      }, () => now);
      now = T0 + OUTBOX_GRACE_MS;
      let failing = true;
      const published: string[] = [];
      const { lines, log: sweepLog } = log();
      const redeliver = createNotificationRedelivery({
        store,
        publish: async (n) => {
          if (failing) throw new Error('SNS still down');
          published.push(n.subject);
        },
        log: sweepLog,
        counter: noopCounter,
        now: () => now,
        maxAttempts: 3,
      });
      expect(await redeliver()).to.deep.equal({ redelivered: 0, failed: 1 });
      expect(await redeliver()).to.deep.equal({ redelivered: 0, failed: 1 });
      failing = false;
      expect(await redeliver()).to.deep.equal({ redelivered: 1, failed: 0 });
      expect(published).to.deep.equal(['ALARM: dev-1 Freezer']);
      // Another that never gets through: given up at its third attempt, and said so.
      failing = true;
      await store.pendNotification({ key: 'dev-2#r#1', subject: 'ALARM: dev-2', message: 'm', attributes: { deviceId: 'dev-2', state: 'ALARM', ruleId: 'r' }, pendingSince: T0 });
      for (let i = 0; i < 3; i++) await redeliver();
      expect(await redeliver()).to.deep.equal({ redelivered: 0, failed: 0 });
      expect(lines.filter((l) => l === 'gave up an alarm notification after its last attempt')).to.have.length(1);
    });
  });

  describe('the alarm routes', () => {
    const connectionId = 'L0SM9cOFvHcCIhw=';
    const setup = async ({ alarms = true, scope = '*' as string[] | '*' } = {}) => {
      const table = await dynamo.freshTable();
      const store = createConnectionStore({ doc: dynamo.doc, tableName: table });
      await store.putConnection({ connectionId, sub: 'alice', scope, publish: false, alarms, devices: scope === '*' ? '*' : scope });
      const alarmStore = createAlarmStore({ doc: dynamo.doc, tableName: alarmsTable });
      const delivered: string[] = [];
      const route = createAlarmRoutes({ store, alarms: alarmStore, log: silentLog, deliver: async (_d, body) => void delivered.push(body) });
      const send = async (name: string, body?: unknown) => {
        const event = loadEvent(name);
        if (body !== undefined) event.body = JSON.stringify(body);
        event.frame = JSON.parse(event.body);
        try {
          const result = await route(event);
          return JSON.parse(result.body ?? 'null');
        } catch (error) {
          return { type: 'error', code: (error as { code?: string }).code, message: (error as Error).message };
        }
      };
      return { send, alarmStore, delivered };
    };

    it('stores the issue\'s rule and answers alarm-rule with its id; alarms lists it', async () => {
      const { send } = await setup();
      const put = await send('putAlarmRule');
      expect(put.type).to.equal('alarm-rule');
      expect(put.rule).to.include({ deviceId: 'dev-1', field: 'temperature', above: 30, forSeconds: 10, name: 'Freezer warm', createdBy: 'alice' });
      expect(put.rule.id).to.match(/^dev-1~[0-9a-f]{16}$/);
      const list = await send('alarms');
      expect(list).to.deep.equal({ type: 'alarms', rules: [put.rule], active: [] });
    });

    it('refuses changes without the alarms permission, and rules outside the scope', async () => {
      const none = await setup({ alarms: false });
      expect(await none.send('putAlarmRule')).to.include({ type: 'error', code: 'forbidden' });
      const narrow = await setup({ scope: ['dev-2'] });
      const refused = await narrow.send('putAlarmRule');
      expect(refused).to.include({ code: 'forbidden' });
      expect(refused.message).to.match(/dev-1/);
    });

    it('refuses a device\'s rule past the documented maximum with a bad_request that says so', async () => {
      const { send } = await setup();
      for (let i = 0; i < 20; i++) expect((await send('putAlarmRule', { action: 'putAlarmRule', rule: { deviceId: 'dev-1', field: 't', above: i } })).type).to.equal('alarm-rule');
      const refused = await send('putAlarmRule', { action: 'putAlarmRule', rule: { deviceId: 'dev-1', field: 't', above: 99 } });
      expect(refused).to.include({ code: 'bad_request' });
      expect(refused.message).to.match(/already has 20 alarm rules, the most a device may have \(20\)/);
    });

    it('acknowledges an ALARM: who, in the reply and in the frame to the device\'s recipients; deleteAlarmRule removes the rule', async () => {
      const { send, alarmStore, delivered } = await setup();
      const put = await send('putAlarmRule', { action: 'putAlarmRule', rule: { deviceId: 'dev-1', field: 'temperature', above: 30 } });
      const r = (await alarmStore.getRule(put.rule.id))!;
      const from = initialState(r.id, 'dev-1');
      await alarmStore.transition(from, step(r, from, reading('dev-1', 0, 31))!, 'temperature');
      const ack = await send('ackAlarm', { action: 'ackAlarm', ruleId: r.id, deviceId: 'dev-1' });
      expect(ack).to.include({ type: 'alarm', state: 'ALARM', acknowledgedBy: 'alice', deviceId: 'dev-1', value: 31 });
      expect(JSON.parse(delivered[0]!)).to.include({ type: 'alarm', acknowledgedBy: 'alice' });
      const list = await send('alarms');
      expect(list.active).to.have.length(1);
      expect(list.active[0]).to.include({ ruleId: r.id, acknowledgedBy: 'alice' });
      expect(await send('deleteAlarmRule', { action: 'deleteAlarmRule', id: r.id })).to.deep.equal({ type: 'alarm-rule-deleted', id: r.id });
      expect((await send('alarms')).rules).to.deep.equal([]);
      expect(await send('ackAlarm', { action: 'ackAlarm', ruleId: r.id, deviceId: 'dev-1' })).to.include({ code: 'not_found' });
    });
  });
});
