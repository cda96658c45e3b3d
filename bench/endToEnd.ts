/**
 * End to end through `npm start`'s stack: a device publishes over MQTT at a
 * steady rate; the topic rule invokes the telemetry function, which fans the
 * frame out through the management API to N WebSocket clients subscribed to
 * that device. Latency is device publish → client receipt.
 */
import mqtt from 'mqtt';
import { deviceScopedId } from '@serverless-iot-dashboard/shared';
import type { GatewayInfo } from './gatewayProcess.js';
import type { Child } from './processes.js';
import { percentile, round, wallClockMs } from './stats.js';

export interface EndToEndRow {
  connections: number;
  ratePerSec: number;
  messages: number;
  p50Ms: number;
  p99Ms: number;
  /** Deliveries (message × client) that never arrived. */
  lost: number;
  /** Deliveries that arrived more than once. */
  duplicates: number;
  /** Deliveries per second the stack sustained: receipts over first publish → last receipt. Below connections × rate means it fell behind. */
  deliveriesPerSec: number;
}

export interface EndToEndPlan {
  sizes: number[];
  ratePerSec: number;
  seconds: number;
}

const DEVICE = 'e2e-dev';

export const runEndToEnd = async ({
  gateway,
  clients,
  plan,
  progress,
}: {
  gateway: Child<GatewayInfo>;
  clients: Child<unknown>;
  plan: EndToEndPlan;
  progress: (line: string) => void;
}): Promise<EndToEndRow[]> => {
  const device = await mqtt.connectAsync(gateway.info.urls.mqtt, { clientId: 'bench-e2e-device', connectTimeout: 10_000, reconnectPeriod: 0 });
  const rows: EndToEndRow[] = [];
  try {
    let open = 0;
    for (const connections of plan.sizes) {
      const started = performance.now();
      open = await clients.request<number>('connect', { url: `${gateway.info.urls.websocket}?devices=${DEVICE}`, count: connections - open }, 300_000);
      if (open !== connections) throw new Error(`expected ${connections} clients, ${open} are open`);
      progress(`[endToEnd] ${connections.toLocaleString('en-US')} clients subscribed to ${DEVICE} (${((performance.now() - started) / 1000).toFixed(1)} s)`);

      const publish = (id: string, seq: number) => {
        const sentAt = wallClockMs();
        // The frame's id is the device-supplied one scoped by its device (telemetryEnvelope): the clients key receipts by it.
        // Not awaited, so the schedule holds; a publish that fails shows up as lost deliveries.
        device.publishAsync(`devices/${DEVICE}/telemetry`, JSON.stringify({ id, ts: Date.now(), seq, temperature: 21.5 }), { qos: 1 }).catch(() => undefined);
        return sentAt;
      };

      // Warm-up: the telemetry function's first invocation opens its sockets.
      const warmId = `e2e-${connections}-warm`;
      publish(warmId, 0);
      await clients.request('collect', { id: deviceScopedId(DEVICE, warmId), expected: connections, timeoutMs: 15_000 }, 30_000);

      const count = Math.max(1, Math.round(plan.ratePerSec * plan.seconds));
      const sent: { id: string; at: number }[] = [];
      const first = performance.now();
      for (let seq = 1; seq <= count; seq++) {
        // A fixed schedule (not sleep-after-send), so a slow publish does not lower the rate.
        const due = first + ((seq - 1) * 1000) / plan.ratePerSec;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const id = `e2e-${connections}-${seq}`;
        sent.push({ id: deviceScopedId(DEVICE, id), at: publish(id, seq) });
      }

      // Drain: every message gets until a common deadline to reach every client.
      const deadline = performance.now() + 20_000;
      const latencies: number[] = [];
      let lost = 0;
      let duplicates = 0;
      let lastReceipt = sent[0]!.at;
      for (const { id, at } of sent) {
        const timeoutMs = Math.max(100, deadline - performance.now());
        const receipts = await clients.request<number[]>('collect', { id, expected: connections, timeoutMs }, timeoutMs + 10_000);
        for (const t of receipts) {
          latencies.push(t - at);
          if (t > lastReceipt) lastReceipt = t;
        }
        lost += Math.max(0, connections - receipts.length);
        duplicates += Math.max(0, receipts.length - connections);
      }
      // Late or lost is a figure; nothing at all is a broken bench (the clients key receipts by an id no frame has).
      if (latencies.length === 0) throw new Error(`none of ${count} messages reached any of ${connections} clients`);
      const row: EndToEndRow = {
        connections,
        ratePerSec: plan.ratePerSec,
        messages: count,
        p50Ms: round(percentile(latencies, 50)),
        p99Ms: round(percentile(latencies, 99)),
        lost,
        duplicates,
        deliveriesPerSec: Math.round(latencies.length / ((lastReceipt - sent[0]!.at) / 1000)),
      };
      rows.push(row);
      progress(`[endToEnd] ${connections.toLocaleString('en-US')} clients, ${count} messages at ${plan.ratePerSec}/s: p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, lost ${lost}, ${row.deliveriesPerSec.toLocaleString('en-US')} deliveries/s sustained`);
    }
  } finally {
    await device.endAsync(true).catch(() => undefined);
  }
  return rows;
};
