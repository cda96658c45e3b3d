/**
 * npm run bench [-- --quick] [-- --only fanout,endToEnd,…]
 *
 * Cold start, lookup, fan-out and end-to-end benchmarks (bench/README.md).
 * Prints a table per section and the issue's targets with a verdict each,
 * and writes bench/results/latest.json. Nothing here asserts a timing: CI
 * runs `--quick` only to prove that the suite still runs.
 */
import { type FleetPlan, type FleetRow, FLEET_PLANS, runFleetBrowser, runLocalCapacity, runPresenceLatency } from './fleet.js';
import { PINNED_CHARTS_PLANS, type PinnedChartsPlan, type PinnedChartsRow, runPinnedCharts } from './pinnedCharts.js';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type ColdStartRow, runColdStart } from './coldStart.js';
import { type EndToEndPlan, type EndToEndRow, runEndToEnd } from './endToEnd.js';
import { type FanoutPlan, type FanoutRow, runFanout } from './fanout.js';
import { type HighRatePlan, type HighRateRow, runHighRate } from './highRate.js';
import { DEFAULT_COALESCED, DEFAULT_SCENARIO, coalescedBreakEven } from './costModel.js';
import { type HistoryBrowserPlan, type HistoryBrowserRow, type HistoryReadPlan, type HistoryReadRow, type HistoryExportRow, type HistoryWriteRow, runHistoryBrowser, runHistoryReads } from './history.js';
import type { GatewayInfo } from './gatewayProcess.js';
import { type LookupPlan, type LookupRow, runLookup } from './lookup.js';
import { type AlarmsPlan, type AlarmsRow, runAlarms } from './alarms.js';
import { type Child, spawnChild } from './processes.js';
import { type FaultLatencyResult, measureFaultLatency } from './faultLatency.js';
import { DEFAULT_ASYNC_CONCURRENCY } from '../local/stack/stack.js';
import { type Column, formatTable } from './table.js';

// Before any SDK client is built: the SDK's notice about Node 20 is not a result.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const here = dirname(fileURLToPath(import.meta.url));

interface Plan {
  fleet: FleetPlan;
  pinnedCharts: PinnedChartsPlan;
  coldStartSamples: number;
  lookup: LookupPlan;
  fanout: FanoutPlan;
  endToEnd: EndToEndPlan;
  highRate: HighRatePlan;
  alarms: AlarmsPlan;
  historyReads: HistoryReadPlan;
  historyBrowser: HistoryBrowserPlan;
}

const PLANS: Record<'full' | 'quick', Plan> = {
  full: {
    fleet: FLEET_PLANS.full,
    pinnedCharts: PINNED_CHARTS_PLANS.full,
    coldStartSamples: 9,
    lookup: { connections: 10_000, devices: 100, repetitions: 10 },
    fanout: {
      sizes: [
        { connections: 100, messages: 30 },
        { connections: 1_000, messages: 10 },
        { connections: 5_000, messages: 4 },
      ],
    },
    endToEnd: { sizes: [100, 1_000], ratePerSec: 10, seconds: 5 },
    // The issue's scenario: 100 devices × 10 readings/s to 100 dashboards on *, for 30 s.
    highRate: { dashboards: 100, devices: 100, ratePerDevice: 10, seconds: 30, directRatePerDevice: 0.2, directSeconds: 15 },
    alarms: { devices: 1000, rulesPerDevice: 10, readings: 20_000, crossingDevices: 100, crossingsPerDevice: 10, faultRate: 0.1, latencyCrossings: 50 },
    historyReads: { days: 30, rawHours: 24, writeReadings: 600, exportDays: 30, exportRawReadings: 99_600 },
    historyBrowser: { devices: 3, backfillMinutes: 5, dropSeconds: 30 },
  },
  quick: {
    fleet: FLEET_PLANS.quick,
    pinnedCharts: PINNED_CHARTS_PLANS.quick,
    coldStartSamples: 2,
    lookup: { connections: 10_000, devices: 100, repetitions: 3 },
    fanout: {
      sizes: [
        { connections: 100, messages: 5 },
        { connections: 1_000, messages: 2 },
      ],
    },
    endToEnd: { sizes: [100], ratePerSec: 10, seconds: 2 },
    highRate: { dashboards: 20, devices: 20, ratePerDevice: 5, seconds: 2, directRatePerDevice: 0.5, directSeconds: 2 },
    alarms: { devices: 1000, rulesPerDevice: 10, readings: 2000, crossingDevices: 20, crossingsPerDevice: 5, faultRate: 0.1, latencyCrossings: 10 },
    historyReads: { days: 2, rawHours: 1, writeReadings: 120, exportDays: 1, exportRawReadings: 6_000 },
    historyBrowser: { devices: 3, backfillMinutes: 5, dropSeconds: 3 },
  },
};

