import { expect } from 'chai';
import fc from 'fast-check';
import {
  type AlarmRule,
  type AlarmTransition,
  type Reading,
  createAlarmEmitter,
  createAlarmEvaluator,
  initialState,
  noopCounter,
  replay,
  silentStep,
  step,
} from '@serverless-iot-dashboard/shared';
import { createMemoryAlarmStore } from '../../helpers/memoryAlarmStore.js';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const T0 = 1_795_597_200_000;

const rule = (extra: Partial<AlarmRule> = {}): AlarmRule => ({ id: 'dev-1~r1', deviceId: 'dev-1', field: 'temperature', above: 30, createdBy: 'alice', scope: '*', createdAt: T0, ...extra });
const reading = (i: number, temperature: number, ts = T0 + i * 1000): Reading => ({ id: `m${i}`, deviceId: 'dev-1', ts, receivedAt: ts + 50, data: { temperature } });
const states = (list: { state: string }[]) => list.map((s) => s.state);

describe('alarm state machine', () => {
  it('goes OK → PENDING → ALARM once the condition held for forSeconds on consecutive readings, and back to OK', () => {
    const r = rule({ forSeconds: 10 });
    const out = replay(r, initialState(r.id, 'dev-1'), [reading(0, 31), reading(5, 32), reading(10, 33), reading(11, 35), reading(12, 20)]);
    expect(states(out)).to.deep.equal(['PENDING', 'ALARM', 'OK']);
    expect(out[1]).to.include({ since: T0 + 10_000, value: 33, ver: 2 });
  });

  it('drops back from PENDING to OK on one reading that does not breach', () => {
    const r = rule({ forSeconds: 10 });
    expect(states(replay(r, initialState(r.id, 'dev-1'), [reading(0, 31), reading(5, 29), reading(10, 31)]))).to.deep.equal(['PENDING', 'OK', 'PENDING']);
  });

  it('needs the value past the deadband to clear, so a value on the line does not flap', () => {
    const r = rule({ deadband: 2 });
    const out = replay(r, initialState(r.id, 'dev-1'), [reading(0, 31), reading(1, 29.5), reading(2, 30.5), reading(3, 29), reading(4, 28)]);
    expect(states(out)).to.deep.equal(['ALARM', 'OK']);
    expect(out[1]!.value).to.equal(28);
  });

  it('ignores a reading no newer than the last transition, and one without the field as a number', () => {
    const r = rule();
    const alarm = step(r, initialState(r.id, 'dev-1'), reading(5, 31))!;
    expect(step(r, alarm, reading(5, 10))).to.equal(undefined);
    expect(step(r, alarm, reading(4, 10))).to.equal(undefined);
    expect(step(r, alarm, { ...reading(6, 0), data: { temperature: 'cold' } })).to.equal(undefined);
  });

  it('raises a silent rule once the device was quiet for silentSeconds, and clears it on the next reading received', () => {
    const r = rule({ field: null, above: undefined, silentSeconds: 60 });
    const ok = initialState(r.id, 'dev-1');
    expect(silentStep(r, ok, T0, T0 + 59_000)).to.equal(undefined);
    const alarm = silentStep(r, ok, T0, T0 + 60_000)!;
    expect(alarm).to.include({ state: 'ALARM', value: null, since: T0 + 60_000 });
    expect(silentStep(r, alarm, T0, T0 + 120_000)).to.equal(undefined);
    expect(step(r, alarm, { ...reading(0, 1), receivedAt: T0 + 60_000 })).to.equal(undefined);
    expect(step(r, alarm, { ...reading(0, 1), receivedAt: T0 + 61_000 })).to.include({ state: 'OK' });
    expect(silentStep(r, ok, 0, T0)).to.equal(undefined);
  });
});

