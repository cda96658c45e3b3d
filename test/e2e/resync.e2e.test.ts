/**
 * A forced shed in real Chromium through the local stack: every post is
 * throttled while one reading fans out, the handoff chain passes the reading's
 * age limit (FANOUT_MAX_EVENT_AGE_SECONDS=2, the fan-out functions' Timeout
 * 1.5 s) and sheds it, and the dashboard gets a `resync` frame instead. It
 * refills that range from history: the chart holds the shed reading before any
 * later one arrives, with no seq gap and no duplicate.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Locator, Page } from 'playwright-core';
import { buildDashboard } from '../../dashboard/build.js';
import { type RunningStack, startStack } from '../../local/stack/stack.js';
import { templateWithTimeouts } from '../helpers/localStack.js';
import { eventually, launchChromium, skipWithoutChromium, watchPageErrors } from './browser.js';

const DEVICE = 'e2e-shed';
const card = (page: Page): Locator => page.locator(`[data-testid="device-card"][data-device-id="${DEVICE}"]`);
// The readings the device's range charts hold (dashboard/src/charts/fieldCharts.ts).
const pointsOf = async (page: Page): Promise<number> =>
  Number((await card(page).getByTestId('range-charts').getAttribute('data-points', { timeout: 5_000 })) ?? 0);

describe('dashboard in Chromium: a shed reading is refilled from history', function () {
  this.timeout(120_000);
  let browser: Browser;
  let stack: RunningStack | undefined;
  let dist: string;
  let device: MqttClient | undefined;
  let page: Page;
  let pageErrors: string[];
  const stackLog: string[] = [];

  before(async function () {
    skipWithoutChromium(this);
    this.timeout(180_000);
    browser = await launchChromium();
    dist = await mkdtemp(join(tmpdir(), 'dashboard-resync-e2e-'));
    await buildDashboard({ outDir: dist });
    stack = await startStack({
      port: 0,
      wsPort: 0,
      mqttPort: 0,
      simulatedDevices: 0,
      dashboardRoot: dist,
      // Wired at start, switched on during the spec.
      faults: 'post:429:0',
      faultsSeed: 16,
      template: templateWithTimeouts({ TelemetryFunction: 1.5, FanoutWorkerFunction: 1.5 }),
      env: { FANOUT_MAX_EVENT_AGE_SECONDS: '2' },
      asyncRetryDelaysMs: [20, 40],
      log: (line) => stackLog.push(line),
    });
    device = await mqtt.connectAsync(stack.urls.mqtt, { clientId: 'resync-e2e', connectTimeout: 10_000, reconnectPeriod: 0 });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
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

  const publish = (seq: number) => device!.publishAsync(`devices/${DEVICE}/telemetry`, JSON.stringify({ ts: Date.now(), seq, temperature: 20 + seq }), { qos: 1 });

  it('refills a reading the server shed, on its resync frame, before any later reading comes: no hole, no duplicate', async () => {
    // Arrange: the page live with three readings
    await page.goto(`${stack!.urls.dashboard}?devices=*`, { timeout: 15_000 });
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 20_000 });
    for (const seq of [1, 2, 3]) {
      await publish(seq);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await eventually('three readings on the chart', async () => (await card(page).count()) > 0 && (await pointsOf(page)) === 3, 15_000);
    const duplicates = await page.getByTestId('duplicates').textContent();

    // Act: every post throttled while reading 4 fans out, until the chain sheds it; then the throttling stops
    stack!.faults!.set('post:429:1');
    await publish(4);
    await eventually('the reading shed', async () => stackLog.some((line) => /shed a reading/.test(line)), 30_000);
    stack!.faults!.set('post:429:0');

    // Assert: reading 4 reaches the chart through resync → history, with nothing published after it
    await eventually('the shed reading refilled from history', async () => (await pointsOf(page)) === 4, 20_000);
    expect(stackLog.filter((line) => /dropped a resync/.test(line)), 'the resync itself was not dropped').to.deep.equal([]);
    await publish(5);
    await eventually('the next live reading', async () => (await pointsOf(page)) === 5, 15_000);
    // Nothing left in flight: a late repeat would have arrived by now, and the chart still holds each reading once.
    await stack!.settled();
    expect(await pointsOf(page), 'each reading drawn once').to.equal(5);
    const gaps = card(page).getByTestId('device-gaps');
    expect(await gaps.isHidden(), `no seq gap shown (${await gaps.textContent()})`).to.equal(true);
    // Delivery is at least once: an invocation that posted and then ran past its 1.5 s Timeout on a loaded machine is
    // retried by Lambda and posts again, and the page drops the repeat by its id (the duplicates counter). Each dropped
    // repeat must be such a retry, and without one there is none.
    const count = (text: string | null) => Number((text ?? '0').replace(/\D/g, ''));
    const dropped = count(await page.getByTestId('duplicates').textContent()) - count(duplicates);
    const retried = stackLog.filter((line) => /Sandbox\.Timedout/.test(line)).length;
    expect(dropped, `duplicate deliveries dropped by the page, with ${retried} invocation(s) retried after a timeout`).to.be.within(0, retried);
    expect(pageErrors, 'errors in the page console').to.deep.equal([]);
  });
});
