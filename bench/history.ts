/**
 * History (issues 11 and 21):
 *   reads     read units and time to done of 1 h, 24 h, 7 d and 30 d windows at maxPoints 600, on a table in
 *             HistoryTable's layout with 30 days of 1 Hz rollups and the last day raw, beside the full read of
 *             every reading (measured where the raw readings are loaded, scaled beyond); and the write cost of
 *             the rollups per reading, direct and coalesced; and npm run export over that table and over a
 *             table of 10 Hz data (a month of rollups, the last 99,600 readings raw): speed and peak RSS
 *   browser   in Chromium through an in-process local stack: first paint of 3 devices' 5 backfilled minutes,
 *             and a gap-free reconnect (the gateway down for 30 s while a device publishes at 1 Hz)
 * The live path with history storage on and off is the end-to-end section run twice (bench/run.ts).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import mqtt from 'mqtt';
import {
  ROLLUP_LEVELS,
  type RollupBucket,
  type RollupLevel,
  type TelemetryFrame,
  createHistoryStore,
  createHistoryWriter,
  encodeFields,
  foldReadings,
  mergeBuckets,
  rawHistoryItem,
  rawSortKey,
  rollupPartition,
  streamHistory,
  timeKey,
} from '@serverless-iot-dashboard/shared';
import { startStack } from '../local/stack/stack.js';
import { exportHistory } from '../scripts/historyExport.js';
import { type Template, readTemplate, tableDefinitions } from '../scripts/template.js';
import { batchPut, documentClient, dynamoClient, meter } from './dynamo.js';
import { round } from './stats.js';

export interface HistoryReadRow {
  read: string;
  /** Readings in the window. */
  window: number;
  /** Items the reply read (readings or buckets). */
  itemsRead: number;
  /** Points the reply carried. */
  points: number;
  resolution: string;
  ddbRequests: number;
  readUnits: number;
  billedReadUnits: number;
  /** Time to the frame with done: true. */
  ms: number;
  /** Figures scaled from a measured window (the full read of a window whose readings were not all loaded). */
  extrapolated?: boolean;
}

export interface HistoryReadPlan {
  /** Days of 1 Hz history whose rollups are loaded (30 in the full run). */
  days: number;
  /** Hours of raw 1 Hz readings loaded, the most recent (24 in the full run). */
  rawHours: number;
  /** Readings written through the history writer, for the write cost. */
  writeReadings: number;
  /** The export's own table: days of 10 Hz rollups (30 in the full run) and the last raw readings at 10 Hz (99,600: under the export's 100,000). */
  exportDays: number;
  exportRawReadings: number;
}

const DEVICE = 'bench-history';
const RETENTION_DAYS = 30;

const reading = (ts: number, seq: number): TelemetryFrame => ({
  type: 'telemetry',
  id: `${DEVICE}/${seq}`,
  deviceId: DEVICE,
  ts,
  receivedAt: ts + 40,
  data: { seq, temperature: round(21 + Math.sin(seq / 300) * 3, 2), humidity: round(45 + Math.cos(seq / 500) * 5, 1), battery: 87.5, rssi: -67 },
});

/**
 * Rollup items of `days` of readings every `stepMs` ending at `end`, folded in memory by the writer's own functions.
 * `repeat` > 1 stands for a faster device without folding every reading: each minute is folded from its `stepMs`
 * readings, then its counts and sums are multiplied (a 10 Hz minute is 600 readings; folding 26 million readings
 * for 30 days would take minutes). The buckets have the same items, fields and sizes as folded ones, which is what
 * a read or an export of them costs.
 */
