/**
 * npm run cost -- --connections N --rate R [--recipients M] [--devices D] [--payload BYTES] [--session MINUTES] [--rtt MS]
 * Monthly cost and delivery latency, ours against the seed design, from AWS's published prices.
 * CPU per delivery comes from bench/results/latest.json when `npm run bench` has run, else from defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_SCENARIO, ENGINES, type Engine, type Scenario, estimate } from './costModel.js';

const usd = (n: number) => `$${n < 100 ? n.toFixed(2) : Math.round(n).toLocaleString('en-US')}`;

const measuredEngines = (): Record<'ours' | 'seed', Engine> => {
  const file = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'results', 'latest.json');
  const engines: Record<'ours' | 'seed', Engine> = { ours: { ...ENGINES.ours }, seed: { ...ENGINES.seed } };
  if (!existsSync(file)) return engines;
  const results = JSON.parse(readFileSync(file, 'utf8')) as { fanout?: { impl: string; connections: number; cpuMicrosPerDelivery: number }[] };
  for (const impl of ['ours', 'seed'] as const) {
    const rows = (results.fanout ?? []).filter((r) => r.impl === impl).sort((a, b) => b.connections - a.connections);
    if (rows[0]?.cpuMicrosPerDelivery) engines[impl].cpuMicrosPerDelivery = rows[0].cpuMicrosPerDelivery;
  }
  return engines;
};

const main = () => {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string' },
      recipients: { type: 'string' },
      rate: { type: 'string' },
      devices: { type: 'string' },
      payload: { type: 'string' },
      session: { type: 'string' },
      rtt: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run cost -- --connections N --rate R [--recipients M] [--devices D] [--payload BYTES] [--session MINUTES] [--rtt MS]');
    return;
  }
  const num = (v: string | undefined, fallback: number, name: string) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${v}"`);
    return n;
  };
  const connections = num(values.connections, DEFAULT_SCENARIO.connections, 'connections');
  const scenario: Scenario = {
    connections,
    recipients: Math.min(connections, num(values.recipients, connections, 'recipients')),
    ratePerSecond: num(values.rate, DEFAULT_SCENARIO.ratePerSecond, 'rate'),
    devices: num(values.devices, DEFAULT_SCENARIO.devices, 'devices'),
    payloadBytes: num(values.payload, DEFAULT_SCENARIO.payloadBytes, 'payload'),
    sessionMinutes: num(values.session, DEFAULT_SCENARIO.sessionMinutes, 'session'),
    memoryMb: DEFAULT_SCENARIO.memoryMb,
    postRttMs: num(values.rtt, DEFAULT_SCENARIO.postRttMs, 'rtt'),
  };
  const engines = measuredEngines();
  console.log(
    `${scenario.connections.toLocaleString('en-US')} connections, ${scenario.recipients.toLocaleString('en-US')} subscribed per message, ${scenario.ratePerSecond} msg/s ` +
      `(${scenario.devices} devices, ${scenario.payloadBytes} B payloads); per 30-day month at us-east-1 on-demand prices\n`,
  );
  const rows = (['ours', 'seed'] as const).map((name) => estimate(scenario, engines[name]));
  const line = (label: string, f: (e: (typeof rows)[number]) => string) => console.log(`${label.padEnd(34)}${rows.map((e) => f(e).padStart(14)).join('')}`);
  line('', (e) => e.engine);
  line('CPU per delivery (µs)', (e) => String(engines[e.engine as 'ours' | 'seed'].cpuMicrosPerDelivery));
  line('posts per message', (e) => Math.round(e.postsPerSecond / Math.max(scenario.ratePerSecond, 1e-9)).toLocaleString('en-US'));
  line('invocations per message', (e) => String(e.invocationsPerMessage));
  line('time to last recipient (ms)', (e) => e.latencyLastRecipientMs.toFixed(0));
  line('DynamoDB read units per message', (e) => e.readUnitsPerMessage.toFixed(1));
  line('concurrent Lambda executions', (e) => e.concurrentExecutions.toFixed(1));
  line('API Gateway', (e) => usd(e.monthly.apiGateway));
  line('Lambda', (e) => usd(e.monthly.lambda));
  line('DynamoDB', (e) => usd(e.monthly.dynamodb));
  line('IoT Core', (e) => usd(e.monthly.iot));
  line('total per month', (e) => usd(e.monthly.total));
  for (const e of rows) for (const limit of e.limits) console.log(`! ${e.engine}: ${limit}`);
};

try {
  main();
} catch (error) {
  console.error(`cost: ${(error as Error).message}`);
  process.exit(1);
}