type Section<Row> = Row[] | { error: string } | { skipped: string };

interface Results {
  machine: Record<string, unknown>;
  quick: boolean;
  startedAt: string;
  durationSec?: number;
  fanout: Section<FanoutRow>;
  lookup: Section<LookupRow>;
  coldStart: Section<ColdStartRow>;
  endToEnd: Section<EndToEndRow>;
  highRate: Section<HighRateRow>;
  /** The same run on a stack without history storage (no history or rollup writes, no latest-reading write). */
  endToEndNoHistory: Section<EndToEndRow>;
  historyReads: Section<HistoryReadRow>;
  /** Measured in the historyReads section: the rollups' write cost per reading. */
  historyWrites: Section<HistoryWriteRow>;
  /** Measured in the historyReads section: npm run export's core over the loaded history. */
  historyExports: Section<HistoryExportRow>;
  historyBrowser: Section<HistoryBrowserRow>;
  /** Issue 23: presence latency, the fleet table in Chromium, the local stack's capacity (bench/fleet.ts). */
  presence: Section<FleetRow>;
  fleetBrowser: Section<FleetRow>;
  capacity: Section<FleetRow>;
  /** Issue 23: 50 pinned devices' live charts in Chromium (bench/pinnedCharts.ts). */
  pinnedCharts: Section<PinnedChartsRow>;
  alarms: Section<AlarmsRow>;
}

/** The sections, in the order they run (`--only` takes a comma-separated list of these). */
const SECTIONS = ['coldStart', 'lookup', 'fanout', 'historyReads', 'endToEnd', 'endToEndNoHistory', 'historyBrowser', 'highRate', 'faultLatency', 'presence', 'fleetBrowser', 'capacity', 'alarms', 'pinnedCharts'] as const;
type SectionName = (typeof SECTIONS)[number];

