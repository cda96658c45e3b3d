/**
 * Durations as people type them, for the page's address (`?window=5m`, `?stale=30s`) and the CLIs
 * (`npm run token -- --ttl 1h`): a number and a unit (ms, s, m or min, h, d); a bare number is seconds.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds, or undefined when the text is not a positive duration. */
export const parseDurationMs = (text: string | null | undefined): number | undefined => {
  if (text === null || text === undefined) return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/i.exec(text);
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[(match[2] ?? 's').toLowerCase()]!;
  return ms > 0 && Number.isFinite(ms) ? ms : undefined;
};
