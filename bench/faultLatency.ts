/**
 * npm run bench -- --only faultLatency: device-to-dashboard latency under FAULTS=post:429:0.2,post:500:0.05
 * (100 dashboards, 60 readings), the figures behind issue 24's late deliveries: p50, p99, max, and the readings
 * that came last. Also runnable alone: tsx bench/faultLatency.ts [clients] [readings] [intervalMs].
 */
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { DEFAULT_ASYNC_CONCURRENCY, startStack } from '../local/stack/stack.js';

export interface FaultLatencyResult {
  clients: number;
  readings: number;
  deliveries: number;
  expected: number;
  p50: number;
  p99: number;
  max: number;
  over8s: number;
  worst: { seq: number; ms: number }[];
  lines: string[];
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

export const measureFaultLatency = async ({ clients = 100, readings = 60, intervalMs = 20, seed = 24, faults = 'post:429:0.2,post:500:0.05', drainMs = 30_000, asyncConcurrency = DEFAULT_ASYNC_CONCURRENCY as number | undefined } = {}): Promise<FaultLatencyResult> => {
  const lines: string[] = [];
  const stack = await startStack({
    port: 0,
    wsPort: 0,
    mqttPort: 0,
    simulatedDevices: 0,
    localAuth: 'token',
    auth: false,
    logLevel: 'info',
    faults,
    faultsSeed: seed,
    // What npm start runs with (ASYNC_CONCURRENCY): the queue in front of the function is part of the latency.
    asyncConcurrency,
    log: (line) => lines.push(`${Date.now()} ${line}`),
  });
  const sockets: WebSocket[] = [];
  const latencies: { seq: number; ms: number }[] = [];
  try {
    for (let i = 0; i < clients; i++) {
      const ws = new WebSocket(`${stack.urls.websocket}?devices=dev-l`);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type?: string; data?: { seq?: number; sentAt?: number } };
        if (frame.type === 'telemetry' && typeof frame.data?.sentAt === 'number') latencies.push({ seq: frame.data.seq!, ms: Date.now() - frame.data.sentAt });
      });
      sockets.push(ws);
    }
    const device = await mqtt.connectAsync(stack.urls.mqtt, { clientId: 'latency-device', reconnectPeriod: 0 });
    for (let seq = 0; seq < readings; seq++) {
      await device.publishAsync('devices/dev-l/telemetry', JSON.stringify({ ts: Date.now(), seq, sentAt: Date.now() }));
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    const until = Date.now() + drainMs;
    while (latencies.length < clients * readings && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
    await device.endAsync();
  } finally {
    for (const ws of sockets) ws.terminate();
    await stack.stop();
  }
  const sorted = latencies.map((l) => l.ms).sort((a, b) => a - b);
  return {
    clients,
    readings,
    deliveries: latencies.length,
    expected: clients * readings,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? NaN,
    over8s: sorted.filter((ms) => ms > 8000).length,
    worst: [...latencies].sort((a, b) => b.ms - a.ms).slice(0, 10),
    lines,
  };
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [clients, readings, intervalMs, concurrency] = process.argv.slice(2).map(Number);
  const result = await measureFaultLatency({ clients: clients || 100, readings: readings || 60, intervalMs: intervalMs || 20, asyncConcurrency: concurrency === 0 ? undefined : concurrency || DEFAULT_ASYNC_CONCURRENCY });
  const { lines, ...figures } = result;
  console.log(JSON.stringify(figures));
  if (process.env.FAULT_LATENCY_LINES) console.log(lines.filter((l) => new RegExp(process.env.FAULT_LATENCY_LINES!).test(l)).join('\n'));
}