const rollupItems = (end: number, days: number, deviceId = DEVICE, make: (ts: number, seq: number) => TelemetryFrame = reading, stepMs = 1000, repeat = 1): Record<string, unknown>[] => {
  const [minute, tenMinutes, hour] = ROLLUP_LEVELS as [RollupLevel, RollupLevel, RollupLevel];
  const start = end - days * 86_400_000;
  const items: Record<string, unknown>[] = [];
  const item = (level: RollupLevel, bucket: RollupBucket) => ({
    pk: rollupPartition(deviceId, level),
    sk: timeKey(bucket.start),
    start: bucket.start,
    n: bucket.count,
    f: encodeFields(bucket.fields),
    expiresAt: Math.floor((bucket.start + level.ms) / 1000) + RETENTION_DAYS * 86_400,
  });
  let tens: RollupBucket[] = [];
  let minutes: RollupBucket[] = [];
  for (let m = start; m < end; m += minute.ms) {
    const sources = Array.from({ length: Math.max(1, 60_000 / stepMs) }, (_, s) => {
      const r = make(m + s * stepMs, (m - start) / stepMs + s);
      return { key: rawSortKey(r.ts, r.id), data: r.data };
    });
    const bucket = scaleBucket(foldReadings(m, minute.ms, sources), repeat);
    items.push(item(minute, bucket));
    minutes.push(bucket);
    if ((m + minute.ms) % tenMinutes.ms === 0) {
      const ten = mergeBuckets(m + minute.ms - tenMinutes.ms, tenMinutes.ms, minutes);
      items.push(item(tenMinutes, ten));
      tens.push(ten);
      minutes = [];
    }
    if ((m + minute.ms) % hour.ms === 0) {
      items.push(item(hour, mergeBuckets(m + minute.ms - hour.ms, hour.ms, tens)));
      tens = [];
    }
  }
  return items;
};

const scaleBucket = (bucket: RollupBucket, repeat: number): RollupBucket => {
  if (repeat === 1) return bucket;
  const fields = new Map([...bucket.fields].map(([name, f]) => [name, { ...f, sum: f.sum * repeat, count: f.count * repeat }]));
  return { ...bucket, count: bucket.count * repeat, fields };
};

export interface HistoryExportRow {
  what: string;
  resolution: string;
  rows: number;
  /** Readings in the window (the rows are buckets past 100,000). */
  readings: number;
  seconds: number;
  rowsPerSec: number;
  readingsPerSec: number;
  csvMiB: number;
  /** This process's RSS (the bench's own state included); the growth is what the export added. */
  peakRssMiB: number;
  rssGrowthMiB: number;
}

export interface HistoryWriteRow {
  mode: string;
  readings: number;
  writeUnitsPerReading: number;
  rollupWriteUnitsPerReading: number;
  readUnitsPerReading: number;
  requestsPerReading: number;
  /** On-demand us-east-1: $0.625 per million write units, $0.125 per million read units. */
  dollarsPerMillionReadings: number;
}

/** npm run export's core over one device's window into a sink that only counts bytes: its speed and this process's peak RSS. */
const measureExport = async (what: string, history: ReturnType<typeof createHistoryStore>, since: number, until: number): Promise<HistoryExportRow> => {
  let bytes = 0;
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t = performance.now();
  try {
    const outcome = await exportHistory({ history, deviceId: DEVICE, since, until, write: async (chunk) => void (bytes += chunk.length) });
    const seconds = (performance.now() - t) / 1000;
    peak = Math.max(peak, process.memoryUsage().rss);
    return {
      what,
      resolution: outcome.resolution,
      rows: outcome.rows,
      readings: outcome.readings,
      seconds: round(seconds, 2),
      rowsPerSec: Math.round(outcome.rows / seconds),
      readingsPerSec: Math.round(outcome.readings / seconds),
      csvMiB: round(bytes / 2 ** 20, 1),
      peakRssMiB: round(peak / 2 ** 20),
      rssGrowthMiB: round((peak - rssBefore) / 2 ** 20),
    };
  } finally {
    clearInterval(sampler);
  }
};

