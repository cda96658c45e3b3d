/**
 * Evaluates readings against the alarm rules where the readings already flow:
 * the telemetry function (direct mode, one reading) and the batch function
 * (coalesced mode, a batch). No Lambda invocation of its own.
 *
 * Warm invocations keep each device's rules and states. Every rule or state
 * change moves the alarm version item and then the connections table's
 * table-wide version, which the invocation's recipient lookup has just read
 * (`sharedVersion`). Unmoved, the cache is current at no read; moved, one
 * strongly consistent GetItem of the alarm version item says whether rules or
 * states changed, and those entries are dropped and re-read on their device's
 * next reading. Without a shared version, the alarm version item is read at
 * most every `checkEveryMs`. A reading that changes no state costs no write.
 * Entries older than `maxAgeMs` are re-read anyway.
 * docs/decisions/010-alarm-evaluation-where-readings-flow.md.
 *
 * A step computed from a stale state is caught by the transition's condition
 * (`ver`): the state is re-read and the reading evaluated again, so no
 * transition is made twice.
 */
import { ALL_DEVICES } from '../protocol/frames.js';
import type { Counter, Log } from '../runtime/observability.js';
import type { AlarmStore, AlarmTransition, AlarmVersions } from './alarmStore.js';
import type { AlarmEmitter } from './notifier.js';
import { type AlarmRule, ruleWatches } from './rules.js';
import { type AlarmState, type Reading, initialState, step } from './stateMachine.js';

/** A transition's write is retried from a fresh read at most this many times (each retry means another writer moved the state). */
const MAX_STEP_ATTEMPTS = 4;

export interface AlarmEvaluation {
  readings: number;
  transitions: AlarmTransition[];
  notified: number;
  requests: number;
  readUnits: number;
  writeUnits: number;
}

export interface AlarmEvaluatorOptions {
  store: AlarmStore;
  emit: AlarmEmitter;
  log: Log;
  counter: Counter;
  now?: () => number;
  /** How often the version item is read: how stale a warm container's rules and states may be. */
  checkEveryMs?: number;
  /** Entries older than this are re-read whatever the version says. */
  maxAgeMs?: number;
  /** Devices kept; the least recently used go first. */
  maxDevices?: number;
  /**
   * The connections table's table-wide version as this invocation's recipient lookup read it
   * (recipientCache.ts `globalVersion`): moved by every rule and state change (alarmStore.ts), so a
   * warm cache is checked on every reading at no read of its own. Undefined: the version item is read.
   */
  sharedVersion?: () => string | undefined;
}

interface Cached<T> {
  value: T;
  fetchedAt: number;
}

