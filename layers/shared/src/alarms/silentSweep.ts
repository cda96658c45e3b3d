/**
 * Silent rules: a device that sends nothing for `silentSeconds`. Nothing
 * arrives to evaluate, so a schedule does it, as the connection expiry
 * sweeper does (functions/connection-expiry): every minute, every silent
 * rule, each watched device's last reading (the devices table's
 * `receivedAt`) against the clock. The transition is the same conditional
 * write as a reading's (alarmEvaluator.ts), so two overlapping sweeps raise
 * one alarm. The next reading clears it (stateMachine.ts).
 *
 * Each sweep first publishes the notifications left in the outbox (notifier.ts).
 */
import type { DevicesStore } from '../history/devices.js';
import { ALL_DEVICES } from '../protocol/frames.js';
import type { Log } from '../runtime/observability.js';
import type { AlarmStore } from './alarmStore.js';
import type { AlarmEvaluator } from './alarmEvaluator.js';
import type { AlarmEmitter, RedeliveryResult } from './notifier.js';
import { ruleWatches } from './rules.js';
import { silentStep } from './stateMachine.js';

export interface LastSeenSource {
  /** Each device's last receivedAt (devices never seen left out). */
  lastSeen(deviceIds: readonly string[]): Promise<Map<string, number>>;
  /** Every known device id (for `*` rules), up to `limit`. */
  known(limit: number): Promise<string[]>;
}

export interface SilentSweepResult {
  rules: number;
  checked: number;
  raised: number;
  /** Outbox notifications published, and those that failed again. */
  redelivered: number;
  redeliveryFailed: number;
}

/** `*` silent rules look at no more than this many devices per sweep. */
export const MAX_SWEPT_DEVICES = 10_000;

export const createSilentSweep =
  ({
    store,
    evaluator,
    emit,
    devices,
    log,
    now = Date.now,
    redeliver,
  }: {
    store: AlarmStore;
    evaluator: AlarmEvaluator;
    emit: AlarmEmitter;
    devices: LastSeenSource;
    log: Log;
    now?: () => number;
    /** The outbox's redelivery (notifier.ts createNotificationRedelivery). */
    redeliver?: () => Promise<RedeliveryResult>;
  }) =>
  async (): Promise<SilentSweepResult> => {
    const again = redeliver ? await redeliver() : { redelivered: 0, failed: 0 };
    const silent = (await store.allRules()).filter((r) => r.silentSeconds !== undefined);
    const result: SilentSweepResult = { rules: silent.length, checked: 0, raised: 0, redelivered: again.redelivered, redeliveryFailed: again.failed };
    if (silent.length === 0) {
      if (again.redelivered + again.failed > 0) log.info('swept silent alarm rules', { ...result });
      return result;
    }
    const every = silent.some((r) => r.deviceId === ALL_DEVICES) ? await devices.known(MAX_SWEPT_DEVICES) : [];
    const targets = new Map<string, typeof silent>();
    for (const rule of silent) {
      const ids = rule.deviceId === ALL_DEVICES ? every.filter((d) => ruleWatches(rule, d)) : [rule.deviceId];
      for (const id of ids) targets.set(id, [...(targets.get(id) ?? []), rule]);
    }
    const seen = await devices.lastSeen([...targets.keys()]);
    const at = now();
    for (const [deviceId, rules] of targets) {
      const lastSeen = seen.get(deviceId) ?? 0;
      // Only devices that look silent cost a state read.
      if (!rules.some((r) => lastSeen > 0 && at - lastSeen >= r.silentSeconds! * 1000)) continue;
      const known = new Map((await store.statesOf(deviceId)).map((s) => [s.ruleId, s]));
      for (const rule of rules) {
        result.checked++;
        const transition = await evaluator.apply(rule, deviceId, known, (state) => silentStep(rule, state, lastSeen, at));
        if (transition) {
          result.raised++;
          await emit(transition, rule);
        }
      }
    }
    log.info('swept silent alarm rules', { ...result });
    return result;
  };

export type SilentSweep = ReturnType<typeof createSilentSweep>;

/** The devices table as the sweep's source: each device's latest reading's receivedAt. */
export const devicesLastSeen = (devices: Pick<DevicesStore, 'latest' | 'all'>): LastSeenSource => ({
  lastSeen: async (ids) => new Map((ids.length > 0 ? await devices.latest(ids) : []).map((r) => [r.deviceId, r.receivedAt])),
  known: async (limit) => {
    const ids: string[] = [];
    for await (const page of devices.all(limit)) ids.push(...page.map((r) => r.deviceId));
    return ids.slice(0, limit);
  },
});
