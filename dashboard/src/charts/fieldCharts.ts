/**
 * One device's charts over the page's time range: one uPlot chart per numeric field, each on its own
 * visible axis (no series is drawn against a scale the page does not show), with the bucket's min/max
 * as a band, so a spike stays visible at every zoom. Every chart on the page shares one cursor
 * (cursor.sync); dragging across any of them asks the page to zoom every chart to that window, and a
 * double-click asks for live again.
 */
import uPlot from 'uplot';
import { alarmOverlayPlugin, chartAlarms } from '../alarms/chartOverlay.js';
import { paddedRange } from '../chartMath.js';
import { h } from '../view/dom.js';
import { fieldColor } from '../view/palette.js';
import type { ChartSeries, FieldColumns } from './rangeSeries.js';

const HEIGHT = 120;
// Every range chart on the page moves one cursor.
export const CURSOR_SYNC_KEY = 'page-range';

export interface FieldChartsHooks {
  /** The x window to draw, at the moment of drawing (a live range scrolls). */
  window: () => { since: number; until: number };
  onZoom: (from: number, to: number) => void;
  onLive: () => void;
}

const withAlpha = (color: string, alpha: number): string => {
  const hex = /^#([0-9a-f]{6})$/i.exec(color);
  if (!hex) return color;
  const n = Number.parseInt(hex[1]!, 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
};

export class FieldCharts {
  readonly root: HTMLElement;
  private readonly charts = new Map<string, { box: HTMLElement; plot: uPlot }>();
  private readonly valuesBox: HTMLElement;
  private drawn = -1;
  private drawnAt = -Infinity;
  private fieldsKey = '';
  private valuesKey = '';
  /**
   * Off screen (50 pinned devices are a long page), the charts are not drawn: a chart that scrolls into view is
   * drawn then. Drawing every chart of every device at 10 readings/s each held a page far under 60 frames/s
   * (bench/pinnedCharts.ts).
   */
  private onScreen = true;
  private readonly visibility: IntersectionObserver | undefined;

  constructor(
    private series: ChartSeries,
    private readonly hooks: FieldChartsHooks,
  ) {
    this.valuesBox = h('dl', { class: 'range-values', 'data-testid': 'range-values' });
    this.root = h('div', { class: 'range-charts', 'data-testid': 'range-charts', 'data-device-id': series.deviceId }, this.valuesBox);
    if (typeof IntersectionObserver === 'function') {
      // A margin of a screen: charts about to scroll in are drawn already.
      this.visibility = new IntersectionObserver(
        (entries) => {
          const onScreen = entries.some((e) => e.isIntersecting);
          if (onScreen === this.onScreen) return;
          this.onScreen = onScreen;
          this.root.dataset.onScreen = String(onScreen);
          if (onScreen) this.draw(true);
        },
        { rootMargin: '100% 0px' },
      );
      this.visibility.observe(this.root);
    }
  }

  /**
   * Redraws when the data moved (or `force`: a scrolling window). With `throttleMs`, not again within that long
   * of the last draw: false then (the caller asks again later); true when drawn or nothing was due.
   */
  draw(force = false, throttleMs = 0): boolean {
    // Readings held (every field's), whatever is charted or drawn: what the page's specs count.
    this.root.dataset.points = String(this.series.length);
    if (!this.onScreen) return true;
    if (!force && this.series.version === this.drawn) return true;
    const now = performance.now();
    if (!force && throttleMs > 0 && now - this.drawnAt < throttleMs) return false;
    this.drawnAt = now;
    this.drawn = this.series.version;
    const { charted, values } = this.series.fields();
    const key = charted.join('\n');
    if (key !== this.fieldsKey) {
      this.fieldsKey = key;
      for (const [field, chart] of this.charts) {
        if (!charted.includes(field)) {
          chart.plot.destroy();
          chart.box.remove();
          this.charts.delete(field);
        }
      }
    }
    const { since, until } = this.hooks.window();
    this.root.dataset.resolution = this.series.resolution;
    this.root.dataset.from = String(Math.round(since));
    this.root.dataset.to = String(Math.round(until));
    for (const field of charted) {
      const columns = this.series.columns(field);
      let chart = this.charts.get(field);
      if (!chart) {
        chart = this.build(field, columns);
        this.charts.set(field, chart);
      }
      chart.plot.batch(() => {
        chart!.plot.setData([columns.x, columns.y, columns.min, columns.max] as uPlot.AlignedData, false);
        chart!.plot.setScale('x', { min: since, max: until });
      });
      chart.box.dataset.points = String(columns.x.length);
      chart.box.dataset.resolution = this.series.resolution;
    }
    const latest = this.series.latest();
    const valuesKey = values.map((name) => `${name}\n${formatted(latest.get(name))}`).join('\n');
    if (valuesKey === this.valuesKey) return true;
    this.valuesKey = valuesKey;
    this.valuesBox.replaceChildren(
      ...values.map((name) =>
        h('div', { class: 'value', 'data-field': name }, h('dt', {}, name), h('dd', { 'data-testid': 'range-value' }, formatted(latest.get(name)))),
      ),
    );
    return true;
  }

  /** Draws another series of the same device from now on (the range moved into or out of live). */
  setSeries(series: ChartSeries): void {
    if (series === this.series) return;
    this.series = series;
    this.drawn = -1;
    this.valuesKey = '';
    this.draw(true);
  }

  destroy(): void {
    this.visibility?.disconnect();
    for (const { plot } of this.charts.values()) plot.destroy();
    this.charts.clear();
    this.root.remove();
  }

  private build(field: string, columns: FieldColumns): { box: HTMLElement; plot: uPlot } {
    const color = fieldColor(field);
    const box = h('div', { class: 'range-chart', 'data-testid': 'range-chart', 'data-field': field, 'data-points': '0' }, h('div', { class: 'range-chart-title' }, field));
    // Before the plot, in field order.
    this.root.insertBefore(box, this.valuesBox);
    const font = '11px system-ui, sans-serif';
    const grid = 'rgba(128,128,128,0.18)';
    const options: uPlot.Options = {
      width: Math.max(200, this.root.clientWidth || 600),
      height: HEIGHT,
      ms: 1,
      legend: { show: false },
      // The scale keys are fixed ('x' time, 'v' value): a field named x never takes over the time axis.
      // The value scale reaches the field's alarm thresholds too, so their lines are on the chart.
      scales: { x: { time: true }, v: { auto: true, range: (_u, min, max) => paddedRange(...withThresholds(this.series.deviceId, field, min, max)) } },
      axes: [
        { stroke: '#868e96', grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font, space: 70 },
        { scale: 'v', stroke: color, grid: { stroke: grid, width: 1 }, ticks: { show: false }, font, size: 52, space: 24 },
      ],
      series: [
        {},
        { label: field, scale: 'v', stroke: color, width: 1.5, points: { show: false }, spanGaps: false },
        { label: `${field} min`, scale: 'v', stroke: withAlpha(color, 0.25), width: 0.5, points: { show: false } },
        { label: `${field} max`, scale: 'v', stroke: withAlpha(color, 0.25), width: 0.5, points: { show: false } },
      ],
      bands: [{ series: [3, 2], fill: withAlpha(color, 0.15) }],
      cursor: {
        sync: { key: CURSOR_SYNC_KEY },
        drag: { x: true, y: false, setScale: false },
        points: { size: 5 },
      },
      // Thresholds of the field's alarm rules, and transition marks (../alarms/chartOverlay.ts).
      plugins: [alarmOverlayPlugin(this.series.deviceId, undefined, { field, scale: 'v' })],
      hooks: {
        setSelect: [
          (u) => {
            const { left, width } = u.select;
            if (width > 3) this.hooks.onZoom(u.posToVal(left, 'x'), u.posToVal(left + width, 'x'));
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
      },
    };
    const plot = new uPlot(options, [columns.x, columns.y, columns.min, columns.max] as uPlot.AlignedData, box);
    plot.over.addEventListener('dblclick', () => this.hooks.onLive());
    return { box, plot };
  }
}

const withThresholds = (deviceId: string, field: string, min: number | null, max: number | null): [number | null, number | null] => {
  for (const t of chartAlarms.state?.thresholds(deviceId) ?? []) {
    if (t.field !== field || min === null || max === null) continue;
    min = Math.min(min, t.value);
    max = Math.max(max, t.value);
  }
  return [min, max];
};

const formatted = (value: unknown): string => {
  if (value === undefined || value === null) return '–';
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toPrecision(4);
  return typeof value === 'string' ? value : JSON.stringify(value);
};
