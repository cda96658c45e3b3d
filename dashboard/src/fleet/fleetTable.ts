/**
 * The fleet table, virtualised: a scroll box with a spacer as tall as every row, and a small pool of row
 * elements moved to the rows on screen. 10,000 devices cost 10,000 entries in an array, never 10,000 DOM
 * rows. The order (sort, search) is rebuilt at most every `reorderMs`, or at once when the user changes it;
 * the rows on screen show live values every frame.
 */
import { formatAgo, formatValue } from '../format.js';
import { h, setAttr, setText } from '../view/dom.js';
import { fieldColor } from '../view/palette.js';
import { type FleetCounts, type FleetRow, type FleetSources, type Sort, type SortKey, buildRows, countRows, rowState, valueColumns, viewRows, visibleWindow } from './fleetRows.js';
import { drawSparkline } from './sparkline.js';

export const ROW_HEIGHT = 34;

const STATE_TEXT: Record<FleetRow['state'], string> = { alarm: 'in alarm', offline: 'offline', silent: 'silent', online: 'online', unknown: 'not heard from' };

export interface SparkSource {
  series(deviceId: string): { x: ArrayLike<number>; y: readonly ArrayLike<number | null>[]; fields: readonly string[]; version: number } | undefined;
}

export interface FleetTableOptions {
  sources: FleetSources;
  spark: SparkSource;
  onOpen: (deviceId: string) => void;
  onPin: (deviceId: string) => void;
  isPinned: (deviceId: string) => boolean;
  reorderMs?: number;
}

interface PooledRow {
  root: HTMLElement;
  id: HTMLElement;
  pin: HTMLInputElement;
  state: HTMLElement;
  seen: HTMLElement;
  values: HTMLElement[];
  canvas: HTMLCanvasElement;
  drawn: string;
  deviceId: string;
}

export class FleetTable {
  readonly root: HTMLElement;
  private readonly head: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly pool: PooledRow[] = [];
  private rows: FleetRow[] = [];
  private shown: FleetRow[] = [];
  private columns: string[] = [];
  private builtAt = -Infinity;
  private dirty = true;
  private query = '';
  private sort: Sort = { key: 'id', descending: false };
  counts: FleetCounts = { online: 0, offline: 0, silent: 0, alarm: 0, unknown: 0, total: 0 };

  constructor(private readonly options: FleetTableOptions) {
    this.head = h('div', { class: 'fleet-row fleet-head', role: 'row', 'data-testid': 'fleet-head' });
    this.spacer = h('div', { class: 'fleet-spacer' });
    this.scroller = h('div', { class: 'fleet-scroll', 'data-testid': 'fleet-scroll', role: 'rowgroup' }, this.spacer);
    this.root = h('div', { class: 'fleet-table', role: 'table', 'aria-label': 'Devices', 'data-testid': 'fleet-table' }, this.head, this.scroller);
    this.scroller.addEventListener('scroll', () => this.paint(Date.now()), { passive: true });
    this.head.addEventListener('click', (event) => {
      const key = (event.target as HTMLElement).closest<HTMLElement>('[data-sort]')?.dataset.sort as SortKey | undefined;
      if (!key) return;
      this.setSort(key === this.sort.key ? { key, descending: !this.sort.descending } : { key, descending: key === 'lastSeen' });
    });
    this.scroller.addEventListener('click', (event) => {
      const target = event.target as HTMLElement;
      const row = target.closest<HTMLElement>('[data-device-id]');
      const id = row?.dataset.deviceId;
      if (!id) return;
      if (target.closest('[data-testid="fleet-pin"]')) this.options.onPin(id);
      else this.options.onOpen(id);
    });
  }

  setQuery(query: string): void {
    this.query = query;
    this.invalidate();
  }

  setSort(sort: Sort): void {
    this.sort = sort;
    this.invalidate();
  }

  /** Something changed that moves rows (a device, a presence, an alarm): reorder on the next tick. */
  changed(): void {
    this.dirty = true;
  }

  /** The user changed the order: rebuild now. */
  invalidate(): void {
    this.builtAt = -Infinity;
    this.dirty = true;
    this.render(Date.now());
  }

  /** Once per animation frame while the fleet is on screen. */
  render(now: number): void {
    const reorderMs = this.options.reorderMs ?? 1000;
    // An empty table fills at once (the first page of devices); after that the order moves at most once per reorderMs.
    if (this.dirty && (now - this.builtAt >= reorderMs || this.rows.length === 0)) {
      this.rows = buildRows(this.options.sources, now);
      this.counts = countRows(this.rows);
      this.shown = viewRows(this.rows, this.query, this.sort);
      this.builtAt = now;
      this.dirty = false;
      const columns = valueColumns(this.rows);
      if (columns.join('\n') !== this.columns.join('\n') || this.head.childElementCount === 0) {
        this.columns = columns;
        this.renderHead();
        for (const pooled of this.pool) pooled.root.remove();
        this.pool.length = 0;
      }
      this.spacer.style.height = `${this.shown.length * ROW_HEIGHT}px`;
      setAttr(this.root, 'data-rows', String(this.shown.length));
    }
    // Time moves even when no frame came: silent and "seen 5 s ago" need a redraw about once a second.
    if (now - this.builtAt >= reorderMs) this.dirty = true;
    this.paint(now);
  }

