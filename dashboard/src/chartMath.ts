/** Decisions about how a series is drawn, kept out of the uPlot wiring so they can be tested. */

/**
 * A y range for one field: its data plus 10% headroom, and never narrower than
 * 5% of its magnitude, so a battery going from 99 to 98 is a step, not a cliff.
 */
export const paddedRange = (min: number | null, max: number | null): [number, number] => {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  const center = (min + max) / 2;
  const span = Math.max(max - min, Math.abs(center) * 0.05, 1e-6);
  return [center - span * 0.6, center + span * 0.6];
};

/**
 * The silence after which a line breaks instead of joining two points across
 * missing data (an outage, an unsubscribed spell): five times the device's
 * usual interval, and at least `floorMs`.
 */
export const gapThreshold = (x: readonly number[], floorMs = 3_000, sample = 50): number => {
  const diffs: number[] = [];
  for (let i = Math.max(1, x.length - sample); i < x.length; i++) diffs.push(x[i] - x[i - 1]);
  if (diffs.length === 0) return floorMs;
  diffs.sort((a, b) => a - b);
  return Math.max(floorMs, 5 * diffs[Math.floor(diffs.length / 2)]);
};

/** Index pairs [i, i + 1] between idx0 and idx1 where consecutive points are further apart than `thresholdMs`. */
export const timeGaps = (x: readonly number[], idx0: number, idx1: number, thresholdMs: number): [number, number][] => {
  const gaps: [number, number][] = [];
  for (let i = Math.max(0, idx0); i < Math.min(idx1, x.length - 1); i++) {
    if (x[i + 1] - x[i] > thresholdMs) gaps.push([i, i + 1]);
  }
  return gaps;
};
