/**
 * The fleet issue's figures (issue 23), three `npm run bench` sections:
 *   presence       MQTT client -> lifecycle event -> presence rule -> PresenceFunction -> `presence` frame, through
 *                  an in-process local stack: from a clean disconnect, from a destroyed socket, and from a client
 *                  that goes silent (keep-alive 5 s: IoT Core's 1.5 x keep-alive rule)
 *   fleetBrowser   the fleet table in headless Chromium with 10,000 devices, loaded through the `devices` cursor
 *                  from a scripted gateway: first rows and all counts after the socket opens, scrolling frames/s
 *   capacity       `npm run soak` with one dashboard and 50 devices at 10 readings/s: sustained readings/s, p99, CPU per
 *                  reading, in direct mode (the template's default) and in coalesced mode
 * Figures only: nothing here asserts a timing.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { startStack } from '../local/stack/stack.js';
import { percentile, round } from './stats.js';
import { fromProgress } from './soakProgress.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface FleetRow {
  figure: string;
  value: number;
  unit: string;
  detail: string;
}

export interface FleetPlan {
  presenceSamples: number;
  keepAliveSeconds: number;
  fleetDevices: number;
  capacity: { devices: number; ratePerDevice: number; seconds: number };
}

export const FLEET_PLANS: Record<'full' | 'quick', FleetPlan> = {
  full: { presenceSamples: 5, keepAliveSeconds: 5, fleetDevices: 10_000, capacity: { devices: 50, ratePerDevice: 10, seconds: 30 } },
  quick: { presenceSamples: 1, keepAliveSeconds: 2, fleetDevices: 2_000, capacity: { devices: 10, ratePerDevice: 2, seconds: 4 } },
};

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> => {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

// ---------------------------------------------------------------- presence latency

export const runPresenceLatency = async ({ plan, progress }: { plan: FleetPlan; progress: (line: string) => void }): Promise<FleetRow[]> => {
  const stack = await startStack({ port: 0, wsPort: 0, mqttPort: 0, simulatedDevices: 0, localAuth: 'token', logLevel: 'error', log: () => undefined });
  const frames: { at: number; frame: Record<string, unknown> }[] = [];
  const dashboard = new WebSocket(`${stack.urls.websocket}?token=${encodeURIComponent(stack.devToken!)}`);
  dashboard.on('message', (data) => frames.push({ at: performance.now(), frame: JSON.parse(String(data)) }));
  await new Promise((resolve, reject) => dashboard.once('open', resolve).once('error', reject));
  const presenceOf = (deviceId: string, state: string, after: number) => () => frames.find((f) => f.at >= after && f.frame.type === 'presence' && f.frame.deviceId === deviceId && f.frame.state === state);
  const samples: Record<'clean' | 'destroyed' | 'silent', number[]> = { clean: [], destroyed: [], silent: [] };
  const reasons = new Set<string>();
  try {
    for (let i = 0; i < plan.presenceSamples; i++) {
      for (const kind of ['clean', 'destroyed', 'silent'] as const) {
        const deviceId = `bench-presence-${kind}-${i}`;
        const device: MqttClient = await mqtt.connectAsync(stack.urls.mqtt, { clientId: deviceId, keepalive: plan.keepAliveSeconds, reconnectPeriod: 0 });
        await until(`${deviceId} online`, () => presenceOf(deviceId, 'online', 0)() !== undefined, 15_000);
        const t0 = performance.now();
        if (kind === 'clean') await device.endAsync();
        else if (kind === 'destroyed') device.stream.destroy();
        else {
          // Silent: the socket stays open but nothing more comes (a device behind a NAT that lost power).
          (device as unknown as { pingTimer?: { clear(): void } }).pingTimer?.clear?.();
          device.options.keepalive = 0;
          (device.stream as unknown as { write: () => boolean }).write = () => true;
        }
        await until(`${deviceId} offline`, () => presenceOf(deviceId, 'offline', t0)() !== undefined, plan.keepAliveSeconds * 3000 + 15_000);
        const seen = presenceOf(deviceId, 'offline', t0)()!;
        samples[kind].push(seen.at - t0);
        reasons.add(`${kind}: ${String(seen.frame.reason)}`);
        if (kind === 'silent') device.stream.destroy();
        progress(`presence ${kind} ${i + 1}/${plan.presenceSamples}: ${round(seen.at - t0)} ms (${String(seen.frame.reason)})`);
      }
    }
  } finally {
    dashboard.terminate();
    await stack.stop();
  }
  const row = (kind: keyof typeof samples, target: string): FleetRow => ({
    figure: `presence after a ${kind === 'clean' ? 'clean disconnect' : kind === 'destroyed' ? 'destroyed socket' : `silent client (keep-alive ${plan.keepAliveSeconds} s)`}`,
    value: round(percentile(samples[kind], 50)),
    unit: 'ms p50',
    detail: `max ${round(Math.max(...samples[kind]))} ms over ${samples[kind].length}; ${[...reasons].find((r) => r.startsWith(kind))?.split(': ')[1] ?? ''}; target ${target}`,
  });
  return [row('clean', '≤ 500 ms'), row('destroyed', '≤ 500 ms'), row('silent', `≤ ${1.5 * plan.keepAliveSeconds + 1} s`)];
};

// ---------------------------------------------------------------- the fleet table in Chromium

export const runFleetBrowser = async ({ plan, progress }: { plan: FleetPlan; progress: (line: string) => void }): Promise<FleetRow[] | undefined> => {
  if (!existsSync(CHROMIUM)) return undefined;
  const { chromium } = await import('playwright-core');
  const { buildDashboard } = await import('../dashboard/build.js');
  const { ScriptedGateway, serveDashboard } = await import('../test/e2e/browser.js');
  const dist = await mkdtemp(join(tmpdir(), 'bench-fleet-'));
  await buildDashboard({ outDir: dist });
  const gateway = await ScriptedGateway.start();
  const site = await serveDashboard(dist, () => ({ url: gateway.url }));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 30_000 });
  const PAGE = 1000;
  const now = Date.now();
  const entry = (i: number) => ({
    deviceId: `dev-${String(i).padStart(5, '0')}`,
    ts: now - 2000,
    receivedAt: now - 1990,
    data: { temperature: 20 + (i % 17), humidity: 40 + (i % 23), battery: 100 - (i % 50) },
    presence: { state: i % 97 === 0 ? 'offline' : 'online', since: now - 60_000, ...(i % 97 === 0 ? { reason: 'MQTT_KEEP_ALIVE_TIMEOUT' } : {}) },
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    // The scripted gateway answers `devices` with an empty snapshot; these pages follow it, cursor by cursor.
    let openedAt = 0;
    let served = 0;
    const serve = (cursor: number) => {
      const end = Math.min(plan.fleetDevices, cursor + PAGE);
      gateway.send({ type: 'snapshot', done: true, devices: Array.from({ length: end - cursor }, (_, k) => entry(cursor + k)), ...(end < plan.fleetDevices ? { cursor: String(end) } : {}) });
      served = end;
    };
    const watcher = setInterval(() => {
      const asks = gateway.received.filter((f) => f.action === 'devices');
      if (openedAt === 0 && asks.length > 0) {
        openedAt = performance.now();
        serve(0);
      }
      const next = asks.find((f) => typeof f.cursor === 'string' && Number(f.cursor) === served && served < plan.fleetDevices);
      if (next) serve(served);
    }, 1);
    await page.goto(site.url);
    await until('the first rows', async () => openedAt > 0 && (await page.locator('[data-testid="fleet-row"]').count()) > 0, 30_000);
    const firstRows = performance.now() - openedAt;
    const total = plan.fleetDevices.toLocaleString('en-US');
    await until('all counts', async () => ((await page.getByTestId('fleet-counts').textContent()) ?? '').replace(/\D+online.*/, '').trim() !== '' && (await page.locator('[data-testid="fleet-view"] .fleet').getAttribute('data-total')) === String(plan.fleetDevices), 60_000);
    const allCounts = performance.now() - openedAt;
    clearInterval(watcher);
    progress(`fleet table: first rows ${round(firstRows)} ms, ${total} counted ${round(allCounts)} ms after the socket opened`);
    // Scroll the table one step per animation frame for 3 s, as a wheel or a scrollbar drag would, and count frames.
    // A string, not a function: tsx names inner functions with a helper the page does not have.
    const fps = (await page.evaluate(`new Promise((resolve) => {
      const box = document.querySelector('[data-testid="fleet-scroll"]');
      let frames = 0;
      const start = performance.now();
      function step() {
        frames++;
        box.scrollTop += 120;
        if (performance.now() - start < 3000) requestAnimationFrame(step);
        else resolve((frames * 1000) / (performance.now() - start));
      }
      requestAnimationFrame(step);
    })`)) as number;
    const domRows = await page.locator('[data-testid="fleet-row"]').count();
    return [
      { figure: 'fleet table: first rows', value: round(firstRows), unit: 'ms', detail: `after the socket opened, ${total} devices in pages of ${PAGE} (target ≤ 1,000 ms)` },
      { figure: 'fleet table: all counts', value: round(allCounts), unit: 'ms', detail: `"${(await page.getByTestId('fleet-counts').textContent()) ?? ''}" (target ≤ 3,000 ms)` },
      { figure: 'fleet table: scrolling', value: round(fps), unit: 'frames/s', detail: `3 s of scrolling 120 px a frame; ${domRows} DOM rows for ${total} devices (target ≥ 55)` },
    ];
  } finally {
    await browser.close().catch(() => undefined);
    await gateway.close();
    await site.close();
    await rm(dist, { recursive: true, force: true });
  }
};