  private renderHead(): void {
    this.root.style.setProperty('--fleet-columns', `32px minmax(140px, 2fr) minmax(120px, 1.4fr) 110px ${this.columns.map(() => 'minmax(70px, 1fr) ').join('')}110px`);
    const cell = (key: SortKey | undefined, label: string, cls: string) =>
      key
        ? h('button', { type: 'button', class: `cell ${cls}`, 'data-sort': key, role: 'columnheader', 'data-testid': 'fleet-sort' }, label)
        : h('span', { class: `cell ${cls}`, role: 'columnheader' }, label);
    this.head.replaceChildren(
      cell(undefined, '', 'pin'),
      cell('id', 'Device', 'id'),
      cell('state', 'State', 'state'),
      cell('lastSeen', 'Last seen', 'seen'),
      ...this.columns.map((field) => cell(`field:${field}`, field, 'value')),
      cell(undefined, 'Trend', 'spark'),
    );
    this.markSort();
  }

  private markSort(): void {
    this.head.querySelectorAll<HTMLElement>('[data-sort]').forEach((button) => {
      setAttr(button, 'aria-sort', button.dataset.sort === this.sort.key ? (this.sort.descending ? 'descending' : 'ascending') : 'none');
    });
  }

  private newRow(): PooledRow {
    const id = h('span', { class: 'cell id', 'data-testid': 'fleet-id' });
    const pin = h('input', { type: 'checkbox', class: 'pin-box', 'data-testid': 'fleet-pin', 'aria-label': 'Pin' });
    const state = h('span', { class: 'cell state', 'data-testid': 'fleet-state' });
    const seen = h('span', { class: 'cell seen', 'data-testid': 'fleet-seen' });
    const values = this.columns.map((field) => h('span', { class: 'cell value', 'data-field': field }));
    const canvas = h('canvas', { class: 'spark' });
    const root = h('div', { class: 'fleet-row', role: 'row', 'data-testid': 'fleet-row' }, h('label', { class: 'cell pin' }, pin), id, state, seen, ...values, h('span', { class: 'cell spark' }, canvas));
    this.scroller.append(root);
    return { root, id, pin, state, seen, values, canvas, drawn: '', deviceId: '' };
  }

  private paint(now: number): void {
    this.markSort();
    const { start, end } = visibleWindow(this.shown.length, ROW_HEIGHT, this.scroller.scrollTop, this.scroller.clientHeight || 600);
    while (this.pool.length < end - start) this.pool.push(this.newRow());
    for (let i = 0; i < this.pool.length; i++) {
      const pooled = this.pool[i];
      const row = this.shown[start + i];
      if (!row || start + i >= end) {
        pooled.root.hidden = true;
        continue;
      }
      pooled.root.hidden = false;
      pooled.root.style.transform = `translateY(${(start + i) * ROW_HEIGHT}px)`;
      this.paintRow(pooled, row, now);
    }
  }

  private paintRow(pooled: PooledRow, row: FleetRow, now: number): void {
    const { sources, spark } = this.options;
    if (pooled.deviceId !== row.id) {
      pooled.deviceId = row.id;
      pooled.root.dataset.deviceId = row.id;
      pooled.drawn = '';
    }
    setText(pooled.id, row.id);
    pooled.id.title = row.id;
    pooled.pin.checked = this.options.isPinned(row.id);
    // Live: state, values and the sparkline are read now, not at the last reorder.
    const reading = sources.latest(row.id);
    const state = rowState(sources, row.id, now);
    const reason = state === 'offline' ? sources.presence.get(row.id)?.reason : undefined;
    setAttr(pooled.root, 'data-state', state);
    setText(pooled.state, reason ? `offline · ${reason}` : STATE_TEXT[state]);
    const lastSeen = reading?.lastSeen ?? row.lastSeen;
    setText(pooled.seen, lastSeen === undefined ? '—' : formatAgo(now - lastSeen));
    this.columns.forEach((field, i) => {
      const value = reading?.latest[field];
      setText(pooled.values[i], value === undefined || value === null ? '–' : formatValue(value));
    });
    const series = spark.series(row.id);
    const key = series ? `${row.id}\n${series.version}` : row.id;
    if (key !== pooled.drawn) {
      pooled.drawn = key;
      const field = series?.fields[0];
      if (series && field !== undefined) drawSparkline(pooled.canvas, series.x, series.y[0], fieldColor(field));
      else pooled.canvas.getContext('2d')?.clearRect(0, 0, pooled.canvas.width, pooled.canvas.height);
    }
  }
}
