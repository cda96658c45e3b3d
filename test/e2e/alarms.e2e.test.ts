/**
 * Alarms in real Chromium through the local stack: create a rule in the page's editor, publish a crossing over
 * MQTT, see the alarm in the panel (and the tab title), acknowledge it, publish a clearing reading, see it clear;
 * the device's temperature range chart draws the threshold and the transitions, live and, after a reload, from
 * the transitions the page asks the server for.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { buildDashboard } from '../../dashboard/build.js';
import { type RunningStack, startStack } from '../../local/stack/stack.js';
import { eventually, launchChromium, skipWithoutChromium, watchPageErrors } from './browser.js';

describe('dashboard in Chromium: alarms', function () {
  this.timeout(120_000);
  const DEVICE = 'e2e-freezer';
  let browser: Browser;
  let stack: RunningStack | undefined;
  let dist: string;
  let device: MqttClient | undefined;
  let page: Page;
  let pageErrors: string[];
  const stackLog: string[] = [];
  const publish = (temperature: number) => device!.publishAsync(`devices/${DEVICE}/telemetry`, JSON.stringify({ ts: Date.now(), temperature }), { qos: 1 });

  before(async function () {
    skipWithoutChromium(this);
    this.timeout(180_000);
    browser = await launchChromium();
    dist = await mkdtemp(join(tmpdir(), 'dashboard-alarms-e2e-'));
    await buildDashboard({ outDir: dist });
    stack = await startStack({ port: 0, wsPort: 0, mqttPort: 0, simulatedDevices: 0, localAuth: 'token', dashboardRoot: dist, log: (line) => stackLog.push(line) });
    device = await mqtt.connectAsync(stack.urls.mqtt, { clientId: 'alarms-e2e', connectTimeoutMs: 10_000 } as never);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    pageErrors = watchPageErrors(page);
  });

  after(async function () {
    this.timeout(30_000);
    await device?.endAsync().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    if (dist) await rm(dist, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`local stack log (last 40 lines):\n${stackLog.slice(-40).join('\n')}`);
  });

  it('creates a rule in the page, shows the crossing, acknowledges it, and sees it clear', async () => {
    // The device page with this device pinned: its card, with its "Alarm rule" button (the page opens on the fleet).
    await page.goto(`${stack!.urls.dashboard}?devices=${DEVICE}`, { timeout: 15_000 });
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 30_000 });

    // The device's card opens the editor for it (the device appears with its first reading).
    await publish(25);
    const card = page.locator(`[data-testid="device-card"][data-device-id="${DEVICE}"]`);
    await card.getByTestId('device-alarm-rule').click({ timeout: 20_000 });
    expect(await page.getByTestId('alarm-rule-device').inputValue()).to.equal(DEVICE);
    // A bad threshold is refused beside the editor, with the server's reason.
    await page.getByTestId('alarm-rule-field').fill('temperature');
    await page.getByTestId('alarm-rule-threshold').fill('warm');
    await page.getByTestId('alarm-rule-form').getByRole('button', { name: 'Add rule' }).click();
    await eventually('the refusal', async () => /rule\.above must be a number/.test((await page.getByTestId('alarm-message').textContent()) ?? ''), 20_000);

    await page.getByTestId('alarm-rule-threshold').fill('30');
    await page.getByTestId('alarm-rule-name').fill('Freezer warm');
    await page.getByTestId('alarm-rule-form').getByRole('button', { name: 'Add rule' }).click();
    await page.getByTestId('alarm-rule').filter({ hasText: 'Freezer warm' }).waitFor({ timeout: 20_000 });

    await publish(25);
    await publish(31.5);
    const active = page.locator(`[data-testid="alarm-active"][data-state="ALARM"][data-device-id="${DEVICE}"]`);
    await active.waitFor({ timeout: 30_000 });
    expect(await active.textContent()).to.contain('31.5');
    // The range chart of the field: the threshold line, and the transition's mark.
    const chart = page.locator(`[data-testid="range-charts"][data-device-id="${DEVICE}"] [data-testid="range-chart"][data-field="temperature"] .uplot`);
    await eventually('the threshold and a mark on the temperature range chart', async () => Number(await chart.getAttribute('data-alarm-lines')) === 1 && Number(await chart.getAttribute('data-alarm-marks')) >= 1, 10_000);
    await eventually('the tab title to count the alarm', async () => (await page.title()).startsWith('(1) '), 5_000);
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).to.match(/^data:image\/svg\+xml,.*e03131/);

    await active.getByTestId('alarm-ack').click();
    await active.getByTestId('alarm-acknowledged').waitFor({ timeout: 20_000 });
    expect(await active.getByTestId('alarm-acknowledged').textContent()).to.contain('local-dev');

    await publish(20);
    await active.waitFor({ state: 'detached', timeout: 30_000 });
    await page.locator(`[data-testid="alarm-recent"][data-state="OK"][data-device-id="${DEVICE}"]`).waitFor({ timeout: 5_000 });
    await eventually('the tab title back to normal', async () => !(await page.title()).startsWith('('), 5_000);
    expect(stackLog.filter((l) => l.startsWith('notify ')).map((l) => l.split(' state=')[1])).to.deep.equal(['ALARM', 'OK']);

    // Reloaded, the page has seen no transition live: the marks come from the server's kept transitions.
    await page.reload({ timeout: 15_000 });
    await eventually('past transitions marked on the reloaded range chart', async () => Number(await chart.getAttribute('data-alarm-marks')) >= 2, 20_000);
    expect(Number(await chart.getAttribute('data-alarm-lines'))).to.equal(1);
    expect(pageErrors, 'errors in the page console').to.deep.equal([]);
  });
});