export const runHistoryReads = async ({ dynamodb, plan, progress }: { dynamodb: string; plan: HistoryReadPlan; progress: (line: string) => void }): Promise<{ reads: HistoryReadRow[]; writes: HistoryWriteRow[]; exports: HistoryExportRow[] }> => {
  const client = dynamoClient(dynamodb);
  try {
    const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === 'HistoryTable')!;
    const newTable = async (suffix: string) => {
      const tableName = `bench-history-${process.pid}-${suffix}`;
      await client.send(new CreateTableCommand({ ...(definition as object), TableName: tableName } as never));
      await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.5 } as never, { TableName: tableName });
      return tableName;
    };
    const tableName = await newTable('reads');
    const end = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const loaded = performance.now();
    const buckets = rollupItems(end, plan.days);
    await batchPut(documentClient(client), tableName, buckets, 8);
    const rawCount = plan.rawHours * 3600;
    const rawStart = end - rawCount * 1000;
    const firstSeq = (rawStart - (end - plan.days * 86_400_000)) / 1000;
    await batchPut(documentClient(client), tableName, Array.from({ length: rawCount }, (_, i) => rawHistoryItem(reading(rawStart + i * 1000, firstSeq + i), RETENTION_DAYS)), 8);
    progress(`[history] ${plan.days} days of 1 Hz rollups (${buckets.length.toLocaleString('en-US')} buckets) and the last ${plan.rawHours} h raw (${rawCount.toLocaleString('en-US')} readings) loaded in ${((performance.now() - loaded) / 1000).toFixed(1)} s`);

    const rows: HistoryReadRow[] = [];
    const measure = async (read: string, since: number, until: number, maxPoints: number) => {
      const { doc, usage } = meter(documentClient(client));
      const history = createHistoryStore({ doc, tableName, now: () => end });
      let points = 0;
      const t = performance.now();
      const stats = await streamHistory(history, { deviceId: DEVICE, since, until, maxPoints }, async (frame) => {
        points += (JSON.parse(frame) as { points: unknown[] }).points.length;
      }, { readBudget: Number.POSITIVE_INFINITY });
      const window = Math.round((until - since + 1) / 1000);
      rows.push({ read, window, itemsRead: stats.read, points, resolution: stats.resolution, ddbRequests: usage.requests, readUnits: round(usage.readUnits), billedReadUnits: round(usage.billedReadUnits), ms: round(performance.now() - t) });
    };
    /** Today's read before rollups: every reading of the window (what the route did before issue 21). */
    const fullRead = async (read: string, since: number, until: number) => {
      const { doc, usage } = meter(documentClient(client));
      const history = createHistoryStore({ doc, tableName, now: () => end });
      const t = performance.now();
      let items = 0;
      for await (const page of history.raw(DEVICE, since, until)) items += page.length;
      const row: HistoryReadRow = { read, window: items, itemsRead: items, points: items, resolution: 'raw (all)', ddbRequests: usage.requests, readUnits: round(usage.readUnits), billedReadUnits: round(usage.billedReadUnits), ms: round(performance.now() - t) };
      rows.push(row);
      return row;
    };
    const windows = [
      ['1 h', 3_600_000],
      ['24 h', 86_400_000],
      ['7 d', 7 * 86_400_000],
      ['30 d', 30 * 86_400_000],
    ] as const;
    let measured: HistoryReadRow | undefined;
    for (const [name, ms] of windows) {
      if (ms > plan.days * 86_400_000) continue;
      await measure(`${name} at maxPoints 600`, end - ms, end - 1, 600);
      if (ms <= plan.rawHours * 3_600_000) {
        measured = await fullRead(`${name}: every reading (before rollups)`, end - ms, end - 1);
      } else if (measured) {
        const scale = ms / 1000 / measured.window;
        rows.push({
          ...measured,
          read: `${name}: every reading (before rollups)`,
          window: ms / 1000,
          itemsRead: ms / 1000,
          points: ms / 1000,
          ddbRequests: Math.round(measured.ddbRequests * scale),
          readUnits: round(measured.readUnits * scale),
          billedReadUnits: round(measured.billedReadUnits * scale),
          ms: round(measured.ms * scale),
          extrapolated: true,
        });
      }
    }
    await measure('10 min zoom (raw)', end - 600_000, end - 1, 600);
    for (const row of rows) progress(`[history] ${row.read}: ${row.itemsRead} items read, ${row.points} points (${row.resolution}), ${row.ddbRequests} requests, ${row.billedReadUnits} RCU billed, ${row.ms} ms${row.extrapolated ? ' (extrapolated)' : ''}`);

    // Write cost: readings through the writer, one per call (direct mode) and ten per call (a coalesced batch).
    const writes: HistoryWriteRow[] = [];
    for (const [mode, perCall] of [
      ['direct (1 reading per invocation)', 1],
      ['coalesced (10 readings per batch)', 10],
    ] as const) {
      const writer = createHistoryWriter({ doc: documentClient(client), tableName: await newTable(`writes-${perCall}`), retentionDays: RETENTION_DAYS });
      const t0 = end - plan.writeReadings * 1000;
      const list = Array.from({ length: plan.writeReadings }, (_, i) => reading(t0 + i * 1000, i));
      for (let i = 0; i < list.length; i += perCall) await writer.record(list.slice(i, i + perCall));
      const n = list.length;
      // A raw reading under 1 KB is 1 write unit: the rest is the rollups.
      const rawUnits = n;
      const { writeUnits, readUnits, requests } = writer.usage;
      writes.push({
        mode,
        readings: n,
        writeUnitsPerReading: round(writeUnits / n, 2),
        rollupWriteUnitsPerReading: round((writeUnits - rawUnits) / n, 2),
        readUnitsPerReading: round(readUnits / n, 2),
        requestsPerReading: round(requests / n, 2),
        dollarsPerMillionReadings: round((writeUnits / n) * 0.625 + (readUnits / n) * 0.125, 2),
      });
    }
    // Export: the raw day (or hour) and the whole range as rollup rows, into a sink that only counts bytes.
    const exports: HistoryExportRow[] = [];
    for (const [what, since] of [
      [`export ${plan.rawHours} h raw`, end - plan.rawHours * 3_600_000],
      [`export ${plan.days} d`, end - plan.days * 86_400_000],
    ] as const) {
      exports.push(await measureExport(what, createHistoryStore({ doc: documentClient(client), tableName, now: () => end }), since, end - 1));
    }
    // npm run export over 10 Hz data: a month of it is past 100,000 readings (minute rows); its last 2 h 46 min are raw.
    const tenHz = await newTable('export-10hz');
    const loadedTenHz = performance.now();
    await batchPut(documentClient(client), tenHz, rollupItems(end, plan.exportDays, DEVICE, reading, 1000, 10), 8);
    const rawTenHzStart = end - plan.exportRawReadings * 100;
    await batchPut(documentClient(client), tenHz, Array.from({ length: plan.exportRawReadings }, (_, i) => rawHistoryItem(reading(rawTenHzStart + i * 100, i), RETENTION_DAYS)), 8);
    progress(`[history] export table: ${plan.exportDays} days of 10 Hz rollups and the last ${plan.exportRawReadings.toLocaleString('en-US')} readings raw, loaded in ${((performance.now() - loadedTenHz) / 1000).toFixed(1)} s`);
    for (const [what, since] of [
      [`export 10 Hz, ${round((plan.exportRawReadings * 100) / 3_600_000, 2)} h raw`, rawTenHzStart],
      [`export 10 Hz, ${plan.exportDays} d`, end - plan.exportDays * 86_400_000],
    ] as const) {
      exports.push(await measureExport(what, createHistoryStore({ doc: documentClient(client), tableName: tenHz, now: () => end }), since, end - 1));
    }
    for (const e of exports) progress(`[history] ${e.what}: ${e.rows} ${e.resolution} rows (${e.readings} readings) in ${e.seconds} s, ${e.rowsPerSec} rows/s (${e.readingsPerSec} readings/s), peak RSS ${e.peakRssMiB} MiB (+${e.rssGrowthMiB})`);
    for (const w of writes) progress(`[history] writes, ${w.mode}: ${w.writeUnitsPerReading} WCU/reading (${w.rollupWriteUnitsPerReading} for rollups), ${w.readUnitsPerReading} RCU/reading, $${w.dollarsPerMillionReadings} per million readings`);
    return { reads: rows, writes, exports };
  } finally {
    client.destroy();
  }
};