// ---------------------------------------------------------------- local capacity

/**
 * The two ways `npm start` can run a fleet: the template's default (FanoutMode=direct, one invocation per reading)
 * and what the README recommends for a fleet at this rate (FanoutMode=coalesced, a batch per BatchSize readings or
 * per second, whichever comes first: BatchSize 250 with the template's window, as the README recommends for a fleet);
 * docs/decisions/019-local-fleet-capacity-coalesced.md has the figures and the profile.
 */
export const CAPACITY_MODES: { name: string; env: Record<string, string> }[] = [
  { name: 'direct', env: {} },
  // The README's local fleet setting: at 500/s a batch of 250 fills in about half a second (one gatherer feeds both
  // invoke slots), p99 about 0.56 s; the template's 1000 costs less per reading and waits for the 1 s window
  // (the figures in docs/decisions/019).
  { name: 'coalesced', env: { PARAM_FanoutMode: 'coalesced', PARAM_BatchSize: '250' } },
];

export const runLocalCapacity = async ({ plan, progress }: { plan: FleetPlan; progress: (line: string) => void }): Promise<FleetRow[]> => {
  const { devices, ratePerDevice, seconds } = plan.capacity;
  const rate = devices * ratePerDevice;
  const rows: FleetRow[] = [];
  for (const mode of CAPACITY_MODES) {
    const args = ['tsx', join(here, 'soak.ts'), '--clients', '1', '--devices', String(devices), '--rate', String(rate), '--seconds', String(seconds), '--warmup', '5'];
    const overrides = Object.entries(mode.env).map(([k, v]) => `${k}=${v}`).join(' ');
    progress(`capacity (${mode.name}): ${overrides ? `${overrides} ` : ''}npx ${args.join(' ')}`);
    const boundMs = (seconds + 300) * 1000;
    const out = await new Promise<string>((resolve, reject) =>
      execFile('npx', args, { maxBuffer: 16 * 1024 * 1024, timeout: boundMs, env: { ...process.env, ...mode.env } }, (error, stdout) =>
        error && !stdout.includes('\nsoak {') && !stdout.includes(' s] published ') ? reject(error) : resolve(stdout),
      ),
    );
    const line = out.split('\n').find((l) => l.startsWith('soak {'));
    // A mode that falls far behind is still draining its queue at the bound: its figures are the last progress line's.
    const r = line ? (JSON.parse(line.slice('soak '.length)) as Record<string, number>) : fromProgress(out);
    const how = `${overrides || 'the template defaults (FanoutMode=direct)'}${line ? '' : `; still draining after ${boundMs / 1000} s, figures at the end of publishing`}`;
    rows.push(
      { figure: `local capacity, ${mode.name}: sustained`, value: r.sustainedPerS!, unit: 'readings/s', detail: `offered ${r.offeredPerS}/s (${devices} devices × ${ratePerDevice}/s) to one dashboard, ${how}; target ≥ ${rate}` },
      { figure: `local capacity, ${mode.name}: p99`, value: r.p99Ms!, unit: 'ms', detail: `device publish → dashboard, p50 ${r.p50Ms} ms; target ≤ 1,000 ms` },
      { figure: `local capacity, ${mode.name}: stack CPU`, value: r.stackCpuUsPerDelivery!, unit: 'µs/reading', detail: 'gateway, @connections, dynalite, broker and function threads together (target ≤ 2,500 on 2 cores)' },
    );
  }
  return rows;
};
