/**
 * The live range's charts drawn from the page's live window (../telemetryStore.ts) itself: in the default
 * live range, the gap-fill's history and every live reading already go into the store's columns, so the
 * range charts read those instead of holding a second copy of the window (docs/decisions/022-live-window-columns.md).
 *
 * The store holds a device's charted fields (numbers, `seq` never) at chart time, trimmed to its window; this
 * adapter gives the charts the same view as a range series: counters (by name, or integers that only grow)
 * shown as values, each charted field as views on the columns while every point has it, else compact copies.
 * Pure, so it has specs (test/dashboard/storeSeries.test.ts).
 */
import type { DeviceSeries } from '../telemetryStore.js';
import { type ChartSeries, type FieldColumns, type FieldStats, isCounter, noBand, statsOf } from './rangeSeries.js';

export class StoreSeries implements ChartSeries {
  readonly resolution = 'raw';
  private statsVersion = -1;
  private stats: FieldStats[] = [];

  /** `device` looks the device up on each call: a device the page pins before its first reading appears later. */
  constructor(
    readonly deviceId: string,
    private readonly device: () => DeviceSeries | undefined,
  ) {}

  get length(): number {
    return this.device()?.x.length ?? 0;
  }

  get version(): number {
    return this.device()?.version ?? 0;
  }

  fields(): { charted: string[]; values: string[] } {
    const device = this.device();
    if (!device) return { charted: [], values: [] };
    const stats = this.fieldStats(device);
    const charted = device.fields.filter((name, i) => stats[i]!.numbers > 0 && !isCounter(name, stats[i]!, this.resolution));
    const values = Object.keys(device.latest).filter((name) => !charted.includes(name));
    return { charted, values };
  }

  columns(field: string): FieldColumns {
    const device = this.device();
    const i = device ? device.fields.indexOf(field) : -1;
    if (!device || i < 0) return { x: new Float64Array(0), y: new Float64Array(0), min: [], max: [] };
    const x = device.x;
    const y = device.y[i]!;
    const n = x.length;
    const numbers = this.fieldStats(device)[i]!.numbers;
    // Every point has the field (the live case): the chart draws the columns themselves.
    if (numbers === n) return { x, y, min: noBand(n), max: noBand(n) };
    const xs = new Float64Array(numbers);
    const ys = new Float64Array(numbers);
    for (let k = 0, j = 0; k < n; k++) {
      if (Number.isNaN(y[k]!)) continue;
      xs[j] = x[k]!;
      ys[j++] = y[k]!;
    }
    return { x: xs, y: ys, min: noBand(numbers), max: noBand(numbers) };
  }

  latest(): Map<string, unknown> {
    return new Map(Object.entries(this.device()?.latest ?? {}));
  }

  /** Each charted field's stats over the window, once per change of the device. */
  private fieldStats(device: DeviceSeries): FieldStats[] {
    if (this.statsVersion === device.version && this.stats.length === device.fields.length) return this.stats;
    this.stats = device.y.map(statsOf);
    this.statsVersion = device.version;
    return this.stats;
  }
}
