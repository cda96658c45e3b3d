/**
 * The fleet table's rows, DOM-free: one per device the page knows (a reading, a presence, or the token's
 * list), each with its state, last seen and latest values; sorted by any column and filtered by id. The
 * view (./fleetTable.ts) draws only the rows on screen, so this is the whole cost of 10,000 devices.
 */
import type { PresenceBook } from './presenceBook.js';
import type { SilenceDetector } from './silence.js';

/** `alarm` once the alarms module says so (../shell/hooks.ts); `unknown`: no presence and no reading yet. */
export type FleetState = 'alarm' | 'offline' | 'silent' | 'online' | 'unknown';

export interface FleetRow {
  id: string;
  state: FleetState;
  /** Page clock of the latest reading, or the presence change when the device never reported. */
  lastSeen?: number;
  /** Why it went offline (IoT Core's disconnectReason). */
  reason?: string;
  values: Record<string, unknown>;
}

export interface FleetSources {
  ids: () => Iterable<string>;
  presence: PresenceBook;
  silence: SilenceDetector;
  latest: (deviceId: string) => { lastSeen: number; latest: Record<string, unknown> } | undefined;
  inAlarm?: (deviceId: string) => boolean;
}

export type SortKey = 'id' | 'state' | 'lastSeen' | `field:${string}`;
export interface Sort {
  key: SortKey;
  descending: boolean;
}

export interface FleetCounts {
  online: number;
  offline: number;
  silent: number;
  alarm: number;
  unknown: number;
  total: number;
}

// Worst first when sorted by state.
const STATE_RANK: Record<FleetState, number> = { alarm: 0, offline: 1, silent: 2, unknown: 3, online: 4 };

const collator = new Intl.Collator(undefined, { numeric: true });

export const rowState = (sources: FleetSources, id: string, now: number): FleetState => {
  if (sources.inAlarm?.(id)) return 'alarm';
  const presence = sources.presence.get(id);
  if (presence?.state === 'offline') return 'offline';
  if (sources.silence.isSilent(id, now)) return 'silent';
  if (presence?.state === 'online' || sources.latest(id)) return 'online';
  return 'unknown';
};

export const buildRows = (sources: FleetSources, now: number): FleetRow[] => {
  const rows: FleetRow[] = [];
  for (const id of sources.ids()) {
    const reading = sources.latest(id);
    const presence = sources.presence.get(id);
    const state = rowState(sources, id, now);
    rows.push({
      id,
      state,
      lastSeen: reading?.lastSeen ?? presence?.since,
      ...(state === 'offline' && presence?.reason ? { reason: presence.reason } : {}),
      values: reading?.latest ?? {},
    });
  }
  return rows;
};

export const countRows = (rows: readonly FleetRow[]): FleetCounts => {
  const counts: FleetCounts = { online: 0, offline: 0, silent: 0, alarm: 0, unknown: 0, total: rows.length };
  for (const row of rows) counts[row.state]++;
  return counts;
};

/** "1,204 online · 13 offline · 2 silent" (and in alarm, and not yet heard from, when there are any). */
export const formatCounts = (counts: FleetCounts): string => {
  const n = (v: number) => v.toLocaleString('en-US');
  const parts = [`${n(counts.online)} online`, `${n(counts.offline)} offline`, `${n(counts.silent)} silent`];
  if (counts.alarm > 0) parts.push(`${n(counts.alarm)} in alarm`);
  if (counts.unknown > 0) parts.push(`${n(counts.unknown)} not heard from`);
  return parts.join(' · ');
};

const compareValues = (a: unknown, b: unknown): number => {
  // Rows without the value go last whichever the direction: the caller flips only present values.
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
};

/** A new array: rows whose id contains `query` (case-insensitive), sorted by `sort`, ties by id. */
export const viewRows = (rows: readonly FleetRow[], query: string, sort: Sort): FleetRow[] => {
  const needle = query.trim().toLowerCase();
  const kept = needle === '' ? [...rows] : rows.filter((row) => row.id.toLowerCase().includes(needle));
  const sign = sort.descending ? -1 : 1;
  const value = (row: FleetRow): unknown => {
    if (sort.key === 'id') return undefined;
    if (sort.key === 'state') return STATE_RANK[row.state];
    if (sort.key === 'lastSeen') return row.lastSeen;
    return row.values[sort.key.slice('field:'.length)];
  };
  kept.sort((a, b) => {
    if (sort.key !== 'id') {
      const va = value(a);
      const vb = value(b);
      const missingA = va === undefined || va === null;
      const missingB = vb === undefined || vb === null;
      if (missingA !== missingB) return missingA ? 1 : -1;
      if (!missingA) {
        const order = compareValues(va, vb);
        if (order !== 0) return sign * order;
      }
      return collator.compare(a.id, b.id);
    }
    return sign * collator.compare(a.id, b.id);
  });
  return kept;
};

/** The first few fields seen across the fleet, for the table's value columns (charted order). */
export const valueColumns = (rows: readonly FleetRow[], max = 3): string[] => {
  const fields: string[] = [];
  for (const row of rows) {
    for (const [key, value] of Object.entries(row.values)) {
      if (typeof value === 'number' && key !== 'seq' && !fields.includes(key)) fields.push(key);
      if (fields.length >= max) return fields;
    }
  }
  return fields;
};

/** The rows a viewport of `height` px, scrolled to `scrollTop`, shows (plus `overscan` either side). */
export const visibleWindow = (count: number, rowHeight: number, scrollTop: number, height: number, overscan = 8): { start: number; end: number } => {
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const start = Math.min(count, Math.max(0, first - overscan));
  const end = Math.min(count, first + Math.ceil(height / rowHeight) + overscan);
  return { start, end: Math.max(start, end) };
};
