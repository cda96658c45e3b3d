/**
 * Device-to-client latency through the whole local pipeline:
 *   MQTT publish → aedes → topic rule → TelemetryFunction → @connections POST → WebSocket client.
 *
 *   npx tsx local/latency.ts --clients 100 --rate 10 --seconds 20
 *
 * One device publishes `--rate` messages per second, stamped with the send
 * time; `--clients` WebSocket clients subscribed to it record arrival minus
 * send time. Same machine, same clock. Prints p50/p90/p99/max and losses.
 */
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { startStack } from './stack.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
  },
});
const clients = Number(values.clients);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
for (const [name, value] of Object.entries({ clients, rate, seconds })) {
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

const main = async () => {
  const stack = await startStack({ port: 0, wsPort: 0, mqttPort: 0, auth: false, simulatedDevices: 0, logLevel: 'error', log: (line) => console.error(line) });
  const deviceId = 'latency-1';
  const samples: number[] = [];
  const received = new Map<number, number>();
  let measuring = false;

  const sockets = await Promise.all(
    Array.from(
      { length: clients },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`${stack.urls.websocket}?devices=${deviceId}`);
          ws.on('message', (data: Buffer) => {
            const now = Date.now();
            const frame = JSON.parse(data.toString()) as { type?: string; ts?: number; data?: { seq?: number } };
            if (frame.type !== 'telemetry' || !measuring || typeof frame.ts !== 'number') return;
            samples.push(now - frame.ts);
            const seq = frame.data?.seq ?? -1;
            received.set(seq, (received.get(seq) ?? 0) + 1);
          });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  const device = await mqtt.connectAsync(stack.urls.mqtt, { clientId: deviceId });

  let seq = 0;
  let sentMeasured = 0;
  const publish = () => {
    seq++;
    if (measuring) sentMeasured++;
    device.publish(`devices/${deviceId}/telemetry`, JSON.stringify({ ts: Date.now(), seq, temperature: 21 }));
  };
  const timer = setInterval(publish, 1000 / rate);
  await new Promise((resolve) => setTimeout(resolve, warmupSeconds * 1000));
  const firstMeasured = seq + 1;
  measuring = true;
  const cpuBefore = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearInterval(timer);
  await new Promise((resolve) => setTimeout(resolve, 2000)); // let the last messages land
  measuring = false;
  const cpu = process.cpuUsage(cpuBefore);

  let lost = 0;
  for (let s = firstMeasured; s < firstMeasured + sentMeasured; s++) lost += clients - Math.min(clients, received.get(s) ?? 0);
  const sorted = [...samples].sort((a, b) => a - b);
  const summary = {
    clients,
    ratePerSecond: rate,
    seconds,
    messages: sentMeasured,
    deliveries: samples.length,
    expectedDeliveries: sentMeasured * clients,
    lost,
    latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] },
    cpuSecondsPerSecond: Number(((cpu.user + cpu.system) / 1e6 / (seconds + 2)).toFixed(2)),
  };
  console.log(JSON.stringify(summary, null, 2));

  await device.endAsync();
  for (const ws of sockets) ws.close();
  await stack.stop();
};

main().catch((error: Error) => {
  console.error(`error: ${error.message}`);
  process.exit(1);
});
