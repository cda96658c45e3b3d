/**
 * The live window's memory on the page, without a browser (issue 23's "Live charts" target: heap growth
 * <= 10 MB over 10 minutes for 50 pinned charts at 10 readings/s). Feeds 50 devices x 3,000 readings (the
 * 5-minute window at 10/s), shaped like bench/pinnedCharts.ts's frames, through the calls the page makes:
 * DashboardModel.apply (TelemetryStore.ingest) and RangeSeries.addLive (what charts/rangeView.ts's `live`
 * does), collects garbage, and prints the memory (JS heap and ArrayBuffers) each structure holds per reading.
 * In the live range the range charts draw the store's window (charts/storeSeries.ts): the page holds the store
 * only. A range series of its own is held for the other ranges that include now (1 h, 24 h, ...).
 *
 *   node --expose-gc --import tsx bench/liveWindowMemory.ts [devices] [readingsPerDevice]
 *
 * A development tool, not an `npm run bench` section: it measures Node's heap (V8 like Chromium's, but
 * without pointer compression, so object-heavy layouts cost more here than on the page).
 */
import { RangeSeries } from '../dashboard/src/charts/rangeSeries.js';
import type { TelemetryFrame } from '../dashboard/src/frames.js';
import { DashboardModel } from '../dashboard/src/model.js';
import { StoreSeries } from '../dashboard/src/charts/storeSeries.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
// The JS heap plus ArrayBuffer backing stores (typed columns live there, outside heapUsed).
const heap = (): number => {
  for (let i = 0; i < 3; i++) gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
};

const devices = Number(process.argv[2] ?? 50);
const perDevice = Number(process.argv[3] ?? 3_000);
const readings = devices * perDevice;
const ids = Array.from({ length: devices }, (_, i) => `bench-pin-${String(i).padStart(3, '0')}`);
const t0 = Date.UTC(2026, 0, 1);
const tickMs = 100;

/** The pinnedCharts bench's frame for tick `seq` of a device (one reading per 100 ms tick at 10/s). */
const frameAt = (deviceId: string, seq: number): TelemetryFrame => {
  const ts = t0 + seq * tickMs;
  return {
    type: 'telemetry',
    id: `${deviceId}-${seq}-0`,
    deviceId,
    ts,
    receivedAt: ts,
    data: { temperature: 20 + 3 * Math.sin(seq / 20), humidity: 45 + 10 * Math.cos(seq / 33), seq },
  } as TelemetryFrame;
};

// What the page holds besides the window (the model's recent-ids ring and arrival times are bounded at
// 10,000 each, whatever the window) is measured with the store: it is the same on both sides of a change.
const before = heap();
const model = new DashboardModel({ scope: ids });
for (let seq = 1; seq <= perDevice; seq++) {
  const now = t0 + seq * tickMs;
  for (const id of ids) model.apply(frameAt(id, seq), now);
}
const afterStore = heap();

const series = new Map(ids.map((id) => [id, new RangeSeries(id)]));
for (let seq = 1; seq <= perDevice; seq++) {
  for (const id of ids) {
    // As rangeView's `live` builds it from the frame (a fresh frame object: the page parses each one).
    const frame = JSON.parse(JSON.stringify(frameAt(id, seq))) as TelemetryFrame;
    series.get(id)!.addLive({ ts: frame.ts, data: frame.data, id: frame.id });
  }
}
const afterSeries = heap();

// Each chart draws a view of its columns: check that drawing keeps nothing more (live: the store's, through StoreSeries).
for (const s of series.values()) for (const field of s.fields().charted) s.columns(field);
const live = ids.map((id) => new StoreSeries(id, () => model.store.device(id)));
for (const s of live) for (const field of s.fields().charted) s.columns(field);
const afterDraw = heap();

const perReading = (bytes: number) => (bytes / readings).toFixed(1);
const storeBytes = afterStore - before;
const seriesBytes = afterSeries - afterStore;
const columns = (o: unknown) => (typeof (o as { columnBytes?: () => number }).columnBytes === 'function' ? (o as { columnBytes: () => number }).columnBytes() : Number.NaN);
const seriesColumns = [...series.values()].reduce((sum, s) => sum + columns(s), 0);
console.log(`${devices} devices x ${perDevice} readings = ${readings.toLocaleString('en-US')} readings (node ${process.version})`);
console.log(`model + TelemetryStore: ${(storeBytes / 1e6).toFixed(2)} MB, ${perReading(storeBytes)} B/reading (columns ${perReading(columns(model.store))} B/reading): the live range holds this only`);
console.log(`RangeSeries x ${devices}:    ${(seriesBytes / 1e6).toFixed(2)} MB, ${perReading(seriesBytes)} B/reading (columns ${perReading(seriesColumns)} B/reading): held too for a range such as 1 h`);
console.log(`both:                   ${((storeBytes + seriesBytes) / 1e6).toFixed(2)} MB, ${perReading(storeBytes + seriesBytes)} B/reading`);
console.log(`after one draw of every chart: ${((afterDraw - afterSeries) / 1e6).toFixed(2)} MB more`);
// Keep both alive to the end.
if (model.store.size !== devices || series.size !== devices) throw new Error('lost a device');
