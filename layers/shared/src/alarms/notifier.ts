/**
 * What a transition sends out: the `alarm` frame to every connection that can
 * see the device, and, for an alarm raised or cleared, one notification on the
 * device-alarms SNS topic. Both only after the transition's conditional write
 * succeeded (alarmStore.ts), so each happens once per transition.
 */
import type { Counter, Log } from '../runtime/observability.js';
import type { AlarmTransition } from './alarmStore.js';
import { type AlarmRule, describeCondition } from './rules.js';
import { notifies } from './stateMachine.js';

export interface AlarmFrame {
  type: 'alarm';
  ruleId: string;
  deviceId: string;
  field: string | null;
  state: AlarmTransition['state'];
  value: number | null;
  ts: number;
  since: number;
  acknowledgedBy?: string;
}

export const alarmFrame = (t: Pick<AlarmTransition, 'ruleId' | 'deviceId' | 'field' | 'state' | 'value' | 'ts' | 'since' | 'acknowledgedBy'>): AlarmFrame => ({
  type: 'alarm',
  ruleId: t.ruleId,
  deviceId: t.deviceId,
  field: t.field,
  state: t.state,
  value: t.value,
  ts: t.ts,
  since: t.since,
  ...(t.acknowledgedBy !== undefined ? { acknowledgedBy: t.acknowledgedBy } : {}),
});

export interface AlarmNotification {
  subject: string;
  message: string;
  /** SNS message attributes, so that a subscription's filter policy can pick devices or states without code. */
  attributes: { deviceId: string; state: string; ruleId: string };
}

/** 100 characters: SNS's limit on a subject (email subscriptions show it). https://docs.aws.amazon.com/sns/latest/api/API_Publish.html */
const MAX_SUBJECT = 100;

/** The dashboard at the moment of the transition: the device's chart from 15 minutes before to 15 after. */
export const dashboardLink = (dashboardUrl: string, deviceId: string, ts: number): string => {
  const url = new URL(dashboardUrl);
  url.searchParams.set('devices', deviceId);
  url.searchParams.set('from', new Date(ts - 15 * 60_000).toISOString());
  url.searchParams.set('to', new Date(ts + 15 * 60_000).toISOString());
  return url.toString();
};

export const notificationOf = (t: AlarmTransition, rule: AlarmRule, dashboardUrl?: string): AlarmNotification => {
  const title = rule.name ?? describeCondition(rule);
  const verb = t.state === 'ALARM' ? 'ALARM' : 'OK';
  const subject = `${verb}: ${t.deviceId} ${title}`.replace(/[\r\n]+/g, ' ').slice(0, MAX_SUBJECT);
  const lines = [
    `${verb}: ${t.state === 'ALARM' ? 'alarm raised' : 'alarm cleared'} on device ${t.deviceId}`,
    `rule: ${title} (${describeCondition(rule)}; id ${rule.id})`,
    `field: ${t.field ?? '(none: silent rule)'}`,
    `value: ${t.value ?? '(no reading)'}`,
    `at: ${new Date(t.ts).toISOString()}`,
    ...(dashboardUrl ? [`dashboard: ${dashboardLink(dashboardUrl, t.deviceId, t.ts)}`] : []),
  ];
  return { subject, message: lines.join('\n'), attributes: { deviceId: t.deviceId, state: t.state, ruleId: t.ruleId } };
};

export type PublishNotification = (n: AlarmNotification) => Promise<void>;
/** Posts one frame to every connection that can see the device (the fan-out to the device's recipients). */
export type DeliverToDevice = (deviceId: string, body: string) => Promise<unknown>;

export interface AlarmEmitterOptions {
  deliver?: DeliverToDevice;
  publish?: PublishNotification;
  dashboardUrl?: string;
  log: Log;
  counter: Counter;
}

/**
 * Sends a committed transition's frame and notification. Never throws: the
 * state has moved, and a retry of the invocation would find no transition to
 * make, so a failure here is logged and counted (AlarmFrameFailed,
 * AlarmNotificationFailed) for an operator, not retried by Lambda.
 */
export const createAlarmEmitter = ({ deliver, publish, dashboardUrl, log, counter }: AlarmEmitterOptions) =>
  async (t: AlarmTransition, rule: AlarmRule): Promise<{ notified: boolean }> => {
    const frame = deliver?.(t.deviceId, JSON.stringify(alarmFrame(t))).catch((error: Error) => {
      log.error('could not deliver an alarm frame', { ruleId: t.ruleId, deviceId: t.deviceId, state: t.state, reason: `${error.name}: ${error.message}` });
      counter.count('AlarmFrameFailed', 1);
    });
    let notified = false;
    if (publish && notifies(t.from, t.state)) {
      try {
        await publish(notificationOf(t, rule, dashboardUrl));
        notified = true;
        counter.count('AlarmNotified', 1);
      } catch (error) {
        log.error('could not publish an alarm notification', { ruleId: t.ruleId, deviceId: t.deviceId, state: t.state, reason: `${(error as Error).name}: ${(error as Error).message}` });
        counter.count('AlarmNotificationFailed', 1);
      }
    }
    await frame;
    return { notified };
  };

export type AlarmEmitter = ReturnType<typeof createAlarmEmitter>;
