/**
 * One rule on one device: OK → PENDING → ALARM → OK, as a pure function of the
 * stored state and one reading. The store makes each step a conditional write
 * on `ver` (alarmStore.ts), so that the same reading applied twice, or by two
 * invocations at once, moves the state once.
 *
 * - A reading no newer than the state's `lastTs` (the reading that made the
 *   last transition) changes nothing: duplicates, Lambda's retries and SQS
 *   redeliveries are no-ops.
 * - `forSeconds`: the condition must hold on consecutive readings for that
 *   long (PENDING since the first); one reading that does not breach goes back to OK.
 * - `deadband`: in ALARM, the value must come back past the threshold by the
 *   deadband to clear, so that a value sitting on the line does not flap.
 * - Silent rules: the sweeper's clock moves OK → ALARM (silentSweep.ts); any
 *   reading received after that clears it.
 */
import type { AlarmRule } from './rules.js';

export type AlarmStateName = 'OK' | 'PENDING' | 'ALARM';

export interface AlarmState {
  ruleId: string;
  deviceId: string;
  state: AlarmStateName;
  /** Bumped by every write (transitions and acknowledgements): the condition of the next one. 0: never written. */
  ver: number;
  /** When the current state began (the reading's ts; the sweep's clock for a silent rule). */
  since: number;
  /** The ts of the reading (or sweep) that made the last transition: older readings change nothing. */
  lastTs: number;
  /** The value that made the last transition (null for a silent rule). */
  value: number | null;
  acknowledgedBy?: string;
  acknowledgedAt?: number;
}

export interface Reading {
  id?: string;
  deviceId: string;
  ts: number;
  receivedAt: number;
  data: Record<string, unknown>;
}

export const initialState = (ruleId: string, deviceId: string): AlarmState => ({ ruleId, deviceId, state: 'OK', ver: 0, since: 0, lastTs: 0, value: null });

/** Whether the value breaches the rule's condition. */
export const breaches = (rule: AlarmRule, value: number): boolean => {
  if (rule.above !== undefined) return value > rule.above;
  if (rule.below !== undefined) return value < rule.below;
  if (rule.outside) return value < rule.outside[0] || value > rule.outside[1];
  return false;
};

/** Whether a value clears an ALARM: back past the threshold by the deadband. */
export const clears = (rule: AlarmRule, value: number): boolean => {
  const band = rule.deadband ?? 0;
  if (rule.above !== undefined) return value <= rule.above - band;
  if (rule.below !== undefined) return value >= rule.below + band;
  if (rule.outside) return value >= rule.outside[0] + band && value <= rule.outside[1] - band;
  return true;
};

/** The rule's field in a reading, when it is a finite number; anything else is no evidence either way. */
export const fieldValue = (rule: AlarmRule, reading: Reading): number | undefined => {
  if (rule.field === null) return undefined;
  const value = reading.data[rule.field];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
};

/** The state after `reading`, or undefined when it changes nothing (no write). */
export const step = (rule: AlarmRule, state: AlarmState, reading: Reading): AlarmState | undefined => {
  if (rule.silentSeconds !== undefined) {
    // Silent rules order by arrival: the sweeper's clock is the receiver's, not the device's.
    if (state.state !== 'ALARM' || reading.receivedAt <= state.lastTs) return undefined;
    return next(state, 'OK', reading.receivedAt, null);
  }
  if (reading.ts <= state.lastTs) return undefined;
  const value = fieldValue(rule, reading);
  if (value === undefined) return undefined;
  const forMs = (rule.forSeconds ?? 0) * 1000;
  switch (state.state) {
    case 'OK':
      if (!breaches(rule, value)) return undefined;
      return next(state, forMs > 0 ? 'PENDING' : 'ALARM', reading.ts, value);
    case 'PENDING':
      if (!breaches(rule, value)) return next(state, 'OK', reading.ts, value);
      // A reading older than the PENDING's start cannot count towards it.
      return reading.ts - state.since >= forMs ? next(state, 'ALARM', reading.ts, value) : undefined;
    case 'ALARM':
      return clears(rule, value) ? next(state, 'OK', reading.ts, value) : undefined;
  }
};

/** The silent sweep's step: OK (or PENDING) → ALARM when nothing arrived since `lastSeen` for the rule's window. */
export const silentStep = (rule: AlarmRule, state: AlarmState, lastSeen: number, now: number): AlarmState | undefined => {
  if (rule.silentSeconds === undefined || state.state === 'ALARM') return undefined;
  // The clearing reading's arrival counts as seen, even if the latest-reading write that records it failed.
  const seen = Math.max(lastSeen, state.lastTs);
  // A device never seen is not "gone quiet": the rule starts counting at its first reading.
  if (!(seen > 0) || now - seen < rule.silentSeconds * 1000) return undefined;
  return next(state, 'ALARM', now, null);
};

const next = (state: AlarmState, name: AlarmStateName, ts: number, value: number | null): AlarmState => ({
  ruleId: state.ruleId,
  deviceId: state.deviceId,
  state: name,
  ver: state.ver + 1,
  since: ts,
  lastTs: ts,
  value,
});

/** Whether a transition is worth a notification: an alarm raised, or one that ends. PENDING and its return to OK are frames only. */
export const notifies = (from: AlarmStateName, to: AlarmStateName): boolean => to === 'ALARM' || (from === 'ALARM' && to === 'OK');

/** Applies readings in order, from `state`: the transitions they make. The reference the property specs compare against. */
export const replay = (rule: AlarmRule, state: AlarmState, readings: readonly Reading[]): AlarmState[] => {
  const out: AlarmState[] = [];
  let current = state;
  for (const reading of readings) {
    const after = step(rule, current, reading);
    if (after) {
      out.push(after);
      current = after;
    }
  }
  return out;
};
