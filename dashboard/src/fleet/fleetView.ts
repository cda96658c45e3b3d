/**
 * The fleet view: counts, a search by id, the pin list, and the virtualised table (./fleetTable.ts).
 * The page opens here; a row opens that device's page, a pin adds it to `?devices=`.
 */
import { h, setAttr, setText } from '../view/dom.js';
import { formatCounts } from './fleetRows.js';
import { FleetTable, type FleetTableOptions } from './fleetTable.js';

export interface FleetViewOptions extends Omit<FleetTableOptions, 'isPinned' | 'onPin'> {
  pins: () => readonly string[];
  onPin: (deviceId: string) => void;
  onOpenPinned: () => void;
}

export class FleetView {
  readonly root: HTMLElement;
  readonly table: FleetTable;
  private readonly counts: HTMLElement;
  private readonly pinned: HTMLButtonElement;
  private readonly loading: HTMLElement;

  constructor(options: FleetViewOptions) {
    this.table = new FleetTable({ ...options, isPinned: (id) => options.pins().includes(id), onPin: options.onPin });
    const search = h('input', { type: 'search', 'data-testid': 'fleet-search', placeholder: 'Search devices by id', 'aria-label': 'Search devices by id', spellcheck: 'false', autocomplete: 'off' });
    search.addEventListener('input', () => this.table.setQuery(search.value));
    this.counts = h('span', { class: 'fleet-counts', 'data-testid': 'fleet-view-counts' });
    this.loading = h('span', { class: 'fleet-loading', 'data-testid': 'fleet-loading', hidden: true }, 'loading devices…');
    this.pinned = h('button', { type: 'button', class: 'primary', 'data-testid': 'open-pinned', onclick: () => options.onOpenPinned() }, 'Open pinned');
    this.root = h('section', { class: 'fleet', 'aria-label': 'Fleet' }, h('div', { class: 'fleet-toolbar' }, search, this.counts, this.loading, this.pinned), this.table.root);
  }

  /** While the `devices` cursor still has pages to fetch. */
  set loadingMore(loading: boolean) {
    this.loading.hidden = !loading;
  }

  render(now: number, pins: readonly string[]): void {
    this.table.render(now);
    setText(this.counts, formatCounts(this.table.counts));
    this.pinned.disabled = pins.length === 0;
    setText(this.pinned, pins.length === 0 ? 'Pin devices to compare them' : `Open ${pins.length} pinned`);
    setAttr(this.root, 'data-total', String(this.table.counts.total));
  }
}
