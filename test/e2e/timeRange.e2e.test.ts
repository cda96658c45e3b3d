/**
 * The page's time range in real Chromium through the local stack: a device with fields x, y, z and a
 * day of stored readings (with their rollups), opened at ?range=24h: one chart per field, each drawn
 * from minute buckets; a drag across one chart zooms every chart to that window, which each fetches
 * at raw resolution, and the address says so; Download CSV saves that window's raw readings; a double-click
 * returns to live.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import type { Browser, Locator, Page } from 'playwright-core';
import { createDevicesStore, createHistoryWriter } from '@serverless-iot-dashboard/shared';
import { buildDashboard } from '../../dashboard/build.js';
import { type RunningStack, startStack } from '../../local/stack/stack.js';
import { eventually, launchChromium, skipWithoutChromium, watchPageErrors } from './browser.js';

const DEVICE = 'acc-1';
const STEP = 120_000;

describe('dashboard in Chromium: the time range, drag-to-zoom, a device with fields x, y, z', function () {
  this.timeout(120_000);
  let browser: Browser;
  let stack: RunningStack | undefined;
  let dist: string;
  let page: Page;
  let pageErrors: string[];
  const stackLog: string[] = [];

  const charts = (): Locator => page.locator(`[data-testid="range-charts"][data-device-id="${DEVICE}"] [data-testid="range-chart"]`);
  const chartStates = () =>
    charts().evaluateAll((nodes) => nodes.map((n) => ({ field: (n as HTMLElement).dataset.field, points: Number((n as HTMLElement).dataset.points), resolution: (n as HTMLElement).dataset.resolution })));

  before(async function () {
    skipWithoutChromium(this);
    this.timeout(180_000);
    browser = await launchChromium();
    dist = await mkdtemp(join(tmpdir(), 'dashboard-range-e2e-'));
    await buildDashboard({ outDir: dist });
    stack = await startStack({ port: 0, wsPort: 0, mqttPort: 0, simulatedDevices: 0, dashboardRoot: dist, log: (line) => stackLog.push(line) });
    // A day of an accelerometer, one reading every 2 minutes, through the telemetry function's own writers.
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
    const writer = createHistoryWriter({ doc, tableName: stack.tables.HistoryTable!, retentionDays: 7 });
    const now = Date.now();
    const readings = Array.from({ length: 24 * 30 }, (_, i) => {
      const ts = now - 86_400_000 + (i + 1) * STEP - 1000;
      return { type: 'telemetry' as const, id: `acc-${i}`, deviceId: DEVICE, ts, receivedAt: ts, data: { x: Math.sin(i / 9), y: Math.cos(i / 7) * 2, z: 9.81 + Math.sin(i / 3) / 10 } };
    });
    for (let i = 0; i < readings.length; i += 60) await writer.record(readings.slice(i, i + 60));
    await createDevicesStore({ doc, tableName: stack.tables.DevicesTable!, retentionDays: 7 }).recordLatest(readings.at(-1)!);
    doc.destroy();
    page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    pageErrors = watchPageErrors(page);
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    if (dist) await rm(dist, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`local stack log (last 40 lines):\n${stackLog.slice(-40).join('\n')}`);
  });

  it('opens ?range=24h with one chart per field (x, y, z), each from minute buckets, x on a time axis', async () => {
    await page.goto(`${stack!.urls.dashboard}?devices=${DEVICE}&range=24h`, { timeout: 15_000 });
    await eventually('three charts with the day in them', async () => {
      const states = await chartStates();
      return states.length === 3 && states.every((s) => s.points > 100 && s.resolution === '1m');
    }, 20_000);
    expect((await chartStates()).map((s) => s.field)).to.deep.equal(['x', 'y', 'z']);
    expect(new URL(page.url()).searchParams.get('range')).to.equal('24h');
    expect(await page.getByTestId('range-24h').getAttribute('aria-pressed')).to.equal('true');
    // The time axis spans the day: the field x did not take it over.
    const root = page.locator(`[data-testid="range-charts"][data-device-id="${DEVICE}"]`);
    const span = Number(await root.getAttribute('data-to')) - Number(await root.getAttribute('data-from'));
    expect(span).to.be.closeTo(86_400_000, 60_000);
  });

  it('zooms every chart when one is dragged across, each refetching at raw resolution, the address keeping the window', async () => {
    const over = charts().nth(1).locator('.u-over');
    const box = (await over.boundingBox())!;
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.8, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.88, y, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.95, y, { steps: 5 });
    await page.mouse.up();
    await eventually('every chart at raw resolution', async () => {
      const states = await chartStates();
      return states.length === 3 && states.every((s) => s.resolution === 'raw' && s.points > 10);
    }, 15_000);
    const params = new URL(page.url()).searchParams;
    expect(params.get('range')).to.equal(null);
    const from = Date.parse(params.get('from')!);
    const to = Date.parse(params.get('to')!);
    expect(to - from).to.be.within(2 * 3_600_000, 5 * 3_600_000);
    const points = (await chartStates()).map((s) => s.points);
    // Every reading of the window, one every 2 minutes.
    for (const n of points) expect(n).to.be.closeTo((to - from) / STEP, 3);
  });

  it('downloads the window on screen as raw readings (it holds at most 100,000), the file saying so in its first column', async () => {
    const params = new URL(page.url()).searchParams;
    const from = Date.parse(params.get('from')!);
    const to = Date.parse(params.get('to')!);
    const onScreen = (await chartStates())[0]!.points;
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), page.getByTestId('download-csv').click()]);
    const path = await download.path();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\r\n');
    expect(download.suggestedFilename()).to.match(new RegExp(`^${DEVICE}-.*-raw\\.csv$`));
    expect(lines[0]).to.equal('resolution,time,ts,id,x,y,z,other');
    const rows = lines.slice(1).map((line) => line.split(','));
    expect(rows).to.have.length(onScreen);
    for (const row of rows) {
      expect(row[0]).to.equal('raw');
      expect(Number(row[2])).to.be.within(from, to);
      expect(row[3]).to.match(/^acc-\d+$/);
    }
    await eventually('the button back, the status naming the rows', async () => (await page.getByTestId('download-csv').getAttribute('data-state')) === 'done', 5_000);
    expect(await page.getByTestId('range-status').textContent()).to.equal(`CSV: ${onScreen} readings`);
  });

  it('returns to live on a double-click', async () => {
    await charts().first().locator('.u-over').dblclick();
    await eventually('the address back to live', () => !new URL(page.url()).searchParams.has('from'), 10_000);
    expect(await page.getByTestId('range-live').getAttribute('aria-pressed')).to.equal('true');
    expect(pageErrors, 'errors in the page console').to.deep.equal([]);
  });
});