describe('alarm state machine: any duplication, retry and concurrent evaluation of the same readings gives the same transitions', () => {
  const ruleArb = fc.record({
    forSeconds: fc.constantFrom(0, 3, 10),
    deadband: fc.constantFrom(0, 1.5),
    kind: fc.constantFrom('above', 'below', 'outside'),
  });
  const valuesArb = fc.array(fc.integer({ min: 20, max: 40 }), { minLength: 1, maxLength: 30 });
  /** For each reading: which of two evaluators get it (at least one), how many copies, and redeliveries of earlier readings after it. */
  const scheduleArb = fc.array(fc.record({ a: fc.integer({ min: 0, max: 2 }), b: fc.integer({ min: 0, max: 2 }), redeliver: fc.array(fc.nat(), { maxLength: 2 }), batched: fc.boolean() }), {
    minLength: 30,
    maxLength: 30,
  });

  const ruleOf = ({ forSeconds, deadband, kind }: { forSeconds: number; deadband: number; kind: string }): AlarmRule =>
    kind === 'above' ? rule({ above: 30, forSeconds, deadband }) : kind === 'below' ? rule({ above: undefined, below: 30, forSeconds, deadband }) : rule({ above: undefined, outside: [25, 35], forSeconds, deadband });

  it('holds for 200 random runs (two evaluators, duplicates racing, redeliveries, batches with repeats)', async () => {
    await fc.assert(
      fc.asyncProperty(ruleArb, valuesArb, scheduleArb, async (shape, values, schedule) => {
        const r = ruleOf(shape);
        const readings = values.map((v, i) => reading(i, v, T0 + i * 2000));
        const expected = replay(r, initialState(r.id, 'dev-1'), readings);

        const { store, log } = createMemoryAlarmStore([r]);
        const notified: AlarmTransition[] = [];
        const emit = createAlarmEmitter({ log: silentLog, counter: noopCounter, publish: async () => undefined, deliver: async () => undefined });
        const counted = async (t: AlarmTransition, x: AlarmRule) => (notified.push(t), emit(t, x));
        // checkEveryMs 0: each evaluation checks the version (the guarantee under a warm cache is in docs/decisions/010).
        const evaluators = [0, 1].map(() => createAlarmEvaluator({ store, emit: counted, log: silentLog, counter: noopCounter, checkEveryMs: 0 }));
        for (const [i, r0] of readings.entries()) {
          const plan = schedule[i]!;
          const copies = [...Array(Math.max(1, plan.a)).fill(0), ...Array(plan.b).fill(1)] as number[];
          // The copies of one reading race (two concurrent invocations, Lambda's retry, SQS redelivery)...
          await Promise.all(copies.map((who) => evaluators[who]!.evaluate(plan.batched ? [r0, r0] : [r0])));
          // ...and earlier readings come back late (a redriven message).
          for (const j of plan.redeliver) if (i > 0) await evaluators[j % 2]!.evaluate([readings[j % i]!]);
        }
        expect(log.map((t) => [t.state, t.ts, t.value])).to.deep.equal(expected.map((s) => [s.state, s.lastTs, s.value]));
        expect(notified.length).to.equal(expected.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('alarm evaluator', () => {
  const setup = (rules: AlarmRule[], checkEveryMs = 1000) => {
    let now = T0;
    const memory = createMemoryAlarmStore(rules);
    const frames: string[] = [];
    const notes: string[] = [];
    const emit = createAlarmEmitter({
      log: silentLog,
      counter: noopCounter,
      dashboardUrl: 'https://dash.example.com/',
      deliver: async (_d, body) => void frames.push(body),
      publish: async (n) => void notes.push(n.subject),
    });
    const evaluator = createAlarmEvaluator({ store: memory.store, emit, log: silentLog, counter: noopCounter, now: () => now, checkEveryMs });
    return { memory, evaluator, frames, notes, advance: (ms: number) => (now += ms) };
  };

  it('with the cache warm, a reading that changes nothing costs no read and no write', async () => {
    const { memory, evaluator, advance } = setup([rule()]);
    await evaluator.evaluate([reading(0, 20)]);
    const before = { ...memory.usage };
    for (let i = 1; i <= 50; i++) {
      advance(10);
      const out = await evaluator.evaluate([reading(i, 20 + (i % 5))]);
      expect(out.transitions).to.have.length(0);
    }
    expect(memory.usage.writeUnits - before.writeUnits).to.equal(0);
    // One version check per second of clock: 50 readings 10 ms apart cross it at most once.
    expect(memory.usage.readUnits - before.readUnits).to.be.at.most(1);
  });

  it('sends the alarm frame to the device\'s recipients and one notification per raised or cleared alarm', async () => {
    const { evaluator, frames, notes } = setup([rule({ name: 'Freezer warm' })]);
    await evaluator.evaluate([reading(0, 31.5), reading(0, 31.5)]);
    await evaluator.evaluate([reading(1, 20)]);
    expect(frames.map((f) => JSON.parse(f))).to.deep.equal([
      { type: 'alarm', ruleId: 'dev-1~r1', deviceId: 'dev-1', field: 'temperature', state: 'ALARM', value: 31.5, ts: T0, since: T0 },
      { type: 'alarm', ruleId: 'dev-1~r1', deviceId: 'dev-1', field: 'temperature', state: 'OK', value: 20, ts: T0 + 1000, since: T0 + 1000 },
    ]);
    expect(notes).to.deep.equal(['ALARM: dev-1 Freezer warm', 'OK: dev-1 Freezer warm']);
  });

  it('sends PENDING as a frame but not as a notification', async () => {
    const { evaluator, frames, notes } = setup([rule({ forSeconds: 5 })]);
    await evaluator.evaluate([reading(0, 31)]);
    expect(frames).to.have.length(1);
    expect(notes).to.have.length(0);
  });

  it('re-reads the state when another container moved it, and makes no second transition', async () => {
    const { memory, evaluator, advance, frames } = setup([rule()], 60_000);
    await evaluator.evaluate([reading(0, 20)]);
    // Another container raises the alarm; this one's cached state (OK) is now stale.
    const other = createAlarmEvaluator({ store: memory.store, emit: async () => ({ notified: false }), log: silentLog, counter: noopCounter });
    await other.evaluate([reading(1, 31)]);
    advance(10);
    const out = await evaluator.evaluate([reading(2, 32)]);
    expect(out.transitions).to.have.length(0);
    expect(frames).to.have.length(0);
    expect(memory.log.map((t) => t.state)).to.deep.equal(['ALARM']);
  });

  it('with a shared version: no read while it stays, one read when it moves, and the cache kept when no alarm changed', async () => {
    const memory = createMemoryAlarmStore([rule()]);
    let shared = 'g1';
    const evaluator = createAlarmEvaluator({ store: memory.store, emit: async () => ({ notified: false }), log: silentLog, counter: noopCounter, sharedVersion: () => shared });
    await evaluator.evaluate([reading(0, 20)]);
    const warm = { ...memory.usage };
    await evaluator.evaluate([reading(1, 21)]);
    expect(memory.usage.requests - warm.requests, 'unmoved').to.equal(0);
    shared = 'g2'; // a subscription changed: the alarm version is read, nothing else
    await evaluator.evaluate([reading(2, 22)]);
    expect(memory.usage.requests - warm.requests, 'moved, no alarm change').to.equal(1);
    // Another container raises the alarm (the alarm version moves, then the shared one).
    const other = createAlarmEvaluator({ store: memory.store, emit: async () => ({ notified: false }), log: silentLog, counter: noopCounter });
    await other.evaluate([reading(3, 31)]);
    shared = 'g3';
    const cleared = await evaluator.evaluate([reading(4, 20)]);
    expect(cleared.transitions.map((t) => t.state), 'the stale container clears it').to.deep.equal(['OK']);
  });
});

