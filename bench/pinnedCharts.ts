/**
 * Issue 23's live-charts figure, the `pinnedCharts` section of `npm run bench`: 50 pinned devices
 * (`?devices=a,b,…`, the device page with every device's range charts) at 10 readings/s each, in headless
 * Chromium, for 10 minutes (`--quick`: 20 s). Target: >= 55 frames/s, JS heap growth <= 10 MB.
 *
 * The page is fed by a scripted WebSocket server on 127.0.0.1 (test/e2e/browser.ts ScriptedGateway), not by the
 * local stack: this measures the page, not how many readings the stack can deliver (the `capacity` section).
 *
 * - frames/s: requestAnimationFrame callbacks counted in the page, per 5 s interval; the figure is the whole
 *   run's mean after a warm-up, with the worst interval beside it.
 * - JS heap: CDP `HeapProfiler.collectGarbage`, then `Runtime.getHeapUsage` (used bytes), after the warm-up, at the
 *   live window's first fill (5 minutes: the charts hold their most from then on) and at the end.
 * Figures only: nothing here asserts a timing.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { round } from './stats.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface PinnedChartsPlan {
  devices: number;
  ratePerDevice: number;
  seconds: number;
  warmupSeconds: number;
}

export const PINNED_CHARTS_PLANS: Record<'full' | 'quick', PinnedChartsPlan> = {
  full: { devices: 50, ratePerDevice: 10, seconds: 600, warmupSeconds: 10 },
  quick: { devices: 50, ratePerDevice: 10, seconds: 8, warmupSeconds: 3 },
};

export interface PinnedChartsRow {
  figure: string;
  value: number;
  unit: string;
  detail: string;
}

const MB = 1024 * 1024;

export const runPinnedCharts = async ({ plan, progress }: { plan: PinnedChartsPlan; progress: (line: string) => void }): Promise<PinnedChartsRow[] | undefined> => {
  if (!existsSync(CHROMIUM)) return undefined;
  const { chromium } = await import('playwright-core');
  const { buildDashboard } = await import('../dashboard/build.js');
  const { ScriptedGateway, serveDashboard } = await import('../test/e2e/browser.js');
  const dist = await mkdtemp(join(tmpdir(), 'bench-pinned-'));
  await buildDashboard({ outDir: dist });
  const gateway = await ScriptedGateway.start();
  const site = await serveDashboard(dist, () => ({ url: gateway.url }));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 30_000 });
  const ids = Array.from({ length: plan.devices }, (_, i) => `pin-${String(i).padStart(2, '0')}`);
  let feeder: NodeJS.Timeout | undefined;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const cdp = await page.context().newCDPSession(page);
    // ArrayBuffer backing stores (the page's typed columns, docs/decisions/022-live-window-in-columns.md) are not in
    // the JS heap's used size: reported beside it.
    let buffers = 0;
    const heap = async (): Promise<number> => {
      await cdp.send('HeapProfiler.collectGarbage');
      const usage = await cdp.send('Runtime.getHeapUsage');
      buffers = usage.backingStorageSize ?? 0;
      return usage.usedSize;
    };
    await page.goto(`${site.url}?devices=${ids.join(',')}`);
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 30_000 });

    // Every device at its rate, as `telemetry` frames (the direct mode's frame, one per reading), in ticks of 100 ms.
    const tickMs = 100;
    const perTick = (plan.ratePerDevice * tickMs) / 1000;
    let seq = 0;
    let sent = 0;
    const t0 = Date.now();
    let ticks = 0;
    feeder = setInterval(() => {
      // Catch up after a late timer, so the offered rate holds.
      const due = Math.floor((Date.now() - t0) / tickMs) + 1;
      for (; ticks < due; ticks++) {
        seq++;
        const ts = t0 + ticks * tickMs;
        for (const deviceId of ids) {
          for (let k = 0; k < perTick; k++) {
            const phase = seq + k / perTick;
            gateway.send({ type: 'telemetry', id: `${deviceId}-${seq}-${k}`, deviceId, ts, receivedAt: ts, data: { temperature: 20 + 3 * Math.sin(phase / 20), humidity: 45 + 10 * Math.cos(phase / 33), seq: seq * perTick + k } });
            sent++;
          }
        }
      }
    }, tickMs);

    // Every device's range charts holding readings (charts off screen are built when they scroll in).
    const holding = () => page.locator('[data-testid="range-charts"]').evaluateAll((nodes) => nodes.filter((n) => Number((n as HTMLElement).dataset.points) > 0).length);
    const deadline = Date.now() + 60_000;
    while ((await holding()) < plan.devices) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${plan.devices} devices' range charts`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, plan.warmupSeconds * 1000));
    const charts = await page.locator('[data-testid="range-chart"]').count();
    const onScreen = async () => page.locator('[data-testid="range-charts"]:not([data-on-screen="false"]) [data-testid="range-chart"]').count();
    if (process.env.PINNED_PROFILE) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const { profile } = await cdp.send('Profiler.stop');
      const self = new Map<string, number>();
      const dt = new Map<number, number>();
      profile.samples?.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas?.[i] ?? 0)));
      for (const node of profile.nodes) {
        const key = `${node.callFrame.functionName || '(anon)'} ${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber}:${node.callFrame.columnNumber}`;
        self.set(key, (self.get(key) ?? 0) + (dt.get(node.id) ?? 0));
      }
      const total = [...self.values()].reduce((a, b) => a + b, 0);
      for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) progress(`profile ${(v / 1000).toFixed(0)} ms ${((100 * v) / total).toFixed(1)}% ${k}`);
    }
    const heapStart = await heap();
    const buffersStart = buffers;
    progress(`pinnedCharts: ${plan.devices} devices × ${plan.ratePerDevice}/s, ${charts} range charts built, ${await onScreen()} on or near the screen; heap after warm-up ${(heapStart / MB).toFixed(1)} MB`);
    // Frames counted in the page, per 5 s interval. A string, not a function: tsx names inner functions with a helper the page does not have.
    await page.evaluate(`(() => {
      const w = window;
      w.__frames = [];
      let count = 0;
      let start = performance.now();
      function frame(now) {
        count++;
        if (now - start >= 5000) {
          w.__frames.push((count * 1000) / (now - start));
          count = 0;
          start = now;
        }
        requestAnimationFrame(frame);
      }
      requestAnimationFrame(frame);
    })()`);
    const started = Date.now();
    const fillAt = 5 * 60_000;
    let heapFilled: number | undefined;
    while (Date.now() - started < plan.seconds * 1000) {
      const left = plan.seconds * 1000 - (Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, left)));
      const intervals = (await page.evaluate('window.__frames')) as number[];
      if (heapFilled === undefined && Date.now() - t0 >= fillAt + 10_000) heapFilled = await heap();
      progress(`pinnedCharts: ${Math.round((Date.now() - started) / 1000)} s, last 5 s ${round(intervals.at(-1) ?? 0)} frames/s`);
    }
    const intervals = (await page.evaluate('window.__frames')) as number[];
    const heapEnd = await heap();
    clearInterval(feeder);
    feeder = undefined;
    const elapsed = (Date.now() - t0) / 1000;
    const mean = intervals.length === 0 ? 0 : intervals.reduce((a, b) => a + b, 0) / intervals.length;
    const worst = intervals.length === 0 ? 0 : Math.min(...intervals);
    const points = await page.locator('[data-testid="range-charts"]').first().getAttribute('data-points');
    const rows: PinnedChartsRow[] = [
      {
        figure: 'pinned charts: frames/s',
        value: round(mean),
        unit: 'frames/s',
        detail: `mean of ${intervals.length} × 5 s, worst ${round(worst)}; ${plan.devices} devices × ${plan.ratePerDevice} readings/s (${round(sent / elapsed)}/s offered), ${plan.devices * 2} range charts, ${await onScreen()} of them on or near the 1280×1000 screen and drawn (target ≥ 55)`,
      },
      {
        figure: 'pinned charts: JS heap growth',
        value: round((heapEnd - heapStart) / MB),
        unit: 'MB',
        detail: `${(heapStart / MB).toFixed(1)} → ${(heapEnd / MB).toFixed(1)} MB after GC over ${plan.seconds >= 60 ? `${round(plan.seconds / 60)} min` : `${plan.seconds} s`}; a device's charts hold ${points} readings at the end (target ≤ 10 MB over 10 min)`,
      },
    ];
    rows.push({
      figure: 'pinned charts: heap + ArrayBuffers growth',
      value: round((heapEnd + buffers - heapStart - buffersStart) / MB),
      unit: 'MB',
      detail: `JS heap as above plus ArrayBuffer backing stores ${(buffersStart / MB).toFixed(1)} → ${(buffers / MB).toFixed(1)} MB (CDP Runtime.getHeapUsage backingStorageSize)`,
    });
    if (heapFilled !== undefined) {
      rows.push({ figure: 'pinned charts: heap growth, window full → end', value: round((heapEnd - heapFilled) / MB), unit: 'MB', detail: `${(heapFilled / MB).toFixed(1)} → ${(heapEnd / MB).toFixed(1)} MB: after the 5-minute live window first filled` });
    }
    return rows;
  } finally {
    if (feeder) clearInterval(feeder);
    await browser.close().catch(() => undefined);
    await gateway.close();
    await site.close();
    await rm(dist, { recursive: true, force: true });
  }
};
