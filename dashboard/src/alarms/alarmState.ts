/**
 * What the page knows about alarms (README, "Alarms"): the rules, the active
 * alarms, the recent transitions, and each device's thresholds and transition
 * marks for the charts. Pure: no DOM, fed by frames.
 */
import type { AlarmRule } from '@serverless-iot-dashboard/shared';

export type AlarmStateName = 'OK' | 'PENDING' | 'ALARM';

/** A rule as the page shows it: the server's rule (layers/shared/src/alarms/rules.ts) without who made it. */
export type AlarmRuleView = Omit<AlarmRule, 'createdBy' | 'scope' | 'createdAt'>;

export interface AlarmFrame {
  type: 'alarm';
  ruleId: string;
  deviceId: string;
  field: string | null;
  state: AlarmStateName;
  value: number | null;
  ts: number;
  since: number;
  acknowledgedBy?: string;
}

/** A threshold line for a device's chart field. */
export interface Threshold {
  field: string;
  value: number;
  ruleId: string;
}

/** A transition mark for a device's chart. */
export interface TransitionMark {
  ts: number;
  state: AlarmStateName;
  field: string | null;
  ruleId: string;
}

const RECENT = 50;

export const ruleTitle = (rule: AlarmRuleView | undefined, ruleId: string): string => {
  if (!rule) return ruleId;
  if (rule.name) return rule.name;
  if (rule.silentSeconds !== undefined) return `no reading for ${rule.silentSeconds} s`;
  const what = rule.above !== undefined ? `> ${rule.above}` : rule.below !== undefined ? `< ${rule.below}` : `outside [${rule.outside?.join(', ')}]`;
  return `${rule.field} ${what}${rule.forSeconds ? ` for ${rule.forSeconds} s` : ''}`;
};

export class AlarmState {
  readonly rules = new Map<string, AlarmRuleView>();
  /** Non-OK states by `ruleId\ndeviceId`. */
  readonly active = new Map<string, AlarmFrame>();
  readonly recent: AlarmFrame[] = [];
  private readonly marks = new Map<string, TransitionMark[]>();
  private readonly seen = new Set<string>();

  /** Applies a frame of the alarm family; returns false for anything else. */
  receive(frame: Record<string, unknown>): boolean {
    switch (frame.type) {
      case 'alarms':
        this.rules.clear();
        for (const rule of frame.rules as AlarmRuleView[]) this.rules.set(rule.id, rule);
        this.active.clear();
        for (const a of frame.active as AlarmFrame[]) this.active.set(`${a.ruleId}\n${a.deviceId}`, a);
        for (const t of (frame.transitions as AlarmFrame[] | undefined) ?? []) this.mark(t);
        return true;
      case 'alarm-rule': {
        const rule = frame.rule as AlarmRuleView;
        this.rules.set(rule.id, rule);
        return true;
      }
      case 'alarm-rule-deleted':
        this.rules.delete(frame.id as string);
        for (const key of [...this.active.keys()]) if (key.startsWith(`${frame.id as string}\n`)) this.active.delete(key);
        return true;
      case 'alarm':
        this.onAlarm(frame as unknown as AlarmFrame);
        return true;
      default:
        return false;
    }
  }

  private onAlarm(a: AlarmFrame): void {
    const key = `${a.ruleId}\n${a.deviceId}`;
    if (a.state === 'OK') this.active.delete(key);
    else this.active.set(key, a);
    // An acknowledgement repeats the state; the same transition can come twice (route reply and fan-out).
    const id = `${key}\n${a.state}\n${a.since}\n${a.acknowledgedBy ?? ''}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    if (a.acknowledgedBy === undefined) this.mark(a);
    this.recent.unshift(a);
    if (this.recent.length > RECENT) this.recent.length = RECENT;
  }

  private mark(t: AlarmFrame): void {
    const list = this.marks.get(t.deviceId) ?? [];
    if (list.some((m) => m.ts === t.ts && m.ruleId === t.ruleId && m.state === t.state)) return;
    list.push({ ts: t.ts, state: t.state, field: t.field, ruleId: t.ruleId });
    if (list.length > 500) list.shift();
    this.marks.set(t.deviceId, list);
  }

  /** Active alarms, ALARM before PENDING, unacknowledged first, newest first. */
  activeList(): AlarmFrame[] {
    return [...this.active.values()].sort(
      (a, b) => (a.state === b.state ? 0 : a.state === 'ALARM' ? -1 : 1) || Number(!!a.acknowledgedBy) - Number(!!b.acknowledgedBy) || b.since - a.since,
    );
  }

  /** The count the tab title and favicon show: alarms in ALARM. */
  alarmCount(): number {
    let n = 0;
    for (const a of this.active.values()) if (a.state === 'ALARM') n++;
    return n;
  }

  /** The chart API: each threshold of a device's rules (and `*` rules), per field. */
  thresholds(deviceId: string): Threshold[] {
    const out: Threshold[] = [];
    for (const rule of this.rules.values()) {
      if ((rule.deviceId !== deviceId && rule.deviceId !== '*') || rule.field === null) continue;
      for (const value of [rule.above, rule.below, ...(rule.outside ?? [])]) if (typeof value === 'number') out.push({ field: rule.field, value, ruleId: rule.id });
    }
    return out;
  }

  /** The chart API: a device's transitions known to the page, oldest first. */
  transitions(deviceId: string): TransitionMark[] {
    return [...(this.marks.get(deviceId) ?? [])].sort((a, b) => a.ts - b.ts);
  }
}
