/**
 * npm run cost -- --connections N --rate R [--recipients M] [--devices D] [--payload BYTES] [--session MINUTES] [--rtt MS] [--batch-size N] [--window SECONDS]
 * Monthly cost and delivery latency, ours (direct and coalesced) against the seed design, at the rate and at ten
 * times it, from AWS's published prices.
 * CPU per delivery comes from bench/results/latest.json when `npm run bench` has run, else from defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { historyWriteCosts } from './historyCost.js';
import { type CoalescedSettings, DEFAULT_COALESCED, DEFAULT_SCENARIO, ENGINES, type Engine, type Estimate, type Scenario, coalescedBreakEven, estimate, estimateCoalesced } from './costModel.js';

const usd = (n: number) => `$${n < 100 ? n.toFixed(2) : Math.round(n).toLocaleString('en-US')}`;

const measuredEngines = (): Record<'ours' | 'seed', Engine> => {
  const file = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'results', 'latest.json');
  const engines: Record<'ours' | 'seed', Engine> = { ours: { ...ENGINES.ours }, seed: { ...ENGINES.seed } };
  if (!existsSync(file)) return engines;
  const results = JSON.parse(readFileSync(file, 'utf8')) as { fanout?: { impl: string; connections: number; cpuMicrosPerDelivery: number }[] };
  for (const impl of ['ours', 'seed'] as const) {
    const rows = (Array.isArray(results.fanout) ? results.fanout : []).filter((r) => r.impl === impl).sort((a, b) => b.connections - a.connections);
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
      'batch-size': { type: 'string' },
      window: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run cost -- --connections N --rate R [--recipients M] [--devices D] [--payload BYTES] [--session MINUTES] [--rtt MS] [--batch-size N] [--window SECONDS]');
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
  const coalesced: CoalescedSettings = {
    ...DEFAULT_COALESCED,
    batchSize: num(values['batch-size'], DEFAULT_COALESCED.batchSize, 'batch-size'),
    windowSeconds: num(values.window, DEFAULT_COALESCED.windowSeconds, 'window'),
  };
  // The rate asked for, and ten times it: where the modes part ways.
  for (const rate of [scenario.ratePerSecond, scenario.ratePerSecond * 10]) {
    const at: Scenario = { ...scenario, ratePerSecond: rate };
    console.log(
      `${at.connections.toLocaleString('en-US')} connections, ${at.recipients.toLocaleString('en-US')} subscribed per message, ${rate} msg/s ` +
        `(${at.devices} devices, ${at.payloadBytes} B payloads); per 30-day month at us-east-1 on-demand prices\n`,
    );
    const direct = (['ours', 'seed'] as const).map((name) => estimate(at, engines[name]));
    const batch = estimateCoalesced(at, coalesced);
    const rows: Estimate[] = [...direct, batch];
    const perReading = (e: Estimate) => e.postsPerSecond / Math.max(rate * at.recipients, 1e-9);
    const line = (label: string, f: (e: Estimate) => string) => console.log(`${label.padEnd(40)}${rows.map((e) => f(e).padStart(14)).join('')}`);
    line('', (e) => (e.engine === 'ours' ? 'ours (direct)' : e.engine));
    line('posts per message', (e) => (e.postsPerSecond / Math.max(rate, 1e-9)).toFixed(e.engine === 'coalesced' ? 2 : 0));
    line('billed messages per reading per dashboard', (e) => perReading(e).toFixed(e.engine === 'coalesced' ? 4 : 2));
    line('invocations per message', (e) => (e.engine === 'coalesced' ? e.invocationsPerMessage.toFixed(4) : String(e.invocationsPerMessage)));
    line('time to last recipient (ms)', (e) => e.latencyLastRecipientMs.toFixed(0));
    line('DynamoDB read units per message', (e) => e.readUnitsPerMessage.toFixed(e.engine === 'coalesced' ? 4 : 1));
    line('concurrent Lambda executions', (e) => e.concurrentExecutions.toFixed(1));
    line('API Gateway', (e) => usd(e.monthly.apiGateway));
    line('Lambda', (e) => usd(e.monthly.lambda));
    line('DynamoDB', (e) => usd(e.monthly.dynamodb));
    line('SQS', (e) => usd(e.monthly.sqs));
    line('IoT Core', (e) => usd(e.monthly.iot));
    line('total per month', (e) => usd(e.monthly.total));
    for (const e of rows) for (const limit of e.limits) console.log(`! ${e.engine}: ${limit}`);
    console.log(`  coalesced: ${batch.batchesPerSecond.toFixed(1)} batches/s of ${batch.readingsPerBatch.toFixed(0)} readings (BatchSize ${coalesced.batchSize}, window ${coalesced.windowSeconds} s, ${coalesced.pollers} pollers)\n`);
  }
  // History (ADR 008): the reading, its rollup buckets and the latest reading, per million readings stored.
  const readingsPerMonth = scenario.ratePerSecond * 86_400 * 30;
  for (const h of historyWriteCosts()) {
    console.log(
      `history, ${h.mode}: ${h.writeUnitsPerReading} + ${h.latestWriteUnitsPerReading} write units (${h.rollupWriteUnitsPerReading} for rollups) and ${h.readUnitsPerReading} read units per reading: ` +
        `${usd(h.dollarsPerMillionReadings)} per million readings, ${usd((readingsPerMonth / 1e6) * h.dollarsPerMillionReadings)} per month at ${scenario.ratePerSecond} msg/s${h.measured ? '' : ' (figures of ADR 008; npm run bench measures them)'}`,
    );
  }
  console.log('');
  const breakEven = coalescedBreakEven(scenario, engines.ours, coalesced);
  console.log(
    breakEven === undefined
      ? 'direct costs less at every rate up to 100,000 msg/s for this audience'
      : `coalesced costs less from ${breakEven < 1 ? breakEven.toFixed(2) : breakEven.toFixed(1)} msg/s up (for ${scenario.recipients.toLocaleString('en-US')} dashboards); below that, direct, which also has the lowest latency`,
  );
};

try {
  main();
} catch (error) {
  console.error(`cost: ${(error as Error).message}`);
  process.exit(1);
}