export interface HistoryBrowserRow {
  figure: string;
  value: number;
  unit: string;
  detail: string;
}

export interface HistoryBrowserPlan {
  devices: number;
  backfillMinutes: number;
  dropSeconds: number;
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Chromium figures; `undefined` when there is no Chromium (the caller records the section as skipped). */
export const runHistoryBrowser = async ({ plan, progress }: { plan: HistoryBrowserPlan; progress: (line: string) => void }): Promise<HistoryBrowserRow[] | undefined> => {
  if (!existsSync(CHROMIUM)) return undefined;
  const { chromium } = await import('playwright-core');
  const { buildDashboard } = await import('../dashboard/build.js');
  const dist = await mkdtemp(join(tmpdir(), 'bench-history-'));
  await buildDashboard({ outDir: dist });
  const stack = await startStack({ port: 0, wsPort: 0, mqttPort: 0, simulatedDevices: plan.devices, simulatorBackfillMinutes: plan.backfillMinutes, dashboardRoot: dist, logLevel: 'error' });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 30_000 });
  const device = await mqtt.connectAsync(stack.endpoints.mqtt, { clientId: 'bench-history-device', connectTimeout: 10_000 });
  const rows: HistoryBrowserRow[] = [];
  let publisher: NodeJS.Timeout | undefined;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    // The readings a device's range charts hold (dashboard/src/charts/fieldCharts.ts: kept up to date on screen or not).
    const points = (id: string) =>
      page.evaluate((deviceId) => Number(document.querySelector(`[data-testid="range-charts"][data-device-id="${deviceId}"]`)?.getAttribute('data-points') ?? 0), id);
    const until = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (!(await check())) {
        if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    // First paint: navigation start → every device's chart holding its backfilled minutes.
    const ids = Array.from({ length: plan.devices }, (_, i) => `sim-${i + 1}`);
    // The window scrolls: the stack's start (seconds under load) sits between the backfill's end and the
    // simulator's first live reading, and that hole stays in the window. Nine tenths of the backfilled
    // minutes can only have come from history (live readings alone would take 4.5 minutes to get there).
    const expected = Math.floor(plan.backfillMinutes * 60 * 0.9);
    const t0 = performance.now();
    // ?devices=*: every device's chart (the page opens on the fleet table otherwise).
    await page.goto(`${stack.urls.dashboard.replace('localhost', '127.0.0.1')}?devices=*`);
    await until('first paint', async () => (await Promise.all(ids.map(points))).every((n) => n >= expected), 30_000);
    const firstPaint = round(performance.now() - t0);
    rows.push({ figure: 'first paint', value: firstPaint, unit: 'ms', detail: `${plan.devices} devices × ${plan.backfillMinutes} min of history charted, from page load (target ≤ 1,000 ms)` });
    progress(`[history] first paint of ${plan.devices} devices × ${plan.backfillMinutes} min: ${firstPaint} ms`);

    // Gap-free reconnect: the gateway down for dropSeconds while a device publishes at 1 Hz.
    let seq = 0;
    const publish = () => void device.publish('devices/bench-gap/telemetry', JSON.stringify({ ts: Date.now(), seq: ++seq, temperature: 20 + Math.sin(seq / 7) }), { qos: 1 });
    publisher = setInterval(publish, 1000);
    await until('the device to appear', async () => (await points('bench-gap')) >= 3, 20_000);
    const duplicatesBefore = await page.evaluate(() => document.querySelector('[data-testid="duplicates"]')?.textContent ?? '');
    await stack.stopGateway();
    const downAt = seq;
    await new Promise((resolve) => setTimeout(resolve, plan.dropSeconds * 1000));
    const missed = seq - downAt;
    await stack.startGateway();
    const t1 = performance.now();
    await until('the reconnect to fill the gap', async () => (await points('bench-gap')) >= seq - 1, 60_000);
    const refill = round(performance.now() - t1);
    clearInterval(publisher);
    publisher = undefined;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const onChart = await points('bench-gap');
    const gapsShown = await page.evaluate(() => !(document.querySelector('[data-device-id="bench-gap"] [data-testid="device-gaps"]') as HTMLElement | null)?.hidden);
    const duplicatesAfter = await page.evaluate(() => document.querySelector('[data-testid="duplicates"]')?.textContent ?? '');
    rows.push({
      figure: 'gap-free reconnect',
      value: onChart - seq,
      unit: 'readings lost',
      detail: `gateway down ${plan.dropSeconds} s (${missed} readings published meanwhile); chart ${onChart}/${seq} readings; seq gaps shown: ${gapsShown}; duplicates ${duplicatesBefore} → ${duplicatesAfter}; refilled ${refill} ms after the gateway came back`,
    });
    progress(`[history] reconnect after ${plan.dropSeconds} s down: ${onChart}/${seq} readings on the chart, gaps shown ${gapsShown}, duplicates ${duplicatesBefore} → ${duplicatesAfter}`);

    // Zoom: a 7-day view of a device with fields x, y, z (one reading a minute), then a drag across a sliver of
    // one chart: mouse up until every chart holds raw readings of the new window.
    const ZOOM = 'bench-zoom';
    const zoomEnd = Math.floor(Date.now() / 60_000) * 60_000;
    const accel = (ts: number, i: number): TelemetryFrame => ({ type: 'telemetry', id: `${ZOOM}/${i}`, deviceId: ZOOM, ts, receivedAt: ts, data: { x: Math.sin(i / 9), y: Math.cos(i / 7), z: 9.8 + Math.sin(i / 3) / 10 } });
    const seedDoc = documentClient(dynamoClient(stack.endpoints.dynamodb));
    const weekStart = zoomEnd - 7 * 86_400_000;
    await batchPut(seedDoc, stack.tables.HistoryTable!, rollupItems(zoomEnd, 7, ZOOM, accel, 60_000), 8);
    await batchPut(seedDoc, stack.tables.HistoryTable!, Array.from({ length: 7 * 1440 }, (_, i) => rawHistoryItem(accel(weekStart + i * 60_000, i), 30)), 8);
    const zoomPage = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const states = () =>
      zoomPage.evaluate(
        (id) => Array.from(document.querySelectorAll(`[data-testid="range-charts"][data-device-id="${id}"] [data-testid="range-chart"]`)).map((n) => ({ resolution: (n as HTMLElement).dataset.resolution, points: Number((n as HTMLElement).dataset.points) })),
        ZOOM,
      );
    await zoomPage.goto(`${stack.urls.dashboard.replace('localhost', '127.0.0.1')}?devices=${ZOOM}&range=7d`);
    await until('the 7-day view', async () => {
      const s = await states();
      return s.length === 3 && s.every((c) => c.points > 100 && c.resolution !== 'raw');
    }, 30_000);
    const over = (await zoomPage.$$(`[data-testid="range-charts"][data-device-id="${ZOOM}"] .u-over`))[0]!;
    const box = (await over.boundingBox())!;
    const y = box.y + box.height / 2;
    await zoomPage.mouse.move(box.x + box.width * 0.9, y);
    await zoomPage.mouse.down();
    await zoomPage.mouse.move(box.x + box.width * 0.905, y, { steps: 3 });
    await zoomPage.mouse.move(box.x + box.width * 0.91, y, { steps: 3 });
    const t2 = performance.now();
    await zoomPage.mouse.up();
    await until('raw readings on every chart', async () => (await states()).every((c) => c.resolution === 'raw' && c.points > 0), 30_000);
    const zoomMs = round(performance.now() - t2);
    const windowMinutes = await zoomPage.evaluate(() => {
      const p = new URLSearchParams(location.search);
      return Math.round((Date.parse(p.get('to') ?? '') - Date.parse(p.get('from') ?? '')) / 60_000);
    });
    const pointsAfter = (await states()).map((c) => c.points).join('/');
    rows.push({ figure: 'zoom to raw', value: zoomMs, unit: 'ms', detail: `7-day view of x, y, z (1 reading/min) → drag to a ${windowMinutes}-minute window: raw points (${pointsAfter}) on every chart, from mouse up (target ≤ 500 ms)` });
    progress(`[history] zoom from 7 d to ${windowMinutes} min: raw on every chart in ${zoomMs} ms`);
    seedDoc.destroy();
    return rows;
  } finally {
    if (publisher) clearInterval(publisher);
    await device.endAsync(true).catch(() => undefined);
    await browser.close().catch(() => undefined);
    await stack.stop();
    await rm(dist, { recursive: true, force: true });
  }
};

/** The template with history storage off: no history or rollup writes, no latest-reading write (for the live-path comparison). */
export const templateWithoutHistory = (template: Template = readTemplate()): Template => {
  const copy = structuredClone(template);
  for (const id of ['TelemetryFunction', 'TelemetryBatchFunction']) {
    const variables = copy.Resources[id]?.Properties?.Environment?.Variables as Record<string, unknown> | undefined;
    if (!variables) continue;
    variables.DEVICES_TABLE_NAME = '';
    variables.HISTORY_TABLE_NAME = '';
  }
  return copy;
};
