/**
 * One device: name, state, latest values and counters. Its charts are the range charts (one per field,
 * ../charts/fieldCharts.ts), which the page places in the card after it.
 */
import { formatAgo, formatMs, formatValue } from '../format.js';
import type { DeviceSeries } from '../telemetryStore.js';
import { h, setAttr, setText } from './dom.js';
import { fieldColor } from './palette.js';

export type DeviceState = 'live' | 'stale' | 'waiting' | 'off' | 'pending';

const STATE_TEXT: Record<DeviceState, string> = {
  live: 'live',
  stale: 'stale',
  waiting: 'no data yet',
  off: 'unsubscribed',
  pending: 'updating…',
};

// Values beyond this many are summarised: a card should not grow without bound.
const MAX_VALUES = 10;

export class DeviceCard {
  readonly root: HTMLElement;
  private readonly seen: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private readonly values: HTMLElement;
  private readonly messages: HTMLElement;
  private readonly latency: HTMLElement;
  private readonly gaps: HTMLElement;
  private drawnVersion = -1;
  private valuesKey = '';
  private device: DeviceSeries | undefined;
  visible = true;

  constructor(
    readonly deviceId: string,
    onToggle: (deviceId: string) => void,
  ) {
    this.badge = h('span', { class: 'badge', 'data-testid': 'device-state' });
    this.seen = h('span', { class: 'seen', 'data-testid': 'device-last-seen' }, '—');
    this.toggle = h('button', { type: 'button', class: 'toggle', 'data-testid': 'device-toggle', onclick: () => onToggle(deviceId) }, 'Unsubscribe');
    this.values = h('dl', { class: 'values', 'data-testid': 'device-values' });
    this.messages = h('span', { 'data-testid': 'device-messages' });
    this.latency = h('span', { 'data-testid': 'device-latency' });
    this.gaps = h('span', { class: 'gaps', 'data-testid': 'device-gaps', hidden: true });
    this.root = h(
      'article',
      { class: 'card', 'data-testid': 'device-card', 'data-device-id': deviceId, 'data-state': 'waiting' },
      h(
        'header',
        {},
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        h('h2', { class: 'name', title: deviceId }, deviceId),
        this.badge,
        // The alarms panel's rule editor, for this device (dashboard/src/alarms/alarmsPanel.ts listens).
        h('button', { type: 'button', class: 'toggle', 'data-testid': 'device-alarm-rule', onclick: () => document.dispatchEvent(new CustomEvent('alarm-rule-edit', { detail: { deviceId } })) }, 'Alarm rule'),
        this.toggle,
      ),
      h('div', { class: 'subline' }, this.seen),
      this.values,
      h('footer', { class: 'meta' }, this.messages, this.latency, this.gaps),
    );
  }

  /** Cheap per-frame update; the values are written only when the data moved and the card is on screen. */
  update(device: DeviceSeries | undefined, state: DeviceState, now: number): void {
    this.device = device;
    setAttr(this.root, 'data-state', state);
    setText(this.badge, STATE_TEXT[state]);
    setText(this.toggle, state === 'off' ? 'Subscribe' : 'Unsubscribe');
    setAttr(this.toggle, 'aria-pressed', state === 'off' ? 'false' : 'true');
    if (!device) {
      setText(this.seen, state === 'off' ? 'not receiving' : 'waiting for the first message');
      return;
    }
    setText(this.seen, `seen ${formatAgo(now - device.lastSeen)}`);
    this.seen.title = `device time ${new Date(device.lastTs).toISOString()}`;
    if (device.version === this.drawnVersion || !this.visible) return;
    this.drawnVersion = device.version;
    this.renderValues();
    setText(this.messages, `${device.messages.toLocaleString()} msg`);
    setText(this.latency, device.lastLatencyMs === undefined ? '' : `latency ${formatMs(device.lastLatencyMs)}`);
    this.gaps.hidden = device.gaps === 0;
    setText(this.gaps, device.gaps === 0 ? '' : `⚠ ${device.missed.toLocaleString()} missed (seq gaps ×${device.gaps})`);
  }

  destroy(): void {
    this.root.remove();
  }

  /** Latest values. */
  private renderValues(): void {
    const device = this.device;
    if (!device) return;
    const entries = orderFields(device);
    const shown = entries.slice(0, MAX_VALUES);
    const key = shown.map(([k]) => k).join('\n');
    if (key !== this.valuesKey) {
      this.valuesKey = key;
      this.values.replaceChildren(
        ...shown.map(([field]) => {
          const charted = device.fields.includes(field);
          return h(
            'div',
            { class: 'value', 'data-field': field },
            h('dt', {}, ...(charted ? [h('i', { class: 'swatch', style: `background:${fieldColor(field)}` })] : []), field),
            h('dd', { 'data-testid': 'device-value' }),
          );
        }),
      );
    }
    shown.forEach(([, value], i) => setText(this.values.children[i].lastElementChild as Element, value === null || value === undefined ? '–' : formatValue(value)));
  }
}

/** Charted fields first, in chart order, then everything else the device sent. */
const orderFields = (device: DeviceSeries): [string, unknown][] => {
  const rest = Object.keys(device.latest).filter((k) => !device.fields.includes(k));
  return [...device.fields, ...rest].map((k) => [k, device.latest[k]]);
};