const rowsOf = <Row>(section: Section<Row>): Row[] => (Array.isArray(section) ? section : []);

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s`;
const progress = (line: string) => console.log(`${elapsed()}  ${line}`);

/** Runs one section; a failure is recorded in its place and fails the run, but the other sections still run. */
let failed = false;
/** `--only`'s sections; undefined runs them all. */
let only: ReadonlySet<string> | undefined;
const wanted = (name: SectionName) => !only || only.has(name);
const SKIPPED = { skipped: 'not in --only' };

const section = async <Row>(name: SectionName, run: () => Promise<Row[]>): Promise<Section<Row>> => {
  if (!wanted(name)) return SKIPPED;
  try {
    return await run();
  } catch (error) {
    failed = true;
    const message = (error as Error).stack ?? String(error);
    console.error(`[${name}] failed: ${message}`);
    return { error: (error as Error).message };
  }
};

/** The local stack and the clients, each in its own process, for the duration of `run`. */
const withStack = async <T>(run: (gateway: Child<GatewayInfo>, clients: Child<unknown>) => Promise<T>, env?: Record<string, string>): Promise<T> => {
  const t = performance.now();
  const gateway = await spawnChild<GatewayInfo>(join(here, 'gatewayProcess.ts'), { name: 'local stack', readyTimeoutMs: 120_000, env });
  let clients: Child<unknown> | undefined;
  try {
    clients = await spawnChild(join(here, 'clientsProcess.ts'), { name: 'clients', readyTimeoutMs: 60_000 });
    progress(`local stack up in ${((performance.now() - t) / 1000).toFixed(1)} s (pid ${gateway.pid}, clients pid ${clients.pid}): ${gateway.info.urls.websocket}`);
    return await run(gateway, clients);
  } finally {
    await clients?.stop(10_000);
    // The stack would run a $disconnect per client; nothing needs them any more, so it gets 3 s before it is killed.
    await gateway.stop(3_000);
  }
};

// ---------------------------------------------------------------- tables and verdicts

const fanoutColumns: Column<FanoutRow>[] = [
  { title: 'impl', value: (r) => r.impl },
  { title: 'connections', value: (r) => r.connections },
  { title: 'msgs', value: (r) => r.messages },
  { title: 'deliveries/s', value: (r) => r.deliveriesPerSec },
  { title: 'CPU µs/delivery', value: (r) => r.cpuMicrosPerDelivery },
  { title: 'p50 ms', value: (r) => r.p50Ms },
  { title: 'p99 ms', value: (r) => r.p99Ms },
  { title: 'DDB req/msg', value: (r) => r.ddbRequestsPerMessage },
  { title: 'DDB RCU/msg', value: (r) => r.ddbReadUnitsPerMessage },
  { title: 'recipients', value: (r) => r.recipientsPerMessage },
  { title: 'lost', value: (r) => r.lost },
];

const lookupColumns: Column<LookupRow>[] = [
  { title: 'impl', value: (r) => r.impl },
  { title: 'table connections', value: (r) => r.tableConnections },
  { title: 'recipients', value: (r) => r.recipients },
  { title: 'DDB req/msg', value: (r) => r.ddbRequestsPerMessage },
  { title: 'RCU/msg (reported)', value: (r) => r.ddbReadUnitsPerMessage },
  { title: 'RCU/msg (billed)', value: (r) => r.billedReadUnitsPerMessage },
  { title: 'ms (median)', value: (r) => r.ms },
];

const coldStartColumns: Column<ColdStartRow>[] = [
  { title: 'function', value: (r) => r.function },
  { title: 'layer entry', value: (r) => r.layerEntry },
  { title: 'bundle KiB', value: (r) => Math.round(r.bundleBytes / 102.4) / 10 },
  { title: 'own KiB', value: (r) => Math.round(r.functionBytes / 102.4) / 10 },
  { title: 'import ms', value: (r) => r.importMs },
  { title: 'min', value: (r) => r.importMsMin },
  { title: 'with source maps', value: (r) => r.importMsWithSourceMaps },
];

const endToEndColumns: Column<EndToEndRow>[] = [
  { title: 'connections', value: (r) => r.connections },
  { title: 'msgs/s', value: (r) => r.ratePerSec },
  { title: 'msgs', value: (r) => r.messages },
  { title: 'p50 ms', value: (r) => r.p50Ms },
  { title: 'p99 ms', value: (r) => r.p99Ms },
  { title: 'lost', value: (r) => r.lost },
  { title: 'duplicates', value: (r) => r.duplicates },
  { title: 'deliveries/s sustained', value: (r) => r.deliveriesPerSec },
];

const highRateColumns: Column<HighRateRow>[] = [
  { title: 'mode', value: (r) => r.mode },
  { title: 'dashboards', value: (r) => r.dashboards },
  { title: 'readings/s', value: (r) => r.readingsPerSec },
  { title: 'readings', value: (r) => r.readings },
  { title: 'posts/reading/dashboard', value: (r) => r.postsPerReadingPerDashboard },
  { title: 'billed msgs/reading/dashboard', value: (r) => r.billedPerReadingPerDashboard },
  { title: 'lookups/reading', value: (r) => r.lookupsPerReading },
  { title: 'p50 ms', value: (r) => r.p50Ms },
  { title: 'p99 ms', value: (r) => r.p99Ms },
  { title: 'lost', value: (r) => r.lost },
  { title: 'duplicates', value: (r) => r.duplicates },
];

const historyReadColumns: Column<HistoryReadRow>[] = [
  { title: 'read', value: (r) => r.read },
  { title: 'readings in window', value: (r) => r.window },
  { title: 'items read', value: (r) => r.itemsRead },
  { title: 'points sent', value: (r) => r.points },
  { title: 'resolution', value: (r) => r.resolution },
  { title: 'DDB requests', value: (r) => r.ddbRequests },
  { title: 'RCU (reported)', value: (r) => r.readUnits },
  { title: 'RCU (billed)', value: (r) => r.billedReadUnits },
  { title: 'ms to done', value: (r) => `${r.ms}${r.extrapolated ? ' (scaled)' : ''}` },
];

const historyWriteColumns: Column<HistoryWriteRow>[] = [
  { title: 'mode', value: (r) => r.mode },
  { title: 'readings', value: (r) => r.readings },
  { title: 'WCU/reading', value: (r) => r.writeUnitsPerReading },
  { title: 'rollup WCU/reading', value: (r) => r.rollupWriteUnitsPerReading },
  { title: 'RCU/reading', value: (r) => r.readUnitsPerReading },
  { title: 'requests/reading', value: (r) => r.requestsPerReading },
  { title: '$ per million readings', value: (r) => r.dollarsPerMillionReadings },
];

const historyExportColumns: Column<HistoryExportRow>[] = [
  { title: 'export', value: (r) => r.what },
  { title: 'resolution', value: (r) => r.resolution },
  { title: 'rows', value: (r) => r.rows },
  { title: 'readings', value: (r) => r.readings },
  { title: 's', value: (r) => r.seconds },
  { title: 'rows/s', value: (r) => r.rowsPerSec },
  { title: 'readings/s', value: (r) => r.readingsPerSec },
  { title: 'CSV MiB', value: (r) => r.csvMiB },
  { title: 'peak RSS MiB', value: (r) => `${r.peakRssMiB} (+${r.rssGrowthMiB})` },
];

const historyBrowserColumns: Column<HistoryBrowserRow>[] = [
  { title: 'figure', value: (r) => r.figure },
  { title: 'value', value: (r) => `${r.value} ${r.unit}` },
  { title: 'detail', value: (r) => r.detail },
];

type FaultLatencyRow = Omit<FaultLatencyResult, 'lines' | 'worst'> & { asyncConcurrency: number };
const faultLatencyColumns: Column<FaultLatencyRow>[] = [
  { title: 'ASYNC_CONCURRENCY', value: (r) => r.asyncConcurrency },
  { title: 'dashboards', value: (r) => r.clients },
  { title: 'readings', value: (r) => r.readings },
  { title: 'received', value: (r) => `${r.deliveries}/${r.expected}` },
  { title: 'p50 ms', value: (r) => r.p50 },
  { title: 'p99 ms', value: (r) => r.p99 },
  { title: 'max ms', value: (r) => r.max },
  { title: '> 8 s', value: (r) => r.over8s },
];

const printSection = <Row>(title: string, data: Section<Row>, columns: Column<Row>[]) => {
  console.log(`\n${title}`);
  if (Array.isArray(data)) console.log(formatTable(data, columns));
  else console.log('error' in data ? `  failed: ${data.error}` : `  skipped: ${data.skipped}`);
};

const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
const verdict = (met: boolean | undefined) => (met === undefined ? 'n/a' : met ? 'MET' : 'MISSED');
const x = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(value < 10 ? 2 : 0)}x`);

