/**
 * What a transition sends out: the `alarm` frame to every connection that can
 * see the device, and, for an alarm raised or cleared, one notification on the
 * device-alarms SNS topic. Both only after the transition's conditional write
 * succeeded (alarmStore.ts), so each happens once per transition.
 *
 * A notification goes through an outbox: it is written to the alarms table
 * before it is published and deleted once SNS has it. One whose publish failed
 * (SNS throttling or down, the container stopped) is still there, and the
 * silent-alarms sweep publishes it a few minutes later (`createNotificationRedelivery`).
 * docs/decisions/011-alarm-notifications-sns.md.
 */
import type { Counter, Log } from '../runtime/observability.js';
import { type AlarmStore, type AlarmTransition, type PendingNotification, outboxKey } from './alarmStore.js';
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

/** The outbox's side of the alarm store. */
export type NotificationOutbox = Pick<AlarmStore, 'pendNotification' | 'notificationSent'>;

export interface AlarmEmitterOptions {
  deliver?: DeliverToDevice;
  publish?: PublishNotification;
  /** Where a notification waits until SNS has it; without one, a failed publish is logged and counted only. */
  outbox?: NotificationOutbox;
  dashboardUrl?: string;
  log: Log;
  counter: Counter;
}

/**
 * Sends a committed transition's frame and notification. Never throws: the
 * state has moved, and a retry of the invocation would find no transition to
 * make, so a failure here is logged and counted (AlarmFrameFailed,
 * AlarmNotificationFailed), and a notification left in the outbox is published
 * by the sweep.
 */
export const createAlarmEmitter = ({ deliver, publish, outbox, dashboardUrl, log, counter }: AlarmEmitterOptions) =>
  async (t: AlarmTransition, rule: AlarmRule): Promise<{ notified: boolean }> => {
    const frame = deliver?.(t.deviceId, JSON.stringify(alarmFrame(t))).catch((error: Error) => {
      log.error('could not deliver an alarm frame', { ruleId: t.ruleId, deviceId: t.deviceId, state: t.state, reason: `${error.name}: ${error.message}` });
      counter.count('AlarmFrameFailed', 1);
    });
    let notified = false;
    if (publish && notifies(t.from, t.state)) {
      const notification = notificationOf(t, rule, dashboardUrl);
      const key = outboxKey(t);
      const where = { ruleId: t.ruleId, deviceId: t.deviceId, state: t.state };
      const pended =
        outbox !== undefined &&
        (await outbox.pendNotification({ key, ...notification }).then(
          () => true,
          (error: Error) => {
            log.warn('could not write an alarm notification to the outbox: publishing it without a second chance', { ...where, reason: `${error.name}: ${error.message}` });
            counter.count('AlarmOutboxFailed', 1);
            return false;
          },
        ));
      try {
        await publish(notification);
        notified = true;
        counter.count('AlarmNotified', 1);
      } catch (error) {
        log.error(pended ? 'could not publish an alarm notification: it stays in the outbox for the silent-alarms sweep' : 'could not publish an alarm notification', {
          ...where,
          reason: `${(error as Error).name}: ${(error as Error).message}`,
        });
        counter.count('AlarmNotificationFailed', 1);
      }
      if (notified && pended) {
        await outbox.notificationSent(key).catch((error: Error) => {
          // The sweep will publish it again: a second e-mail rather than none.
          log.warn('published an alarm notification, but could not take it out of the outbox', { ...where, reason: `${error.name}: ${error.message}` });
          counter.count('AlarmOutboxFailed', 1);
        });
      }
    }
    await frame;
    return { notified };
  };

export type AlarmEmitter = ReturnType<typeof createAlarmEmitter>;

/**
 * How long a notification stays in the outbox before the sweep publishes it: longer than any function that
 * writes one runs (Timeout 120 s at most in template.yaml), so the sweep never races a publish in flight.
 */
export const OUTBOX_GRACE_MS = 5 * 60_000;
/** Sweeps that try one notification before it is given up (one a minute: an hour of SNS failing). */
export const MAX_REDELIVERY_ATTEMPTS = 60;

export interface RedeliveryResult {
  redelivered: number;
  failed: number;
}

/** The sweep's side of the outbox: publishes what the functions could not, once each (alarmStore.ts claims by a conditional delete). */
export const createNotificationRedelivery =
  ({ store, publish, log, counter, graceMs = OUTBOX_GRACE_MS, maxAttempts = MAX_REDELIVERY_ATTEMPTS, now = Date.now }: { store: Pick<AlarmStore, 'claimPendingNotifications' | 'pendNotification'>; publish: PublishNotification; log: Log; counter: Counter; graceMs?: number; maxAttempts?: number; now?: () => number }) =>
  async (): Promise<RedeliveryResult> => {
    const result: RedeliveryResult = { redelivered: 0, failed: 0 };
    for (const pending of await store.claimPendingNotifications(graceMs)) {
      const { key, subject, message, attributes, attempts } = pending;
      try {
        await publish({ subject, message, attributes });
        result.redelivered++;
        counter.count('AlarmNotified', 1);
        log.info('published an alarm notification from the outbox', { key, attempts: attempts + 1, waitedMs: now() - pending.pendingSince });
      } catch (error) {
        result.failed++;
        counter.count('AlarmNotificationFailed', 1);
        const reason = `${(error as Error).name}: ${(error as Error).message}`;
        if (attempts + 1 >= maxAttempts) {
          log.error('gave up an alarm notification after its last attempt', { key, attempts: attempts + 1, reason });
          continue;
        }
        log.warn('could not publish an alarm notification from the outbox: next sweep', { key, attempts: attempts + 1, reason });
        await store.pendNotification({ ...pending, attempts: attempts + 1 } satisfies PendingNotification);
      }
    }
    return result;
  };
