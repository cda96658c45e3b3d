/** The pipeline's own figures, out of the header: latency p50/p95, rate, duplicates, last message. */
import { formatAgo, formatClock, formatMs, formatRate } from '../format.js';
import type { DashboardModel } from '../model.js';
import { byTestId, setText } from '../view/dom.js';

export class DiagnosticsPanel {
  private readonly ui = {
    lastMessage: byTestId('last-message'),
    latency: byTestId('latency'),
    rate: byTestId('rate'),
    deviceCount: byTestId('device-count'),
    duplicates: byTestId('duplicates'),
  };

  render(model: DashboardModel, now: number, deviceCount: number): void {
    const ui = this.ui;
    const last = model.lastTelemetryAt;
    setText(ui.lastMessage, last === undefined ? '—' : `${formatClock(last)} · ${formatAgo(now - last)}`);
    const stats = model.latency.stats();
    setText(ui.latency, stats ? `${formatMs(stats.p50)} / ${formatMs(stats.p95)}` : '—');
    ui.latency.title = stats ? `last ${stats.count} messages: min ${formatMs(stats.min)}, max ${formatMs(stats.max)} (page clock − device ts)` : '';
    setText(ui.rate, `${formatRate(model.rate(now))} msg/s`);
    setText(ui.deviceCount, deviceCount.toLocaleString());
    setText(ui.duplicates, model.counters.duplicates.toLocaleString());
  }
}
