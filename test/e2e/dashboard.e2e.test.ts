/**
 * The dashboard in real headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core).
 *
 * 1. Through the local stack: MQTT publish -> topic rule -> telemetry function ->
 *    WebSocket gateway -> page. The device appears, its values update, its chart
 *    draws, the subscribe buttons work against the real routes, and the page
 *    rides out a gateway restart. Saves test/artifacts/dashboard.png.
 * 2. Against a scripted gateway, for what the stack cannot produce on cue:
 *    error frames, duplicates, sequence gaps, staleness, the exact frames sent.
 *
 * No Chromium: the suite fails with the apt-get command, it never skips quietly.
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
import { ScriptedGateway, type StaticSite, chartPixels, eventually, launchChromium,
  skipWithoutChromium, serveDashboard, watchPageErrors } from './browser.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCREENSHOT = join(ROOT, 'test', 'artifacts', 'dashboard.png');
const TEMPERATURE_RGB: [number, number, number] = [0xe8, 0x59, 0x0c]; // dashboard/src/view/palette.ts

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const card = (page: Page, deviceId: string): Locator => page.locator(`[data-testid="device-card"][data-device-id="${deviceId}"]`);
const valueOf = async (page: Page, deviceId: string, field: string): Promise<string> =>
  (await card(page, deviceId).locator(`[data-field="${field}"] [data-testid="device-value"]`).textContent({ timeout: 5_000 })) ?? '';
const messagesOf = async (page: Page, deviceId: string): Promise<number> =>
  Number(((await card(page, deviceId).getByTestId('device-messages').textContent({ timeout: 5_000 })) ?? '').replace(/\D/g, '') || 0);
const waitForState = (page: Page, selector: string, state: string, timeout: number) =>
  page.locator(`${selector}[data-state="${state}"]`).waitFor({ timeout });

describe('dashboard in Chromium, end to end through the local stack', function () {
  this.timeout(120_000);
  const GREENHOUSE = 'e2e-greenhouse';
  const FREEZER = 'e2e-freezer';
  const seq: Record<string, number> = { [GREENHOUSE]: 0, [FREEZER]: 0 };
  const stackLog: string[] = [];
  let browser: Browser;
  let stack: RunningStack | undefined;
  let dist: string;
  let device: MqttClient | undefined;
  let page: Page;
  let pageErrors: string[];
  let publisher: ReturnType<typeof setInterval> | undefined;

  const publish = (deviceId: string) => {
    const n = ++seq[deviceId];
    const base = deviceId === FREEZER ? -18 : 24;
    const payload = {
      ts: Date.now(),
      temperature: Math.round((base + 1.5 * Math.sin(n / 8) + Math.random() * 0.2) * 100) / 100,
      humidity: Math.round((deviceId === FREEZER ? 70 : 55) + 8 * Math.cos(n / 12)),
      battery: Math.max(0, 100 - Math.floor(n / 40)),
      seq: n,
    };
    device?.publish(`devices/${deviceId}/telemetry`, JSON.stringify(payload), { qos: 1 });
  };

  before(async function () {
    skipWithoutChromium(this);
    this.timeout(180_000);
    browser = await launchChromium();
    // A build of our own: dashboard/dist may be serving a developer's `npm start` meanwhile.
    dist = await mkdtemp(join(tmpdir(), 'dashboard-e2e-'));
    await buildDashboard({ outDir: dist });
    stack = await startStack({ port: 0, wsPort: 0, mqttPort: 0, simulatedDevices: 0, localAuth: 'token', dashboardRoot: dist, log: (line) => stackLog.push(line) });
    device = await mqtt.connectAsync(stack.urls.mqtt, { clientId: 'dashboard-e2e', connectTimeout: 10_000 });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    pageErrors = watchPageErrors(page);
  });

  after(async function () {
    this.timeout(30_000);
    clearInterval(publisher);
    await device?.endAsync().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    if (dist) await rm(dist, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`local stack log (last 40 lines):\n${stackLog.slice(-40).join('\n')}`);
  });

  it('goes live, then shows a device as soon as it publishes, with values that update and a chart that draws', async () => {
    // ?devices=*: every device's card (the page opens on the fleet table otherwise; test/e2e/fleet.e2e.test.ts).
    await page.goto(`${stack!.urls.dashboard}?devices=*`, { timeout: 15_000 });
    await waitForState(page, '[data-testid="connection-status"]', 'live', 15_000);

    publisher = setInterval(() => {
      publish(GREENHOUSE);
      publish(FREEZER);
    }, 200);

    await card(page, GREENHOUSE).waitFor({ timeout: 15_000 });
    await waitForState(page, `[data-device-id="${GREENHOUSE}"]`, 'live', 10_000);
    const firstSeq = Number(await valueOf(page, GREENHOUSE, 'seq'));
    const firstTemperature = await valueOf(page, GREENHOUSE, 'temperature');
    await eventually('the seq value to move on', async () => Number(await valueOf(page, GREENHOUSE, 'seq')) >= firstSeq + 3);
    await eventually('the temperature value to change', async () => (await valueOf(page, GREENHOUSE, 'temperature')) !== firstTemperature);
    expect(Number(await valueOf(page, GREENHOUSE, 'temperature'))).to.be.within(20, 28);

    const chart = card(page, GREENHOUSE).locator('[data-testid="range-chart"][data-field="temperature"]');
    await eventually('the temperature chart to hold several points', async () => Number(await chart.getAttribute('data-points')) >= 5);
    await eventually('the temperature line to be drawn on the canvas', async () => (await chartPixels(page, GREENHOUSE, 'temperature', TEMPERATURE_RGB)) > 30);
    expect(await page.getByTestId('last-message').textContent()).to.match(/\d\d:\d\d:\d\d/);
    expect(await page.getByTestId('latency').textContent()).to.match(/\d+ ms \/ \d+ ms/);
  });

  it('unsubscribes a device with its button and subscribes it again, through the real routes', async () => {
    const freezer = card(page, FREEZER);
    await freezer.waitFor({ timeout: 10_000 });

    await freezer.getByTestId('device-toggle').click();
    await waitForState(page, `[data-device-id="${FREEZER}"]`, 'off', 10_000);
    // Frames already in flight may still land: wait until every fan-out in flight has posted (settled), then for a
    // greenhouse reading published after that. The page's one socket is ordered, so every earlier frame is in.
    await stack!.settled();
    const publishedBefore = seq[GREENHOUSE]!;
    await eventually('a reading published after the stack settled', async () => Number(await valueOf(page, GREENHOUSE, 'seq')) > publishedBefore, 15_000);
    const frozenAt = await messagesOf(page, FREEZER);
    const greenhouseBefore = await messagesOf(page, GREENHOUSE);
    // Wait for new greenhouse telemetry (an event; both devices publish at the same rate), then the freezer must
    // have had none meanwhile: no fixed wait that a loaded machine could outrun.
    await eventually('new telemetry for the device still subscribed', async () => (await messagesOf(page, GREENHOUSE)) > greenhouseBefore + 2, 15_000);

    expect(await messagesOf(page, FREEZER), 'messages for an unsubscribed device').to.equal(frozenAt);
    expect(await page.getByTestId('subscription-mode').textContent()).to.match(/Receiving 1 selected device$/);

    await freezer.getByTestId('device-toggle').click();
    await waitForState(page, `[data-device-id="${FREEZER}"]`, 'live', 10_000);
    await eventually('the freezer to receive again', async () => (await messagesOf(page, FREEZER)) > frozenAt + 2);
  });

  it('shows reconnecting while the gateway is down, then goes live again, resubscribes and receives new telemetry', async () => {
    await stack!.stopGateway();
    await waitForState(page, '[data-testid="connection-status"]', 'reconnecting', 10_000);
    expect(await page.getByTestId('connection-detail').textContent()).to.match(/retry/);
    await sleep(1_500);

    await stack!.startGateway();
    await waitForState(page, '[data-testid="connection-status"]', 'live', 45_000);

    const greenhouseSeq = Number(await valueOf(page, GREENHOUSE, 'seq'));
    const freezerMessages = await messagesOf(page, FREEZER);
    await eventually('new greenhouse telemetry after the restart', async () => Number(await valueOf(page, GREENHOUSE, 'seq')) >= greenhouseSeq + 3, 15_000);
    // The page was subscribed to the two devices by name: the reconnect must carry both.
    await eventually('new freezer telemetry after the restart', async () => (await messagesOf(page, FREEZER)) >= freezerMessages + 3, 15_000);
  });

  it('returns to every device, and looks right (screenshot in test/artifacts/dashboard.png)', async () => {
    await page.getByTestId('subscribe-all').click();
    await eventually('the page to receive every device again', async () => (await page.getByTestId('subscription-mode').textContent()) === 'Receiving every device');
    await sleep(2_000); // a little more history on the charts

    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    expect(pageErrors, 'errors in the page console').to.deep.equal([]);
  });
});

describe('dashboard in Chromium against a scripted gateway', function () {
  this.timeout(60_000);
  let browser: Browser;
  let gateway: ScriptedGateway;
  let site: StaticSite;
  let page: Page;
  let pageErrors: string[];
  let outDir: string;
  let ids = 0;

  const telemetry = (deviceId: string, seq: number, extra: Record<string, unknown> = {}) => ({
    type: 'telemetry',
    id: extra.id ?? `t${ids++}`,
    deviceId,
    ts: Date.now() - 40,
    receivedAt: Date.now() - 20,
    data: { temperature: 20 + seq / 10, seq },
  });

  // ?devices=*: every device's card, as the page showed before the fleet view became its default.
  const open = async (query = '?devices=*') => {
    await page.goto(`${site.url}${query}`, { timeout: 15_000 });
    await waitForState(page, '[data-testid="connection-status"]', 'live', 10_000);
    await eventually('the gateway to see the page', () => gateway.received.length > 0);
  };

  before(async function () {
    skipWithoutChromium(this);
    this.timeout(60_000);
    browser = await launchChromium();
    outDir = await mkdtemp(join(tmpdir(), 'dashboard-e2e-'));
    await buildDashboard({ outDir });
    gateway = await ScriptedGateway.start();
    site = await serveDashboard(outDir, () => ({ url: gateway.url }));
  });

  beforeEach(async () => {
    gateway.received.length = 0;
    page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    pageErrors = watchPageErrors(page);
  });

  afterEach(async () => {
    await page.close();
    expect(pageErrors, 'errors in the page console').to.deep.equal([]);
  });

  after(async () => {
    await browser?.close();
    await gateway?.close();
    await site?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('shows a server error frame as a visible notice until the user dismisses it', async () => {
    await open();

    gateway.send({ type: 'error', code: 'forbidden', message: 'device "dev-9" is outside your token\'s scope' });

    const notice = page.locator('[data-testid="error-notice"][data-code="forbidden"]');
    await notice.waitFor({ timeout: 5_000 });
    expect(await notice.textContent()).to.include('device "dev-9" is outside your token\'s scope');
    await notice.getByRole('button', { name: 'Dismiss' }).click();
    await notice.waitFor({ state: 'detached', timeout: 5_000 });
  });

  it('drops a telemetry frame whose id it has already seen', async () => {
    await open();

    const frame = telemetry('dev-dup', 1, { id: 'same-id' });
    gateway.send(frame);
    gateway.send(frame);
    gateway.send(telemetry('dev-dup', 2));

    await eventually('both distinct messages to be counted', async () => (await messagesOf(page, 'dev-dup')) === 2);
    expect(await page.getByTestId('duplicates').textContent()).to.equal('1');
  });

  it('flags sequence gaps, and turns a silent device stale after ?stale=', async () => {
    await open('?devices=*&stale=1');

    for (const seq of [1, 2, 6]) gateway.send(telemetry('dev-gappy', seq));

    const gaps = card(page, 'dev-gappy').getByTestId('device-gaps');
    await gaps.waitFor({ timeout: 5_000 });
    expect(await gaps.textContent()).to.include('3 missed');
    await waitForState(page, '[data-device-id="dev-gappy"]', 'stale', 5_000);
  });

  it('turns a device stale after a few of its own usual intervals, long before the ?stale= fallback', async () => {
    await open('?devices=*&stale=10m');
    // A device that reports every 300 ms: its interval is learned from four gaps, so it is silent after the 5 s floor.
    for (let seq = 1; seq <= 5; seq++) {
      gateway.send(telemetry('dev-quick', seq));
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await waitForState(page, '[data-device-id="dev-quick"]', 'live', 5_000);
    await waitForState(page, '[data-device-id="dev-quick"]', 'stale', 20_000);
  });

  it('narrows from every device to the ones the user keeps: unsubscribe "*", then subscribe the rest', async () => {
    await open();
    for (const id of ['dev-a', 'dev-b', 'dev-c']) gateway.send(telemetry(id, 1));
    await card(page, 'dev-c').waitFor({ timeout: 5_000 });

    await card(page, 'dev-b').getByTestId('device-toggle').click();
    await waitForState(page, '[data-device-id="dev-b"]', 'off', 5_000);

    expect(gateway.actions()).to.deep.equal([
      { action: 'unsubscribe', devices: '*' },
      { action: 'subscribe', devices: ['dev-a', 'dev-c'] },
    ]);
  });

  it('reconnects after the socket drops, naming the devices it still wants in the connect url', async () => {
    await open('?devices=dev-a,dev-b');
    expect(gateway.connects.at(-1)).to.equal('dev-a,dev-b');
    for (const id of ['dev-a', 'dev-b']) gateway.send(telemetry(id, 1));
    await card(page, 'dev-b').getByTestId('device-toggle').click();
    await waitForState(page, '[data-device-id="dev-b"]', 'off', 5_000);
    const connects = gateway.connects.length;

    gateway.dropAll();

    await waitForState(page, '[data-testid="connection-status"]', 'reconnecting', 5_000);
    await waitForState(page, '[data-testid="connection-status"]', 'live', 10_000);
    expect(gateway.connects.slice(connects)).to.deep.equal(['dev-a']);
  });

  it('takes ?token= out of the address bar and the history, and still connects (and reconnects) with it', async () => {
    const token = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('{"devices":"*"}').toString('base64url')}.c2lnbmF0dXJl`;

    await open(`?token=${token}&window=1m`);
    const address = await page.evaluate(() => location.href);
    const connects = gateway.tokens.length;
    gateway.dropAll();
    await waitForState(page, '[data-testid="connection-status"]', 'reconnecting', 5_000);
    await waitForState(page, '[data-testid="connection-status"]', 'live', 10_000);

    expect(address).to.not.include('token');
    expect(address).to.include('window=1m');
    expect(gateway.tokens.at(connects - 1)).to.equal(token);
    expect(gateway.tokens.slice(connects)).to.deep.equal([token]);
  });

  it('fits a phone screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await open();
    gateway.send(telemetry('a-device-with-a-rather-long-name-0001', 1));
    await card(page, 'a-device-with-a-rather-long-name-0001').waitFor({ timeout: 5_000 });

    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

    expect(overflow).to.equal(0);
  });
});
