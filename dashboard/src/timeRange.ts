/**
 * The page's time range, kept in the address so that a view can be shared and survives a reload:
 *   ?range=live (the last 5 minutes, scrolling), ?range=1h | 24h | 7d | 30d (any duration: the last one, scrolling),
 *   ?from=…&to=… (ISO times or epoch ms: a fixed window), and the older ?window=10m (the live span).
 * Pure: no DOM, so it has specs (test/dashboard/timeRange.test.ts).
 */
import { parseDurationMs } from '@serverless-iot-dashboard/shared/protocol';

export const LIVE_SPAN_MS = 5 * 60_000;

export type TimeRange =
  /** The last `spanMs`, ending now: live readings extend it and it scrolls. `name` is how the address spells it. */
  | { kind: 'recent'; spanMs: number; name: string }
  /** A fixed window (a zoom, or a custom range). */
  | { kind: 'fixed'; from: number; to: number };

export const LIVE: TimeRange = { kind: 'recent', spanMs: LIVE_SPAN_MS, name: 'live' };

/** The buttons: live, then the usual look-backs (the server refuses one past its retention). */
export const PRESETS: readonly { label: string; range: TimeRange }[] = [
  { label: 'Live', range: LIVE },
  { label: '1 h', range: { kind: 'recent', spanMs: 3_600_000, name: '1h' } },
  { label: '24 h', range: { kind: 'recent', spanMs: 86_400_000, name: '24h' } },
  { label: '7 d', range: { kind: 'recent', spanMs: 7 * 86_400_000, name: '7d' } },
  { label: '30 d', range: { kind: 'recent', spanMs: 30 * 86_400_000, name: '30d' } },
];

const parseTime = (text: string | null): number | undefined => {
  if (!text) return undefined;
  const ms = /^\d+$/.test(text.trim()) ? Number(text) : Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
};

/** The range an address asks for; live when it asks for none (or for one that makes no sense). */
export const parseTimeRange = (params: URLSearchParams): TimeRange => {
  const from = parseTime(params.get('from'));
  const to = parseTime(params.get('to'));
  if (from !== undefined && to !== undefined && from < to) return { kind: 'fixed', from, to };
  if (from !== undefined && to === undefined) return { kind: 'fixed', from, to: Number.POSITIVE_INFINITY };
  const range = params.get('range');
  if (range && range.toLowerCase() !== 'live') {
    const spanMs = parseDurationMs(range);
    if (spanMs !== undefined) return { kind: 'recent', spanMs, name: range };
  }
  const window = parseDurationMs(params.get('window'));
  if (!range && window !== undefined) return { kind: 'recent', spanMs: window, name: 'live' };
  return LIVE;
};

/** The address for a range: ?range= or ?from=&to=, every other parameter kept (`window` gives way to `range`). */
export const withTimeRange = (params: URLSearchParams, range: TimeRange): URLSearchParams => {
  const out = new URLSearchParams(params);
  for (const key of ['range', 'from', 'to']) out.delete(key);
  if (range.kind === 'fixed') {
    out.delete('window');
    out.set('from', new Date(range.from).toISOString());
    if (Number.isFinite(range.to)) out.set('to', new Date(range.to).toISOString());
  } else if (range.name === 'live') {
    // Live keeps a ?window= span; the default needs nothing.
    if (range.spanMs !== LIVE_SPAN_MS) out.set('window', `${Math.round(range.spanMs / 1000)}s`);
  } else {
    out.delete('window');
    out.set('range', range.name);
  }
  return out;
};

/** The window a range covers at `now`, in epoch ms (a fixed range ending in the future ends now). */
export const windowOf = (range: TimeRange, now: number): { since: number; until: number } =>
  range.kind === 'recent' ? { since: now - range.spanMs, until: now } : { since: range.from, until: Math.min(range.to, now) };

/** Whether live readings extend the charts: the range includes now. */
export const includesNow = (range: TimeRange, now: number): boolean => range.kind === 'recent' || range.to >= now;

export const sameRange = (a: TimeRange, b: TimeRange): boolean =>
  a.kind === 'recent' && b.kind === 'recent' ? a.spanMs === b.spanMs && a.name === b.name : a.kind === 'fixed' && b.kind === 'fixed' && a.from === b.from && a.to === b.to;

/** A short label: "live", "24h", or the fixed window's ends. */
export const describeRange = (range: TimeRange): string =>
  range.kind === 'recent' ? range.name : `${new Date(range.from).toISOString()} – ${Number.isFinite(range.to) ? new Date(range.to).toISOString() : 'now'}`;