const verdicts = (results: Results): string[] => {
  const fanout = rowsOf(results.fanout);
  const row = (impl: string, connections: number) => fanout.find((r) => r.impl === impl && r.connections === connections);
  const sizes = [...new Set(fanout.map((r) => r.connections))];
  const cpuRatios = sizes.map((n) => ({ n, r: ratio(row('ours', n)?.cpuMicrosPerDelivery, row('raw-post', n)?.cpuMicrosPerDelivery) }));
  const speedup = ratio(row('ours', 1_000)?.deliveriesPerSec, row('seed', 1_000)?.deliveriesPerSec);
  const lookup = rowsOf(results.lookup);
  const ours = lookup.find((r) => r.impl === 'ours');
  const seed = lookup.find((r) => r.impl === 'seed');
  const seedOwn = lookup.find((r) => r.impl === 'seed-own-table');
  const fewer = ratio(seed?.billedReadUnitsPerMessage, ours?.billedReadUnitsPerMessage);
  const fewerReported = ratio(seed?.ddbReadUnitsPerMessage, ours?.ddbReadUnitsPerMessage);
  const fewerOwnTable = ratio(seedOwn?.billedReadUnitsPerMessage, ours?.billedReadUnitsPerMessage);
  const ceiling = ratio(row('raw-post', 1_000)?.deliveriesPerSec, row('seed', 1_000)?.deliveriesPerSec);
  const telemetry = rowsOf(results.coldStart).find((r) => r.function === 'TelemetryFunction');
  const on = rowsOf(results.endToEnd)[0];
  const off = rowsOf(results.endToEndNoHistory)[0];
  const p50 = ratio(on?.p50Ms, off?.p50Ms);
  const p99 = ratio(on?.p99Ms, off?.p99Ms);
  const reads = rowsOf(results.historyReads);
  const windowReads = reads.filter((r) => r.read.endsWith('at maxPoints 600'));
  const thirtyDays = windowReads.find((r) => r.read.startsWith('30 d'));
  const browser = rowsOf(results.historyBrowser);
  const firstPaint = browser.find((r) => r.figure === 'first paint');
  const reconnect = browser.find((r) => r.figure === 'gap-free reconnect');
  const zoom = browser.find((r) => r.figure === 'zoom to raw');
  const cpuKnown = cpuRatios.filter((c) => c.r !== undefined);
  const high = rowsOf(results.highRate);
  const direct = high.find((r) => r.mode === 'direct');
  const coalesced = high.find((r) => r.mode === 'coalesced');
  const postsRatio = ratio(coalesced?.postsPerReadingPerDashboard, direct?.postsPerReadingPerDashboard);
  const windowMs = DEFAULT_COALESCED.windowSeconds * 1000;
  const ceilingRatio = ratio(row('ours', 1_000)?.deliveriesPerSec, row('raw-post', 1_000)?.deliveriesPerSec);
  const n = (v: number | undefined) => (v === undefined ? '-' : String(v));
  const issue15 = [
    `[15] PostToConnection calls per reading per dashboard, coalesced vs direct ≤ 0.1: ${n(postsRatio === undefined ? undefined : Math.round(postsRatio * 1e4) / 1e4)} (${n(coalesced?.postsPerReadingPerDashboard)} vs ${n(direct?.postsPerReadingPerDashboard)}) → ${verdict(postsRatio === undefined ? undefined : postsRatio <= 0.1)}`,
    `[15] recipient lookups per reading, coalesced ≤ 0.05: ${n(coalesced?.lookupsPerReading)} → ${verdict(coalesced ? coalesced.lookupsPerReading <= 0.05 : undefined)}`,
    `[15] billed API Gateway messages per reading per dashboard, coalesced ≤ 0.1: ${n(coalesced?.billedPerReadingPerDashboard)} → ${verdict(coalesced ? coalesced.billedPerReadingPerDashboard <= 0.1 : undefined)}`,
    `[15] device-to-browser p99, coalesced ≤ window + 300 ms (${windowMs + 300} ms): ${n(coalesced?.p99Ms)} ms → ${verdict(coalesced ? coalesced.p99Ms <= windowMs + 300 : undefined)}`,
    `[15] readings lost / duplicated at the client: ${high.map((r) => `${r.mode} ${r.lost} / ${r.duplicates}`).join(', ') || '-'} → ${verdict(high.length ? high.every((r) => r.lost === 0 && r.duplicates === 0) : undefined)}`,
    `[15] direct deliveries/s vs raw POST at 1,000 connections ≥ 0.9x: ${x(ceilingRatio)} → ${verdict(ceilingRatio === undefined ? undefined : ceilingRatio >= 0.9)}`,
    `[15] TelemetryFunction import, tracing off, fastest of ${telemetry?.samples ?? '-'} ≤ 40 ms: ${telemetry?.importMsMin ?? '-'} ms → ${verdict(telemetry ? telemetry.importMsMin <= 40 : undefined)}`,
  ];
  if (coalesced) {
    const audience = { ...DEFAULT_SCENARIO, connections: coalesced.dashboards, recipients: coalesced.dashboards, devices: coalesced.devices };
    const breakEven = coalescedBreakEven(audience);
    issue15.push(
      `[15] which mode: for ${coalesced.dashboards} dashboards, coalesced costs less from ${breakEven === undefined ? '-' : breakEven.toFixed(1)} readings/s (npm run cost); ` +
        `direct has the lower latency (p99 ${n(direct?.p99Ms)} ms vs ${n(coalesced.p99Ms)} ms here): choose direct below that rate, coalesced above it`,
    );
  }
  return [
    ...issue15,
    `ours CPU/delivery within 1.5x of raw-post: ${cpuKnown.map((c) => `${c.n.toLocaleString('en-US')}: ${x(c.r)}`).join(', ') || '-'} → ${verdict(cpuKnown.length ? cpuKnown.every((c) => c.r! <= 1.5) : undefined)}`,
    `ours ≥ 5x seed deliveries/s at 1,000 connections: ${x(speedup)} (${row('ours', 1_000)?.deliveriesPerSec ?? '-'} vs ${row('seed', 1_000)?.deliveriesPerSec ?? '-'}/s; raw-post, the limit here, is ${x(ceiling)} the seed) → ${verdict(speedup === undefined ? undefined : speedup >= 5)}`,
    `lookup: ours ≥ 50x fewer read units than seed: ${x(fewer)} billed (${ours?.billedReadUnitsPerMessage ?? '-'} vs ${seed?.billedReadUnitsPerMessage ?? '-'} RCU; ${x(fewerReported)} as dynalite reports); against the seed's own one-attribute table ${x(fewerOwnTable)} → ${verdict(fewer === undefined ? undefined : fewer >= 50)}`,
    `history: live path p50/p99 with history on within 10 % of off: ${on?.p50Ms ?? '-'}/${on?.p99Ms ?? '-'} ms vs ${off?.p50Ms ?? '-'}/${off?.p99Ms ?? '-'} ms (${x(p50)} / ${x(p99)}) → ${verdict(p50 === undefined || p99 === undefined ? undefined : p50 <= 1.1 && p99 <= 1.1)}`,
    `[21] zoom from a 7 d view to raw points on every chart ≤ 500 ms: ${zoom ? `${zoom.value} ms (${zoom.detail})` : '-'} → ${verdict(zoom ? zoom.value <= 500 : undefined)}`,
    `history: first paint of 3 devices × 5 min ≤ 1 s: ${firstPaint ? `${firstPaint.value} ms` : '-'} → ${verdict(firstPaint ? firstPaint.value <= 1000 : undefined)}`,
    `history: gap-free reconnect: ${reconnect ? reconnect.detail : '-'} → ${verdict(reconnect ? reconnect.value === 0 && !/gaps shown: true/.test(reconnect.detail) && /duplicates (\S*) → \1;/.test(reconnect.detail) : undefined)}`,
    `history: read units: ${reads.map((r) => `${r.read} ${r.billedReadUnits} RCU`).join('; ') || '-'}`,
    `[21] every window at maxPoints 600 ≤ 100 RCU: ${windowReads.map((r) => `${r.read.split(' ')[0]}${r.read.split(' ')[1]} ${r.billedReadUnits}`).join(', ') || '-'} → ${verdict(windowReads.length ? windowReads.every((r) => r.billedReadUnits <= 100) : undefined)}`,
    `[21] 30 d window done ≤ 500 ms locally: ${thirtyDays ? `${thirtyDays.ms} ms` : '-'} → ${verdict(thirtyDays ? thirtyDays.ms <= 500 : undefined)}`,
    `TelemetryFunction import ≤ 60 ms: median ${telemetry?.importMs ?? '-'} ms (fastest ${telemetry?.importMsMin ?? '-'} ms; ${telemetry?.importMsWithSourceMaps ?? '-'} ms with the template's --enable-source-maps) → ${verdict(telemetry ? telemetry.importMs <= 60 : undefined)}`,
  ];
};

