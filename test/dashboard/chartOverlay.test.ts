/**
 * The alarm overlay on a range chart of one field (dashboard/src/alarms/chartOverlay.ts): that field's
 * thresholds on the chart's value scale, the marks of that field's transitions and of silent rules', and the
 * transitions an `alarms` reply with a device window carries (past ones, not seen live) among them.
 */
import { expect } from 'chai';
import type uPlot from 'uplot';
import { alarmOverlayPlugin } from '../../dashboard/src/alarms/chartOverlay.js';
import { AlarmState } from '../../dashboard/src/alarms/alarmState.js';

/** A uPlot as the plugin's draw hook sees it: a 100 × 100 box, x from 0 to 1000, the value scale 'v' from 0 to 100. */
const fakePlot = () => {
  const strokes: { x0: number; y0: number; x1: number; y1: number }[] = [];
  let from = { x: 0, y: 0 };
  const ctx = {
    save() {},
    restore() {},
    setLineDash() {},
    beginPath() {},
    moveTo(x: number, y: number) {
      from = { x, y };
    },
    lineTo(x: number, y: number) {
      strokes.push({ x0: from.x, y0: from.y, x1: x, y1: y });
    },
    stroke() {},
    lineWidth: 1,
    strokeStyle: '',
  };
  const plot = {
    ctx,
    bbox: { left: 0, top: 0, width: 100, height: 100 },
    scales: { x: {}, v: {} },
    valToPos: (value: number, scale: string) => (scale === 'x' ? value / 10 : 100 - value),
    root: { dataset: {} as Record<string, string> },
  };
  return { plot: plot as unknown as uPlot, strokes, dataset: plot.root.dataset };
};

/** Runs the plugin's draw hook on a chart. */
const drawOn = (plugin: uPlot.Plugin, plot: uPlot) => {
  const hook = plugin.hooks.draw;
  for (const fn of Array.isArray(hook) ? hook : [hook]) fn?.(plot);
};

const rule = (id: string, field: string | null, extra: Record<string, unknown>) => ({ id, deviceId: 'dev-1', field, ...extra });
const transition = (ruleId: string, field: string | null, state: string, ts: number) => ({ type: 'alarm', ruleId, deviceId: 'dev-1', field, state, value: 1, ts, since: ts });

describe('dashboard alarm overlay on a range chart of one field', () => {
  before(() => {
    (globalThis as { devicePixelRatio?: number }).devicePixelRatio = 1;
  });

  it("draws the field's threshold on the value scale, and its transitions and silent rules' marks, from the alarms reply", () => {
    const state = new AlarmState();
    state.receive({
      type: 'alarms',
      rules: [rule('warm', 'temperature', { above: 30 }), rule('dry', 'humidity', { below: 20 }), rule('quiet', null, { silentSeconds: 60 })],
      active: [],
      deviceId: 'dev-1',
      transitions: [transition('warm', 'temperature', 'ALARM', 200), transition('warm', 'temperature', 'OK', 400), transition('dry', 'humidity', 'ALARM', 300), transition('quiet', null, 'ALARM', 600)],
    });
    const temperature = fakePlot();
    drawOn(alarmOverlayPlugin('dev-1', () => state, { field: 'temperature', scale: 'v' }), temperature.plot);
    expect(temperature.dataset).to.deep.equal({ alarmLines: '1', alarmMarks: '3' });
    // The threshold: a horizontal line at 30 on 'v'; the marks: vertical lines at 200, 400 and 600 on x.
    expect(temperature.strokes).to.deep.equal([
      { x0: 0, y0: 70, x1: 100, y1: 70 },
      { x0: 20, y0: 0, x1: 20, y1: 100 },
      { x0: 40, y0: 0, x1: 40, y1: 100 },
      { x0: 60, y0: 0, x1: 60, y1: 100 },
    ]);

    const humidity = fakePlot();
    drawOn(alarmOverlayPlugin('dev-1', () => state, { field: 'humidity', scale: 'v' }), humidity.plot);
    expect(humidity.dataset).to.deep.equal({ alarmLines: '1', alarmMarks: '2' });
  });

  it('draws nothing for another device, nor a threshold off its scale or a mark outside the window', () => {
    const state = new AlarmState();
    state.receive({ type: 'alarms', rules: [rule('warm', 'temperature', { above: 130 })], active: [], deviceId: 'dev-1', transitions: [transition('warm', 'temperature', 'ALARM', 5000)] });
    const chart = fakePlot();
    drawOn(alarmOverlayPlugin('dev-1', () => state, { field: 'temperature', scale: 'v' }), chart.plot);
    expect(chart.dataset).to.deep.equal({ alarmLines: '0', alarmMarks: '0' });
    const other = fakePlot();
    drawOn(alarmOverlayPlugin('dev-2', () => state, { field: 'temperature', scale: 'v' }), other.plot);
    expect(other.strokes).to.deep.equal([]);
  });
});
