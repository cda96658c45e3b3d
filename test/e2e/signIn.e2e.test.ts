/**
 * Sign-in in real headless Chromium against the local stack's OpenID Connect
 * provider (LOCAL_AUTH=oidc, tokens that last 20 s): click Sign in, fill the
 * provider's login form, receive telemetry, watch a token renewal reconnect
 * (make-before-break, then a history gap-fill) with no reading missing, sign
 * out and see the socket close.
 *
 * The page is opened at http://127.0.0.1:<PORT>/ while the issuer is
 * http://localhost:<PORT>/oidc: the cross-origin case (the Node specs sign in
 * from localhost).
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

const TOKEN_TTL_SECONDS = 20;
const DEVICE = 'e2e-signin-sensor';

describe('dashboard sign-in in Chromium, against the embedded OpenID Connect provider', function () {
  this.timeout(120_000);
  const stackLog: string[] = [];
  let browser: Browser;
  let stack: RunningStack | undefined;
  let dist: string;
  let device: MqttClient | undefined;
  let page: Page;
  let pageErrors: string[];
  let publisher: ReturnType<typeof setInterval> | undefined;
  let published = 0;
  let home: string;

  const card = () => page.locator(`[data-testid="device-card"][data-device-id="${DEVICE}"]`);
  const field = async (name: string) => (await card().locator(`[data-field="${name}"] [data-testid="device-value"]`).textContent({ timeout: 5_000 })) ?? '';
  const messages = async () => Number(((await card().getByTestId('device-messages').textContent({ timeout: 5_000 })) ?? '').replace(/\D/g, '') || 0);
  const connectionIds = () => stack!.connections().map((c) => c.connectionId);

  before(async function () {
    skipWithoutChromium(this);
    this.timeout(180_000);
    browser = await launchChromium();
    dist = await mkdtemp(join(tmpdir(), 'dashboard-signin-e2e-'));
    await buildDashboard({ outDir: dist });
    stack = await startStack({
      port: 0,
      wsPort: 0,
      mqttPort: 0,
      simulatedDevices: 0,
      localAuth: 'oidc',
      oidcTokenTtlSeconds: TOKEN_TTL_SECONDS,
      dashboardRoot: dist,
      log: (line) => stackLog.push(line),
    });
    home = `http://127.0.0.1:${stack.ports.http}/`;
    device = await mqtt.connectAsync(stack.urls.mqtt, { clientId: 'signin-e2e', connectTimeout: 10_000 });
    page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
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

  it('shows Sign in, takes the provider\'s real login form, and lands on the dashboard with the code gone from the address bar', async () => {
    await page.goto(`${home}?devices=${DEVICE}`, { timeout: 15_000 });
    await page.getByTestId('sign-in').click({ timeout: 10_000 });

    await page.waitForURL(/\/oidc\/interaction\//, { timeout: 10_000 });
    await page.fill('#username', 'dev');
    await page.fill('#password', 'dev');
    await page.click('button[type="submit"]');

    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 15_000 });
    const url = new URL(page.url());
    expect(`${url.origin}${url.pathname}`).to.equal(home);
    expect([...url.searchParams.keys()]).to.deep.equal(['devices']);
    expect(await page.getByTestId('user-name').textContent()).to.equal('Local developer');
    expect(await page.getByTestId('user-scope').textContent()).to.equal('every device · may publish');
    expect(await page.getByTestId('sign-out').isVisible()).to.equal(true);
    expect(await page.evaluate(() => Object.keys(sessionStorage))).to.deep.equal(['iot-dashboard.refresh-token']);
  });

  it('receives telemetry, and a token renewal (20 s tokens) reconnects with no reading missing', async function () {
    this.timeout(60_000);
    const before = connectionIds();
    expect(before).to.have.length(1);
    publisher = setInterval(() => {
      published++;
      device?.publish(`devices/${DEVICE}/telemetry`, JSON.stringify({ ts: Date.now(), temperature: 20 + (published % 10) / 10, seq: published }), { qos: 1 });
    }, 200);
    await card().waitFor({ timeout: 15_000 });
    // The device was silent at sign-in, so the first fill asked no history: a history request from now on is the renewal's.
    const beforeRenewal = stackLog.length;

    // Renewal at three quarters of the lifetime: a new connection replaces the old one (make-before-break).
    await eventually('the renewed token to reconnect', () => connectionIds().length === 1 && connectionIds()[0] !== before[0], (TOKEN_TTL_SECONDS + 5) * 1000);
    // Readings through the renewed connection: counted, not timed.
    const renewedAt = published;
    await eventually('readings published after the renewal', () => published >= renewedAt + 8, 15_000);
    clearInterval(publisher);
    publisher = undefined;
    await eventually('every published reading to arrive', async () => Number(await field('seq')) === published, 10_000);

    expect(published).to.be.greaterThan(20);
    expect(await messages()).to.equal(published);
    // The gaps label names what it saw (e.g. "⚠ 1 missed (seq gaps ×1)"), so a failure says which.
    expect(await card().getByTestId('device-gaps').textContent()).to.equal('');
    expect(await card().getByTestId('device-gaps').isHidden()).to.equal(true);
    expect(await page.getByTestId('connection-status').getAttribute('data-state')).to.equal('live');
    expect(stackLog.some((line) => /connect refused/.test(line))).to.equal(false);
    // The renewal's reconnect asked history for whatever came after each chart's newest point (gap-fill).
    expect(stackLog.slice(beforeRenewal).filter((line) => /^\S+ ws +history +\S+ → HistoryFunction/.test(line))).to.have.length(1);
  });

  it('signs out: the provider ends the session, the socket closes, and the page offers Sign in again', async () => {
    await page.getByTestId('sign-out').click();

    await page.getByTestId('sign-in').waitFor({ state: 'visible', timeout: 15_000 });
    await eventually('the socket to close', () => connectionIds().length === 0, 5_000);
    expect(new URL(page.url()).origin).to.equal(new URL(home).origin);
    expect(await page.evaluate(() => Object.keys(sessionStorage))).to.deep.equal([]);
    expect(pageErrors).to.deep.equal([]);
  });
});
