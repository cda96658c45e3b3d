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

export const alarmOverlayPlugin = (deviceId: string, state: () => AlarmState | undefined = () => chartAlarms.state): uPlot.Plugin => ({
  hooks: {
    draw: [
      (u: uPlot) => {
        const alarms = state();
        if (!alarms) return;
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        ctx.save();
        ctx.lineWidth = 1 * devicePixelRatio;
        for (const t of alarms.thresholds(deviceId)) {
          if (!u.scales[t.field]) continue;
          const y = u.valToPos(t.value, t.field, true);
          if (!(y >= top && y <= top + height)) continue;
          ctx.strokeStyle = COLORS.ALARM;
          ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(left, y);
          ctx.lineTo(left + width, y);
          ctx.stroke();
        }
        ctx.setLineDash([]);
        for (const m of alarms.transitions(deviceId)) {
          const x = u.valToPos(m.ts, 'x', true);
          if (!(x >= left && x <= left + width)) continue;
          ctx.strokeStyle = COLORS[m.state];
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
        }
        ctx.restore();
      },
    ],
  },
});
