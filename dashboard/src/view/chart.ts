/** One uPlot line chart per device: one series per numeric field, time on x. */
import uPlot from 'uplot';
import { gapThreshold, paddedRange, timeGaps } from '../chartMath.js';
import type { DeviceSeries } from '../telemetryStore.js';
import { fieldColor } from './palette.js';
import { alarmOverlayPlugin } from '../alarms/chartOverlay.js';

const HEIGHT = 180;

const cssVar = (name: string, fallback: string): string =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

export class DeviceChart {
  private plot: uPlot | undefined;
  private fieldsKey = '';
  private width = 0;
  private readonly resize: ResizeObserver;

  /** @param onHover the index of the point under the cursor, or null when the cursor leaves */
  constructor(
    readonly container: HTMLElement,
    private readonly onHover: (index: number | null) => void,
  ) {
    this.resize = new ResizeObserver(() => this.fit());
  }

  /** Redraws with the device's current window; rebuilds the chart when its fields changed. */
  draw(device: DeviceSeries): void {
    if (device.fields.length === 0) return;
    const key = device.fields.join('\n');
    if (key !== this.fieldsKey) this.build(device, key);
    this.plot?.setData([device.x, ...device.y] as uPlot.AlignedData);
    this.container.dataset.points = String(device.x.length);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }

  private build(device: DeviceSeries, key: string): void {
    this.plot?.destroy();
    this.fieldsKey = key;
    this.width = Math.max(200, this.container.clientWidth);
    const grid = cssVar('--grid', 'rgba(128,128,128,0.18)');
    const ink = cssVar('--muted', '#868e96');
    const font = '11px system-ui, sans-serif';
    const fields = device.fields;
    // Each field on its own scale: temperature in tens and battery in percent would flatten
    // each other on a shared one. The first two fields get an axis each, in their colour
    // (left, right); the values above the chart give every field's number.
    const yAxis = (field: string, side: 1 | 3, showGrid: boolean): uPlot.Axis => ({
      scale: field,
      side,
      stroke: fieldColor(field),
      grid: { show: showGrid, stroke: grid, width: 1 },
      ticks: { show: false },
      font,
      size: 46,
      space: 28,
    });
    const options: uPlot.Options = {
      width: this.width,
      height: HEIGHT,
      ms: 1,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true },
        ...Object.fromEntries(fields.map((field) => [field, { auto: true, range: (_u: uPlot, min: number, max: number) => paddedRange(min, max) }])),
      },
      axes: [
        { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font, space: 60 },
        yAxis(fields[0], 3, true),
        ...(fields.length > 1 ? [yAxis(fields[1], 1, false)] : []),
      ],
      series: [
        {},
        ...fields.map((field) => ({
          label: field,
          scale: field,
          stroke: fieldColor(field),
          width: 1.75,
          pxAlign: 0,
          // A missing field (null) is bridged; a silence in time breaks the line (see breaks()).
          spanGaps: false,
          gaps: (u: uPlot, _series: number, idx0: number, idx1: number) => this.breaks(u, idx0, idx1),
          points: { show: false },
        })),
      ],
      hooks: {
        setCursor: [(u: uPlot) => this.onHover(u.cursor.idx ?? null)],
      },
      // Thresholds and transition marks of the device's alarm rules.
      plugins: [alarmOverlayPlugin(device.deviceId)],
    };
    this.plot = new uPlot(options, [device.x, ...device.y] as uPlot.AlignedData, this.container);
    this.resize.observe(this.container);
  }

  /** Gaps in canvas pixels, as uPlot's clip wants them: only where time, not a field, went missing. */
  private breaks(u: uPlot, idx0: number, idx1: number): uPlot.Series.Gaps {
    const x = u.data[0] as number[];
    const threshold = gapThreshold(x);
    return timeGaps(x, idx0, idx1, threshold).map(([a, b]) => [Math.round(u.valToPos(x[a], 'x', true)) + 1, Math.round(u.valToPos(x[b], 'x', true)) - 1]);
  }

  private fit(): void {
    const width = Math.max(200, this.container.clientWidth);
    if (!this.plot || Math.abs(width - this.width) < 2) return;
    this.width = width;
    this.plot.setSize({ width, height: HEIGHT });
  }
}