/** Alarms (issue 22): each row has its own columns, so each is printed as key=value. */
const printAlarms = (rows: Section<AlarmsRow>): void => {
  console.log('\n## Alarms: cost per reading with 10,000 rules over 1,000 devices, crossing latency, exactly once under FAULTS (bench/alarms.ts)');
  if (!Array.isArray(rows)) {
    console.log(JSON.stringify(rows));
    return;
  }
  for (const { scenario, ...figures } of rows) console.log(`${scenario}: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}`);
};

// ---------------------------------------------------------------- main

const main = async () => {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
  const quick = values.quick === true;
  // --only fanout,highRate: those sections and no others (the rest print as skipped), to re-measure one figure.
  only = values.only === undefined ? undefined : new Set(values.only.split(',').map((name) => name.trim()).filter(Boolean));
  const unknown = only ? [...only].filter((name) => !(SECTIONS as readonly string[]).includes(name)) : [];
  if (unknown.length > 0) {
    console.error(`npm run bench: unknown section ${unknown.join(', ')} in --only (the sections: ${SECTIONS.join(', ')})`);
    process.exit(2);
  }
  const plan = PLANS[quick ? 'quick' : 'full'];
  const results: Results = {
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      freeMemoryGiB: Math.round(freemem() / 2 ** 30),
      loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    quick,
    startedAt: new Date().toISOString(),
    fanout: [],
    lookup: [],
    coldStart: [],
    endToEnd: [],
    highRate: [],
    alarms: [],
    endToEndNoHistory: [],
    historyReads: [],
    historyWrites: [],
    historyExports: [],
    historyBrowser: [],
    presence: [],
    fleetBrowser: [],
    pinnedCharts: [],
    capacity: [],
  };
  progress(`npm run bench${quick ? ' -- --quick' : ''}: ${results.machine.cpus} CPUs, Node ${process.version}, load ${(results.machine.loadAverageAtStart as number[]).join(' ')}`);

  results.coldStart = await section('coldStart', () => runColdStart({ samples: plan.coldStartSamples, progress }));
  // Three sections share one stack, started only when one of them is wanted.
  const sharedStack = ['lookup', 'fanout', 'historyReads'] as const;
  try {
    if (sharedStack.some(wanted)) {
      await withStack(async (gateway, clients) => {
        results.lookup = await section('lookup', () => runLookup({ dynamodb: gateway.info.urls.dynamodb, plan: plan.lookup, progress }));
        results.fanout = await section('fanout', () => runFanout({ gateway, clients, plan: plan.fanout, progress }));
        const history = await section('historyReads', async () => [await runHistoryReads({ dynamodb: gateway.info.urls.dynamodb, plan: plan.historyReads, progress })]);
        results.historyReads = Array.isArray(history) ? history[0]!.reads : history;
        results.historyWrites = Array.isArray(history) ? history[0]!.writes : history;
        results.historyExports = Array.isArray(history) ? history[0]!.exports : history;
      });
    } else for (const name of sharedStack) results[name] = SKIPPED;
  } catch (error) {
    // The stack (or the clients) never started: both sections say so.
    failed = true;
    console.error(`local stack failed: ${(error as Error).stack ?? error}`);
    const failure = { error: `the local stack failed: ${(error as Error).message}` };
    if (wanted('lookup') && rowsOf(results.lookup).length === 0) results.lookup = failure;
    if (wanted('fanout') && rowsOf(results.fanout).length === 0) results.fanout = failure;
  }
  // A fresh stack: the fan-out's thousands of connections (and their table items) would otherwise linger.
  results.endToEnd = await section('endToEnd', () => withStack((gateway, clients) => runEndToEnd({ gateway, clients, plan: plan.endToEnd, progress })));
  results.endToEndNoHistory = await section('endToEndNoHistory', () =>
    withStack((gateway, clients) => runEndToEnd({ gateway, clients, plan: plan.endToEnd, progress }), { BENCH_HISTORY: 'off' }),
  );
  const browserRows = await section('historyBrowser', async () => (await runHistoryBrowser({ plan: plan.historyBrowser, progress })) ?? []);
  results.historyBrowser = Array.isArray(browserRows) && browserRows.length === 0 ? { skipped: 'no Chromium at /usr/bin/chromium (CHROMIUM_PATH)' } : browserRows;

  // Issue 15's scenario, a fresh stack per fan-out mode.
  results.highRate = await section('highRate', () => runHighRate({ plan: plan.highRate, progress }));
  results.alarms = await section('alarms', () => runAlarms({ plan: plan.alarms, progress }));

  // Issue 24: device-to-dashboard latency under FAULTS=post:429:0.2,post:500:0.05, at npm start's asynchronous
  // concurrency and (full run) at the 4 it had, which made the last readings 20 s late.
  const faultLatency = await section('faultLatency', async () => {
    const rows: FaultLatencyRow[] = [];
    for (const concurrency of quick ? [DEFAULT_ASYNC_CONCURRENCY] : [DEFAULT_ASYNC_CONCURRENCY, 4]) {
      progress(`[faultLatency] ${quick ? 20 : 100} dashboards, ${quick ? 20 : 60} readings at 10/s, ASYNC_CONCURRENCY=${concurrency}`);
      const { lines: _lines, worst: _worst, ...r } = await measureFaultLatency({ clients: quick ? 20 : 100, readings: quick ? 20 : 60, intervalMs: 100, asyncConcurrency: concurrency });
      rows.push({ asyncConcurrency: concurrency, ...r });
    }
    return rows;
  });
  (results as unknown as Record<string, unknown>).faultLatency = faultLatency;
  // Issue 23 (bench/fleet.ts).
  results.presence = await section('presence', () => runPresenceLatency({ plan: plan.fleet, progress }));
  const fleetRows = await section('fleetBrowser', async () => (await runFleetBrowser({ plan: plan.fleet, progress })) ?? []);
  results.fleetBrowser = Array.isArray(fleetRows) && fleetRows.length === 0 ? { skipped: 'no Chromium at /usr/bin/chromium (CHROMIUM_PATH)' } : fleetRows;
  results.capacity = await section('capacity', () => runLocalCapacity({ plan: plan.fleet, progress }));
  const pinnedRows = await section('pinnedCharts', async () => (await runPinnedCharts({ plan: plan.pinnedCharts, progress })) ?? []);
  results.pinnedCharts = Array.isArray(pinnedRows) && pinnedRows.length === 0 ? { skipped: 'no Chromium at /usr/bin/chromium (CHROMIUM_PATH)' } : pinnedRows;

  results.durationSec = Math.round((performance.now() - started) / 1000);
  results.machine.loadAverageAtEnd = loadavg().map((l) => Math.round(l * 100) / 100);
  const file = join(here, 'results', 'latest.json');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);

  console.log(`\n==== Results (${quick ? 'quick' : 'full'} run, ${results.durationSec} s; ${results.machine.cpus} CPUs shared with the stack and clients processes; load ${(results.machine.loadAverageAtStart as number[])[0]} → ${(results.machine.loadAverageAtEnd as number[])[0]})`);
  printSection('Fan-out: one message to N WebSocket clients through the local management API (CPU = this process only)', results.fanout, fanoutColumns);
  printSection('Lookup: the recipients of one message to one device', results.lookup, lookupColumns);
  printSection('Cold start: median import of the built handler in a fresh process, layer included', results.coldStart, coldStartColumns);
  printSection('End to end: MQTT publish → WebSocket receipt through the local stack', results.endToEnd, endToEndColumns);
  printSection('End to end with history storage off (no history or rollup writes, no latest-reading write): the same run', results.endToEndNoHistory, endToEndColumns);
  printSection('History reads: one device, the read units of each read (dynalite reports DynamoDB’s 4 KB rule)', results.historyReads, historyReadColumns);
  printSection('History writes: the reading and its rollups through the history writer (dynalite reports DynamoDB’s 1 KB rule)', results.historyWrites, historyWriteColumns);
  printSection('History export (npm run export): CSV of one device into a counting sink', results.historyExports, historyExportColumns);
  printSection('History in Chromium (in-process stack)', results.historyBrowser, historyBrowserColumns);
  printSection('High-rate devices: every reading to every dashboard on *, direct vs coalesced (issue 15; direct at a lower rate)', results.highRate, highRateColumns);
  printSection('Latency under FAULTS=post:429:0.2,post:500:0.05: publish → receipt, by the local asynchronous concurrency (issue 24)', faultLatency, faultLatencyColumns);
  printSection('Presence: MQTT client gone → presence frame on a dashboard, through the local stack (issue 23)', results.presence, historyBrowserColumns);
  printSection('Fleet table in Chromium (issue 23)', results.fleetBrowser, historyBrowserColumns);
  printSection('Local capacity: 50 devices × 10 readings/s into one dashboard, npm run soak (issue 23)', results.capacity, historyBrowserColumns);
  printSection('Live charts in Chromium: 50 pinned devices at 10 readings/s from a scripted gateway (issue 23)', results.pinnedCharts, historyBrowserColumns);
  printAlarms(results.alarms);
  console.log('\nTargets (issues 6 and 11, and [15] issue 15):');
  for (const line of verdicts(results)) console.log(`  ${line}`);
  console.log(`\nwrote ${file}`);
  if (failed) process.exitCode = 1;
};

main().catch((error) => {
  console.error(`bench failed: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
