/**
 * The device page: the charts of one device (a row opened) or of the pinned ones side by side
 * (`?devices=a,b`), one card each, with each card's alarm area announced to ../shell/hooks.ts.
 */
import type { DeviceSeries } from '../telemetryStore.js';
import { DeviceCard, type DeviceState } from '../view/deviceCard.js';
import { h } from '../view/dom.js';
import { announceDeviceArea, forgetDeviceArea } from '../shell/hooks.js';

export interface DevicePageOptions {
  list: HTMLElement;
  onToggle: (deviceId: string) => void;
  /** A card scrolled into or out of view: its chart draws on the next render. */
  onVisibility?: () => void;
  /** A card was created (its range charts attach here, ../charts/rangeView.ts) or removed. */
  onCardAdded?: (deviceId: string, root: HTMLElement) => void;
  onCardRemoved?: (deviceId: string) => void;
}

export class DevicePage {
  private readonly cards = new Map<string, DeviceCard>();
  private readonly visibility: IntersectionObserver;

  constructor(private readonly options: DevicePageOptions) {
    this.visibility = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const card = this.cards.get((entry.target as HTMLElement).dataset.deviceId ?? '');
        if (card) card.visible = entry.isIntersecting;
      }
      this.options.onVisibility?.();
    });
  }

  get shown(): string[] {
    return [...this.cards.keys()];
  }

  /** Shows exactly `ids`, in that order; cards of other devices are removed. */
  render(ids: readonly string[], device: (id: string) => DeviceSeries | undefined, state: (id: string) => DeviceState, now: number): void {
    for (const [id, card] of this.cards) {
      if (ids.includes(id)) continue;
      this.visibility.unobserve(card.root);
      card.destroy();
      this.cards.delete(id);
      forgetDeviceArea(id);
      this.options.onCardRemoved?.(id);
    }
    ids.forEach((id, index) => {
      let card = this.cards.get(id);
      if (!card) {
        card = new DeviceCard(id, this.options.onToggle);
        this.cards.set(id, card);
        const area = h('div', { class: 'device-alarms', 'data-testid': 'device-alarms', 'data-device-id': id });
        card.root.append(area);
        this.options.list.insertBefore(card.root, this.options.list.children[index] ?? null);
        this.visibility.observe(card.root);
        this.options.onCardAdded?.(id, card.root);
        announceDeviceArea(id, area);
      } else if (this.options.list.children[index] !== card.root) {
        this.options.list.insertBefore(card.root, this.options.list.children[index] ?? null);
      }
      card.update(device(id), state(id), now);
    });
  }

  clear(): void {
    this.render([], () => undefined, () => 'off', 0);
  }
}
