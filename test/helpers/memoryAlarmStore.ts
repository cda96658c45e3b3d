/**
 * An in-memory AlarmStore for unit and property specs: the same conditional
 * semantics as alarmStore.ts (a transition succeeds only from the stored
 * `ver`), with a yield to the event loop in every call so that concurrent
 * evaluations interleave. Read units are counted as DynamoDB would for small
 * items (1 per strongly consistent read or Query page), writes as 1 each.
 */
import type { AlarmRule, AlarmState, AlarmStore, AlarmTransition, AlarmUsage } from '@serverless-iot-dashboard/shared';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export const createMemoryAlarmStore = (rules: AlarmRule[] = []) => {
  const ruleMap = new Map(rules.map((r) => [r.id, r]));
  const states = new Map<string, AlarmState>();
  const log: AlarmTransition[] = [];
  const usage: AlarmUsage = { requests: 0, readUnits: 0, writeUnits: 0 };
  let version = { rules: 'r0', states: 's0' };
  let n = 0;
  const key = (deviceId: string, ruleId: string) => `${deviceId}\n${ruleId}`;
  const readOne = () => {
    usage.requests++;
    usage.readUnits++;
  };
  const store = {
    usage,
    versions: async () => (await tick(), readOne(), { ...version }),
    rulesOf: async (deviceId: string) => (await tick(), readOne(), [...ruleMap.values()].filter((r) => r.deviceId === deviceId)),
    allRules: async () => (await tick(), readOne(), [...ruleMap.values()]),
    statesOf: async (deviceId: string) => (await tick(), readOne(), [...states.values()].filter((s) => s.deviceId === deviceId).map((s) => ({ ...s }))),
    getState: async (deviceId: string, ruleId: string) => {
      await tick();
      readOne();
      const s = states.get(key(deviceId, ruleId));
      return s ? { ...s } : undefined;
    },
    transition: async (from: AlarmState, to: AlarmState, field: string | null) => {
      await tick();
      usage.requests++;
      usage.writeUnits++;
      const current = states.get(key(to.deviceId, to.ruleId));
      if ((current?.ver ?? 0) !== from.ver) return undefined;
      states.set(key(to.deviceId, to.ruleId), { ...to });
      const record: AlarmTransition = { ruleId: to.ruleId, deviceId: to.deviceId, field, from: from.state, state: to.state, ver: to.ver, value: to.value, ts: to.lastTs, since: to.since };
      log.push(record);
      await tick();
      usage.writeUnits += 3;
      version = { ...version, states: `s${++n}` };
      return record;
    },
    putRule: async (rule: AlarmRule) => {
      ruleMap.set(rule.id, rule);
      version = { ...version, rules: `r${++n}` };
      return rule;
    },
  };
  return { store: store as unknown as AlarmStore, log, states, usage, putRule: store.putRule };
};
