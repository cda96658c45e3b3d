/**
 * The fleet view in Chromium against a scripted gateway (test/e2e/browser.ts): presence frames turn rows
 * online and offline (with IoT Core's reason), the table searches by id and sorts by any column, 10,000
 * devices stay 10,000 array entries (a few dozen DOM rows), and a row opens the device page.
 * Then the same through the local stack: an MQTT client connects (lifecycle event -> presence rule ->
 * presence function -> presence frame) and its row turns online; its socket is destroyed and the row turns
 * offline with IoT Core's reason; the table searches and sorts the real devices.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Locator, Page } from 'playwright-core';
import { buildDashboard } from '../../dashboard/build.js';
import { type RunningStack, startStack } from '../../local/stack/stack.js';
import { ScriptedGateway, type StaticSite, eventually, launchChromium, serveDashboard, skipWithoutChromium, watchPageErrors } from './browser.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

const row = (page: Page, deviceId: string): Locator => page.locator(`[data-testid="fleet-row"][data-device-id="${deviceId}"]:not([hidden])`);
const shownIds = (page: Page): Promise<string[]> =>
  page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLElement>('[data-testid="fleet-row"]:not([hidden])'))
      .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
      .map((el) => el.dataset.deviceId ?? ''),
  );

describe('fleet view in Chromium against a scripted gateway', function () {
  this.timeout(60_000);
  let browser: Browser;
  let gateway: ScriptedGateway;
  let site: StaticSite;
  let page: Page;
  let pageErrors: string[];
  let n = 0;

  const telemetry = (deviceId: string, data: Record<string, unknown>) => ({ type: 'telemetry', id: `f${n++}`, deviceId, ts: Date.now() - 30, receivedAt: Date.now() - 20, data });

  before(async function () {
    skipWithoutChromium(this);
    browser = await launchChromium();
    const outDir = await mkdtemp(join(tmpdir(), 'fleet-e2e-'));
    await buildDashboard({ outDir });
    gateway = await ScriptedGateway.start();
    site = await serveDashboard(outDir, () => ({ url: gateway.url }));
  });

  beforeEach(async () => {
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    pageErrors = watchPageErrors(page);
    gateway.received.length = 0;
    await page.goto(site.url, { timeout: 15_000 });
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 10_000 });
    await eventually('the page to ask for the devices', () => gateway.received.some((f) => f.action === 'devices'));
  });

  afterEach(async () => {
    await page?.close();
  });

  after(async () => {
    await browser?.close();
    await gateway?.close();
    await site?.close();
  });

  it('opens on the fleet; a connected device appears online, and turns offline with the reason', async () => {
    expect(await page.getByTestId('fleet-view').isVisible()).to.equal(true);
    expect(await page.getByTestId('device-view').isVisible()).to.equal(false);

    gateway.send({ type: 'presence', deviceId: 'pump-7', state: 'online', since: Date.now() - 50 });
    await row(page, 'pump-7').locator('[data-testid="fleet-state"]', { hasText: 'online' }).waitFor({ timeout: 5_000 });
    expect(await row(page, 'pump-7').getAttribute('data-state')).to.equal('online');
    await page.getByTestId('fleet-counts').filter({ hasText: '1 online · 0 offline · 0 silent' }).waitFor({ timeout: 5_000 });

    gateway.send({ type: 'presence', deviceId: 'pump-7', state: 'offline', since: Date.now(), reason: 'MQTT_KEEP_ALIVE_TIMEOUT' });
    await row(page, 'pump-7').locator('[data-testid="fleet-state"]', { hasText: 'offline · MQTT_KEEP_ALIVE_TIMEOUT' }).waitFor({ timeout: 5_000 });
    expect(await row(page, 'pump-7').getAttribute('data-state')).to.equal('offline');
    await page.getByTestId('fleet-counts').filter({ hasText: '0 online · 1 offline · 0 silent' }).waitFor({ timeout: 5_000 });
    expect(pageErrors).to.deep.equal([]);
  });

  it('keeps the newer presence when an older one arrives late (a snapshot that raced the live frame)', async () => {
    const now = Date.now();
    gateway.send({ type: 'presence', deviceId: 'gate-1', state: 'offline', since: now, reason: 'CONNECTION_LOST' });
    gateway.send({ type: 'snapshot', done: true, devices: [{ deviceId: 'gate-1', presence: { state: 'online', since: now - 1000 } }] });
    gateway.send(telemetry('marker', { temperature: 1 }));
    await row(page, 'marker').waitFor({ timeout: 5_000 });
    await row(page, 'gate-1').locator('[data-testid="fleet-state"]', { hasText: 'offline · CONNECTION_LOST' }).waitFor({ timeout: 5_000 });
  });

  it('searches by id and sorts by any column', async () => {
    for (const [id, temperature] of [['boiler-2', 80], ['boiler-10', 60], ['fridge-1', 4]] as const) gateway.send(telemetry(id, { temperature }));
    await row(page, 'fridge-1').waitFor({ timeout: 5_000 });
    // Ids sort the way people count: boiler-2 before boiler-10.
    await eventually('the three rows in id order', async () => (await shownIds(page)).join() === 'boiler-2,boiler-10,fridge-1', 5_000);

    await page.locator('[data-testid="fleet-sort"][data-sort="field:temperature"]').click();
    await eventually('ascending temperature', async () => (await shownIds(page)).join() === 'fridge-1,boiler-10,boiler-2', 5_000);
    await page.locator('[data-testid="fleet-sort"][data-sort="field:temperature"]').click();
    await eventually('descending temperature', async () => (await shownIds(page)).join() === 'boiler-2,boiler-10,fridge-1', 5_000);
    expect(await page.locator('[data-sort="field:temperature"]').getAttribute('aria-sort')).to.equal('descending');

    await page.getByTestId('fleet-search').fill('BOIL');
    await eventually('only the boilers', async () => (await shownIds(page)).join() === 'boiler-2,boiler-10', 5_000);
    expect(await page.locator('input[type="search"][data-testid="fleet-search"]').count()).to.equal(1);
    expect(pageErrors).to.deep.equal([]);
  });

  it('holds 10,000 devices in a few dozen DOM rows, loads them page by page through the cursor, and scrolls to the last (screenshot in test/artifacts/fleet.png)', async () => {
    const page1 = Array.from({ length: 5000 }, (_, i) => ({ deviceId: `d-${String(i).padStart(5, '0')}`, ts: Date.now() - 1000, receivedAt: Date.now() - 1000, data: { temperature: i % 40 }, presence: { state: 'online', since: Date.now() - 60_000 } }));
    const page2 = page1.map((d, i) => ({ ...d, deviceId: `d-${String(i + 5000).padStart(5, '0')}` }));
    const devicesRequests = () => gateway.received.filter((f) => f.action === 'devices');
    gateway.send({ type: 'snapshot', done: true, cursor: 'page-2', devices: page1 });
    await eventually('the page to ask for the next page with the cursor', () => devicesRequests().some((f) => f.cursor === 'page-2'), 5_000);
    gateway.send({ type: 'snapshot', done: true, devices: page2 });

    await page.getByTestId('fleet-counts').filter({ hasText: '10,000 online · 0 offline · 0 silent' }).waitFor({ timeout: 60_000 });
    const domRows = await page.locator('[data-testid="fleet-row"]').count();
    expect(domRows).to.be.greaterThan(10).and.lessThan(100);
    // A large fleet asks no history until a device page opens.
    expect(gateway.received.filter((f) => f.action === 'history')).to.have.length(0);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'fleet.png') });
    await page.getByTestId('fleet-scroll').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await row(page, 'd-09999').waitFor({ timeout: 5_000 });
    expect(pageErrors).to.deep.equal([]);
  });

  it('opens a device page from a row, with its alarm area, and comes back', async () => {
    gateway.send(telemetry('kiln-3', { temperature: 900 }));
    await row(page, 'kiln-3').locator('[data-testid="fleet-id"]').click();
    await page.locator('[data-testid="device-card"][data-device-id="kiln-3"]').waitFor({ timeout: 5_000 });
    expect(new URL(page.url()).searchParams.get('devices')).to.equal('kiln-3');
    expect(await page.locator('[data-testid="device-card"][data-device-id="kiln-3"] [data-testid="device-alarms"]').count()).to.equal(1);
    await eventually('a history request for the opened device', () => gateway.received.some((f) => f.action === 'history' && f.deviceId === 'kiln-3'), 5_000);

    await page.getByTestId('back-to-fleet').click();
    await page.getByTestId('fleet-view').waitFor({ state: 'visible', timeout: 5_000 });
    expect(await page.locator('[data-testid="device-card"]').count()).to.equal(0);
    expect(pageErrors).to.deep.equal([]);
  });
});

describe('fleet view in Chromium through the local stack', function () {
  this.timeout(120_000);
  let browser: Browser;
  let stack: RunningStack | undefined;
  let dist: string;
  let page: Page;
  let pageErrors: string[];
  const stackLog: string[] = [];
  const devices: MqttClient[] = [];

  before(async function () {
    skipWithoutChromium(this);
    this.timeout(180_000);
    browser = await launchChromium();
    dist = await mkdtemp(join(tmpdir(), 'fleet-stack-e2e-'));
    await buildDashboard({ outDir: dist });
    stack = await startStack({ port: 0, wsPort: 0, mqttPort: 0, simulatedDevices: 0, localAuth: 'token', dashboardRoot: dist, log: (line) => stackLog.push(line) });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    pageErrors = watchPageErrors(page);
  });

  after(async function () {
    this.timeout(30_000);
    for (const device of devices) await device.endAsync(true).catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    if (dist) await rm(dist, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`local stack log (last 40 lines):\n${stackLog.slice(-40).join('\n')}`);
  });

  it('shows a device online when it connects, and offline with the reason when its socket is destroyed; searches and sorts', async () => {
    await page.goto(stack!.urls.dashboard, { timeout: 15_000 });
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 15_000 });

    const boiler = await mqtt.connectAsync(stack!.urls.mqtt, { clientId: 'boiler-9', keepalive: 5, reconnectPeriod: 0 });
    devices.push(boiler);
    await row(page, 'boiler-9').locator('[data-testid="fleet-state"]', { hasText: 'online' }).waitFor({ timeout: 15_000 });

    for (const [id, temperature] of [['chiller-1', 7], ['chiller-12', 5]] as const) {
      const device = await mqtt.connectAsync(stack!.urls.mqtt, { clientId: id, keepalive: 30, reconnectPeriod: 0 });
      devices.push(device);
      await device.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ts: Date.now(), temperature }), { qos: 1 });
    }
    await boiler.publishAsync('devices/boiler-9/telemetry', JSON.stringify({ ts: Date.now(), temperature: 71 }), { qos: 1 });
    await page.getByTestId('fleet-counts').filter({ hasText: '3 online · 0 offline' }).waitFor({ timeout: 15_000 });

    await page.locator('[data-testid="fleet-sort"][data-sort="field:temperature"]').click();
    await eventually('ascending temperature', async () => (await shownIds(page)).join() === 'chiller-12,chiller-1,boiler-9', 10_000);
    await page.getByTestId('fleet-search').fill('chill');
    await eventually('only the chillers', async () => (await shownIds(page)).join() === 'chiller-12,chiller-1', 5_000);
    await page.getByTestId('fleet-search').fill('');

    boiler.stream.destroy();
    await row(page, 'boiler-9').locator('[data-testid="fleet-state"]', { hasText: 'offline · CONNECTION_LOST' }).waitFor({ timeout: 15_000 });
    await page.getByTestId('fleet-counts').filter({ hasText: '2 online · 1 offline' }).waitFor({ timeout: 10_000 });
    expect(pageErrors).to.deep.equal([]);
  });
});
