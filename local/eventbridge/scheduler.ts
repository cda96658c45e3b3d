/**
 * EventBridge scheduled rules, as SAM creates them from a function's
 * `Schedule` event: every period, an asynchronous invocation of the function
 * with a "Scheduled Event".
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html
 */
import { randomUUID } from 'node:crypto';
import type { ScheduleSpec } from '../template/stackModel.js';

export interface Scheduler {
  /** Stops every timer and waits for the invocations in flight. */
  close(): Promise<void>;
}

export interface SchedulerOptions {
  schedules: readonly ScheduleSpec[];
  region: string;
  accountId: string;
  /** Runs the function (the stack queues it like Lambda's async invoke). */
  invoke: (functionId: string, event: unknown) => Promise<unknown>;
  /** Every rate() schedule's period, overridden (tests: seconds, not minutes). */
  periodMs?: number;
  log: (level: 'debug' | 'info' | 'warn', text: string) => void;
}

export const scheduledEvent = (spec: ScheduleSpec, region: string, accountId: string, now = new Date()) => ({
  version: '0',
  id: randomUUID(),
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: accountId,
  time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  region,
  resources: [`arn:aws:events:${region}:${accountId}:rule/${spec.functionId}${spec.eventName}`],
  detail: {},
});

export const startScheduler = ({ schedules, region, accountId, invoke, periodMs, log }: SchedulerOptions): Scheduler => {
  const timers: NodeJS.Timeout[] = [];
  const inFlight = new Set<Promise<unknown>>();
  for (const spec of schedules) {
    const period = periodMs ?? spec.periodMs;
    if (!spec.enabled || period === undefined) continue;
    const tick = () => {
      const run = invoke(spec.functionId, scheduledEvent(spec, region, accountId))
        .catch((error: Error) => log('warn', `${spec.functionId} (${spec.expression}) failed: ${error.message}`))
        .finally(() => inFlight.delete(run));
      inFlight.add(run);
    };
    const timer = setInterval(tick, period);
    timer.unref();
    timers.push(timer);
    log('info', `${spec.functionId} every ${period} ms (${spec.expression}${periodMs !== undefined ? ', period overridden' : ''})`);
  }
  return {
    async close() {
      for (const timer of timers) clearInterval(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
};