export const createAlarmEvaluator = ({ store, emit, log, counter, now = Date.now, checkEveryMs = 1000, maxAgeMs = 60_000, maxDevices = 10_000, sharedVersion }: AlarmEvaluatorOptions) => {
  const rules = new Map<string, Cached<AlarmRule[]>>();
  const states = new Map<string, Cached<Map<string, AlarmState>>>();
  let seen: AlarmVersions | undefined;
  let checkedAt = -Infinity;

  const remember = <T>(map: Map<string, Cached<T>>, key: string, value: T) => {
    map.delete(key);
    map.set(key, { value, fetchedAt: now() });
    while (map.size > maxDevices) map.delete(map.keys().next().value!);
    return value;
  };
  const fresh = <T>(map: Map<string, Cached<T>>, key: string) => {
    const entry = map.get(key);
    return entry && now() - entry.fetchedAt < maxAgeMs ? entry.value : undefined;
  };

  let seenShared: string | undefined;
  /** The version read in flight: concurrent evaluations in one container wait for it, never use the caches it is about to drop. */
  let checking: Promise<void> | undefined;
  const readVersions = async () => {
    checkedAt = now();
    const current = await store.versions();
    if (seen?.rules !== current.rules) rules.clear();
    if (seen?.states !== current.states) states.clear();
    seen = current;
  };
  const checkVersions = async () => {
    if (checking) return checking;
    const shared = sharedVersion?.();
    if (shared !== undefined) {
      // Unmoved: nothing changed anywhere since the last check (no read). Moved: a subscription or an alarm
      // changed; the alarm version item (written before the shared one) says whether it was an alarm.
      if (shared === seenShared && seen) return;
      seenShared = shared;
    } else if (seen && now() - checkedAt < checkEveryMs) return;
    checking = readVersions()
      .catch((error: unknown) => {
        // Not confirmed: the next evaluation checks again.
        seenShared = undefined;
        seen = undefined;
        throw error;
      })
      .finally(() => (checking = undefined));
    return checking;
  };

  const rulesOf = async (key: string) => fresh(rules, key) ?? remember(rules, key, await store.rulesOf(key));

  /** The rules that watch a device: its own, and the `*` rules whose creator's scope covers it. */
  const watching = async (deviceId: string) => {
    const [own, every] = await Promise.all([rulesOf(deviceId), rulesOf(ALL_DEVICES)]);
    return [...own, ...every.filter((r) => ruleWatches(r, deviceId))];
  };

  const statesOf = async (deviceId: string) =>
    fresh(states, deviceId) ?? remember(states, deviceId, new Map((await store.statesOf(deviceId)).map((s) => [s.ruleId, s])));

  /**
   * Applies `compute` to a rule's state on a device, as a conditional write; on a lost race, re-reads
   * the state and computes again. Returns the committed transition, if any.
   */
  const apply = async (rule: AlarmRule, deviceId: string, known: Map<string, AlarmState>, compute: (state: AlarmState) => AlarmState | undefined) => {
    let state = known.get(rule.id) ?? initialState(rule.id, deviceId);
    for (let attempt = 1; attempt <= MAX_STEP_ATTEMPTS; attempt++) {
      const next = compute(state);
      if (!next) return undefined;
      const done = await store.transition(state, next, rule.field);
      if (done) {
        known.set(rule.id, next);
        return done;
      }
      counter.count('AlarmTransitionRaced', 1);
      state = (await store.getState(deviceId, rule.id)) ?? initialState(rule.id, deviceId);
      known.set(rule.id, state);
    }
    log.warn('gave up a contended alarm transition', { ruleId: rule.id, deviceId, attempts: MAX_STEP_ATTEMPTS });
    return undefined;
  };

  /** Evaluates readings (any devices, any order): each device's in ts order. Throws only when DynamoDB does. */
  const evaluate = async (readings: readonly Reading[]): Promise<AlarmEvaluation> => {
    const before = { ...store.usage };
    await checkVersions();
    const byDevice = new Map<string, Reading[]>();
    for (const r of readings) {
      const list = byDevice.get(r.deviceId) ?? [];
      list.push(r);
      byDevice.set(r.deviceId, list);
    }
    const committed: { transition: AlarmTransition; rule: AlarmRule }[] = [];
    await Promise.all(
      [...byDevice].map(async ([deviceId, list]) => {
        const watched = await watching(deviceId);
        if (watched.length === 0) return;
        list.sort((a, b) => a.ts - b.ts || a.receivedAt - b.receivedAt);
        const known = await statesOf(deviceId);
        for (const reading of list) {
          for (const rule of watched) {
            const transition = await apply(rule, deviceId, known, (state) => step(rule, state, reading));
            if (transition) committed.push({ transition, rule });
          }
        }
      }),
    );
    let notified = 0;
    for (const { notified: n } of await Promise.all(committed.map(({ transition, rule }) => emit(transition, rule)))) if (n) notified++;
    if (committed.length > 0) {
      counter.count('AlarmTransitions', committed.length);
      log.info('alarm transitions', { transitions: committed.map(({ transition: t }) => ({ ruleId: t.ruleId, deviceId: t.deviceId, from: t.from, state: t.state, value: t.value })) });
    }
    return {
      readings: readings.length,
      transitions: committed.map((c) => c.transition),
      notified,
      requests: store.usage.requests - before.requests,
      readUnits: store.usage.readUnits - before.readUnits,
      writeUnits: store.usage.writeUnits - before.writeUnits,
    };
  };

  return { evaluate, apply, statesOf, clear: () => (rules.clear(), states.clear(), (seen = undefined)) };
};

export type AlarmEvaluator = ReturnType<typeof createAlarmEvaluator>;
