/**
 * The charts' alarm overlay, as a uPlot plugin: each threshold of the
 * device's rules as a dashed line on its field's scale, and each transition
 * as a vertical mark (red for ALARM, amber for PENDING, green for OK). Any
 * chart calls it with its device id; it reads the page's AlarmState.
 * https://github.com/leeoniya/uPlot/tree/master/docs#hooks
 */
import type uPlot from 'uplot';
import type { AlarmState } from './alarmState.js';

const COLORS = { ALARM: '#e03131', PENDING: '#f59f00', OK: '#2f9e44' } as const;

/** The page's alarm state, set by the alarms panel; charts read it through the plugin. */
export const chartAlarms: { state: AlarmState | undefined } = { state: undefined };

/**
 * A chart of one field (the range charts, ../charts/fieldCharts.ts): that field's thresholds on the chart's value
 * scale, and the marks of that field's transitions and of field-less (silent) rules'. Without it, every field's
 * thresholds on the scale named after the field.
 */
export interface OverlayField {
  field: string;
  scale: string;
}

export const alarmOverlayPlugin = (deviceId: string, state: () => AlarmState | undefined = () => chartAlarms.state, only?: OverlayField): uPlot.Plugin => ({
  hooks: {
    draw: [
      (u: uPlot) => {
        const alarms = state();
        if (!alarms) return;
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        let lines = 0;
        let marks = 0;
        ctx.save();
        ctx.lineWidth = 1 * devicePixelRatio;
        for (const t of alarms.thresholds(deviceId)) {
          if (only && t.field !== only.field) continue;
          const scale = only ? only.scale : t.field;
          if (!u.scales[scale]) continue;
          const y = u.valToPos(t.value, scale, true);
          if (!(y >= top && y <= top + height)) continue;
          lines++;
          ctx.strokeStyle = COLORS.ALARM;
          ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(left, y);
          ctx.lineTo(left + width, y);
          ctx.stroke();
        }
        ctx.setLineDash([]);
        for (const m of alarms.transitions(deviceId)) {
          if (only && m.field !== null && m.field !== only.field) continue;
          const x = u.valToPos(m.ts, 'x', true);
          if (!(x >= left && x <= left + width)) continue;
          marks++;
          ctx.strokeStyle = COLORS[m.state];
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
        }
        ctx.restore();
        // What the canvas shows, for the page's specs and anyone inspecting it.
        u.root.dataset.alarmLines = String(lines);
        u.root.dataset.alarmMarks = String(marks);
      },
    ],
  },
});
