/**
 * High-rate devices (issue 15): D devices publishing R readings/s each to N
 * dashboards subscribed to `*`, through the whole local stack (MQTT → topic
 * rule → function → @connections → WebSocket), once per fan-out mode, each on
 * a fresh stack started with PARAM_FanoutMode:
 *   direct     the topic rule invokes TelemetryFunction per reading: one post per reading per dashboard
 *   coalesced  the rule queues readings (SQS), the event source mapping batches them for TelemetryBatchFunction
 * Direct runs at a lower rate: one post per reading per dashboard is its design, and 100 × 1,000 posts/s is
 * far past what one machine (or one AWS account's 10,000 requests/s) sustains; its per-reading figures do
 * not depend on the rate. Reports posts and billed 32 KB messages per reading per dashboard, recipient
 * lookups per reading, latency publish → receipt, and lost and duplicated deliveries.
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import { deviceScopedId } from '@serverless-iot-dashboard/shared';
import type { GatewayInfo } from './gatewayProcess.js';
import { spawnChild } from './processes.js';
import { round, wallClockMs } from './stats.js';

export type FanoutMode = 'direct' | 'coalesced';

export interface HighRatePlan {
  dashboards: number;
  devices: number;
  /** Readings per second per device, and seconds, in coalesced mode. */
  ratePerDevice: number;
  seconds: number;
  /** The same for direct mode (lower: see above). */
  directRatePerDevice: number;
  directSeconds: number;
}

export interface HighRateRow {
  mode: FanoutMode;
  dashboards: number;
  devices: number;
  readingsPerSec: number;
  readings: number;
  deliveries: number;
  lost: number;
  duplicates: number;
  p50Ms: number;
  p99Ms: number;
  /** Frames received (= successful PostToConnection calls) per reading per dashboard. */
  postsPerReadingPerDashboard: number;
  /** API Gateway messages billed (32 KB units) per reading per dashboard. */
  billedPerReadingPerDashboard: number;
  /** Recipient lookups (DynamoDB requests of the lookups) per reading. */
  lookupsPerReading: number;
  invocations: number;
}

interface Summary {
  deliveries: number;
  lost: number;
  duplicates: number;
  p50Ms: number;
  p99Ms: number;
  frames: number;
  billedUnits: number;
}

const here = import.meta.dirname ?? new URL('.', import.meta.url).pathname;

const runMode = async (mode: FanoutMode, plan: HighRatePlan, progress: (line: string) => void): Promise<HighRateRow> => {
  const started = performance.now();
  const gateway = await spawnChild<GatewayInfo>(join(here, 'gatewayProcess.ts'), { name: `local stack (${mode})`, readyTimeoutMs: 120_000, env: { PARAM_FanoutMode: mode } });
  const clients = await spawnChild(join(here, 'clientsProcess.ts'), { name: 'clients', readyTimeoutMs: 60_000 }).catch(async (error) => {
    await gateway.stop(3_000);
    throw error;
  });
  const device = await mqtt.connectAsync(gateway.info.urls.mqtt, { clientId: `bench-high-rate-${mode}`, connectTimeout: 10_000, reconnectPeriod: 0 });
  try {
    const open = await clients.request<number>('connect', { url: `${gateway.info.urls.websocket}?devices=*`, count: plan.dashboards }, 300_000);
    if (open !== plan.dashboards) throw new Error(`expected ${plan.dashboards} dashboards, ${open} are open`);
    const publish = (id: string, deviceNo: number, seq: number) =>
      device.publishAsync(`devices/hr-${deviceNo}/telemetry`, JSON.stringify({ id, ts: Date.now(), seq, temperature: 21.5, humidity: 40.2 })).catch(() => undefined);

    // Warm-up, outside the measurement: cold starts, sockets, and a first lookup of every device (a warm container's cache).
    for (let d = 0; d < plan.devices; d++) await publish(`hr-${mode}-warm-${d}`, d, 0);
    await clients.request('awaitReceipts', { count: plan.dashboards * plan.devices, timeoutMs: 30_000 }, 40_000);
    await clients.request('summary', { sent: {}, expected: 0 });
    await gateway.request('reset');

    const perDevice = mode === 'direct' ? plan.directRatePerDevice : plan.ratePerDevice;
    const seconds = mode === 'direct' ? plan.directSeconds : plan.seconds;
    const rate = perDevice * plan.devices;
    const count = Math.max(1, Math.round(rate * seconds));
    progress(`[highRate] ${mode}: ${plan.dashboards} dashboards on *, ${plan.devices} devices × ${perDevice}/s = ${rate} readings/s for ${seconds} s (stack up in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    const sent: Record<string, number> = {};
    const first = performance.now();
    for (let seq = 0; seq < count; seq++) {
      // A fixed schedule, so a slow publish does not lower the rate.
      const wait = first + (seq * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const id = `hr-${mode}-${seq}`;
      // The frame's id is the device-supplied one scoped by its device (telemetryEnvelope): the clients key receipts by it.
      sent[deviceScopedId(`hr-${seq % plan.devices}`, id)] = wallClockMs();
      void publish(id, seq % plan.devices, seq);
    }
    const received = await clients.request<number>('awaitReceipts', { count: count * plan.dashboards, timeoutMs: 30_000 }, 60_000);
    // Anything late or duplicated arrives within a batching window more.
    await new Promise((resolve) => setTimeout(resolve, mode === 'coalesced' ? 1500 : 300));
    const summary = await clients.request<Summary>('summary', { sent, expected: plan.dashboards }, 60_000);
    if (summary.deliveries === 0) throw new Error(`${mode}: none of ${count} readings reached any of ${plan.dashboards} dashboards`);
    const usage = await gateway.request<{ invocations: number; readings: number; ddbRequests: number }>('usage');
    const per = count * plan.dashboards;
    const row: HighRateRow = {
      mode,
      dashboards: plan.dashboards,
      devices: plan.devices,
      readingsPerSec: rate,
      readings: count,
      deliveries: summary.deliveries,
      lost: summary.lost,
      duplicates: summary.duplicates,
      p50Ms: round(summary.p50Ms),
      p99Ms: round(summary.p99Ms),
      postsPerReadingPerDashboard: round(summary.frames / per, 4),
      billedPerReadingPerDashboard: round(summary.billedUnits / per, 4),
      lookupsPerReading: round(usage.ddbRequests / count, 4),
      invocations: usage.invocations,
    };
    progress(
      `[highRate] ${mode}: ${received.toLocaleString('en-US')}/${per.toLocaleString('en-US')} receipts, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ` +
        `${row.postsPerReadingPerDashboard} posts and ${row.billedPerReadingPerDashboard} billed messages per reading per dashboard, ${row.lookupsPerReading} lookups per reading, ${usage.invocations} invocations`,
    );
    return row;
  } finally {
    await device.endAsync(true).catch(() => undefined);
    await clients.stop(10_000);
    await gateway.stop(3_000);
  }
};

export const runHighRate = async ({ plan, progress }: { plan: HighRatePlan; progress: (line: string) => void }): Promise<HighRateRow[]> => {
  const rows: HighRateRow[] = [];
  for (const mode of ['direct', 'coalesced'] as const) rows.push(await runMode(mode, plan, progress));
  return rows;
};
