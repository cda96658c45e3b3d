/**
 * History (issue 11):
 *   reads     read units of the history route's reads against a plain Query of every item of the device,
 *             on a table in HistoryTable's own layout loaded with a day of 1 Hz readings in the rule's item shape
 *   browser   in Chromium through an in-process local stack: first paint of 3 devices' 5 backfilled minutes,
 *             and a gap-free reconnect (the gateway down for 30 s while a device publishes at 1 Hz)
 * The live path with history storage on and off is the end-to-end section run twice (bench/run.ts).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import mqtt from 'mqtt';
import { createHistoryStore, streamHistory } from '@serverless-iot-dashboard/shared';
import { startStack } from '../local/stack/stack.js';
import { type Template, readTemplate, tableDefinitions } from '../scripts/template.js';
import { batchPut, documentClient, dynamoClient, meter } from './dynamo.js';
import { round } from './stats.js';

export interface HistoryReadRow {
  read: string;
  /** Readings in the window asked for. */
  window: number;
  /** Points the reply carried. */
  points: number;
  downsampled: boolean;
  ddbRequests: number;
  readUnits: number;
  billedReadUnits: number;
  ms: number;
}

export interface HistoryReadPlan {
  /** Hours of 1 Hz readings loaded (24 in the full run). */
  hours: number;
}

const DEVICE = 'bench-history';

/** The HistoryRule's item for one simulated reading. */
const item = (ts: number, seq: number) => ({
  deviceId: DEVICE,
  ts,
  seq,
  temperature: round(21 + Math.sin(seq / 300) * 3, 2),
  humidity: round(45 + Math.cos(seq / 500) * 5, 1),
  battery: 87.5,
  rssi: -67,
  receivedAt: ts + 40,
  expiresAt: Math.floor(ts / 1000) + 7 * 86_400,
});

export const runHistoryReads = async ({ dynamodb, plan, progress }: { dynamodb: string; plan: HistoryReadPlan; progress: (line: string) => void }): Promise<HistoryReadRow[]> => {
  const client = dynamoClient(dynamodb);
  try {
    const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === 'HistoryTable')!;
    const tableName = `bench-history-${process.pid}`;
    await client.send(new CreateTableCommand({ ...(definition as object), TableName: tableName } as never));
    await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.5 } as never, { TableName: tableName });
    const end = Date.now();
    const count = plan.hours * 3600;
    const start = end - count * 1000;
    const loaded = performance.now();
    await batchPut(documentClient(client), tableName, Array.from({ length: count }, (_, i) => item(start + i * 1000, i)), 8);
    progress(`[history] ${count.toLocaleString('en-US')} readings (${plan.hours} h at 1 Hz) loaded in ${((performance.now() - loaded) / 1000).toFixed(1)} s`);

    const rows: HistoryReadRow[] = [];
    const measure = async (read: string, since: number, until: number, maxPoints: number) => {
      const { doc, usage } = meter(documentClient(client));
      const history = createHistoryStore({ doc, tableName, now: () => end });
      let points = 0;
      const t = performance.now();
      const stats = await streamHistory(history, { deviceId: DEVICE, since, until, maxPoints }, async (frame) => {
        points += (JSON.parse(frame) as { points: unknown[] }).points.length;
      });
      rows.push({ read, window: stats.read, points, downsampled: stats.downsampled, ddbRequests: usage.requests, readUnits: round(usage.readUnits), billedReadUnits: round(usage.billedReadUnits), ms: round(performance.now() - t) });
    };
    const plainQuery = async (read: string) => {
      // What a reader without the ts sort key range does: every item of the device, then filter in memory.
      const { doc, usage } = meter(documentClient(client));
      const t = performance.now();
      let items = 0;
      let startKey: Record<string, unknown> | undefined;
      do {
        const out = await doc.send(
          new QueryCommand({ TableName: tableName, KeyConditionExpression: 'deviceId = :d', ExpressionAttributeValues: { ':d': DEVICE }, ExclusiveStartKey: startKey, ReturnConsumedCapacity: 'TOTAL' }),
        );
        items += out.Items?.length ?? 0;
        startKey = out.LastEvaluatedKey;
      } while (startKey);
      rows.push({ read, window: items, points: items, downsampled: false, ddbRequests: usage.requests, readUnits: round(usage.readUnits), billedReadUnits: round(usage.billedReadUnits), ms: round(performance.now() - t) });
    };
    await measure('history: 5 min at 1 Hz', end - 5 * 60_000 + 1, end, 600);
    await measure(`history: ${plan.hours} h downsampled to 600`, start, end, 600);
    await plainQuery(`plain Query of every item (${plan.hours} h)`);
    for (const row of rows) progress(`[history] ${row.read}: ${row.window} readings read, ${row.points} points, ${row.ddbRequests} requests, ${row.readUnits} RCU`);
    return rows;
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
    const points = (id: string) =>
      page.evaluate((deviceId) => Number(document.querySelector(`[data-device-id="${deviceId}"] [data-testid="device-chart"]`)?.getAttribute('data-points') ?? 0), id);
    const until = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (!(await check())) {
        if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    // First paint: navigation start → every device's chart holding its backfilled minutes.
    const ids = Array.from({ length: plan.devices }, (_, i) => `sim-${i + 1}`);
    const expected = plan.backfillMinutes * 60 - 5;
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
    return rows;
  } finally {
    if (publisher) clearInterval(publisher);
    await device.endAsync(true).catch(() => undefined);
    await browser.close().catch(() => undefined);
    await stack.stop();
    await rm(dist, { recursive: true, force: true });
  }
};

/** The template with history storage off: no HistoryRule, no latest-reading write (for the live-path comparison). */
export const templateWithoutHistory = (template: Template = readTemplate()): Template => {
  const copy = structuredClone(template);
  delete copy.Resources.HistoryRule;
  const telemetry = copy.Resources.TelemetryFunction!.Properties!.Environment.Variables as Record<string, unknown>;
  telemetry.DEVICES_TABLE_NAME = '';
  return copy;
};
