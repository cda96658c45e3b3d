/** Numbers for the benchmark tables: clock, CPU time, percentiles, rounding. */

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Every bench process
 * reads the same machine clock, so a timestamp taken here and one taken in the
 * clients' process can be subtracted.
 */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();

/** The p-th percentile (0-100), nearest-rank on a sorted copy; NaN for no values. */
export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
};

export const median = (values: readonly number[]): number => percentile(values, 50);

/** Rounds to `digits` decimals (keeps JSON readable). */
export const round = (value: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

/** CPU time (user + system) this process has used since `start`, in microseconds. */
export const cpuMicrosSince = (start: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(start);
  return used.user + used.system;
};

