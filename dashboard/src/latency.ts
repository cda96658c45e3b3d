/**
 * End-to-end latency of the most recent messages: the page's receive time minus
 * the device's `ts`. It includes device clock skew, so it can be negative.
 */
export interface LatencyStats {
  count: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export const percentile = (sorted: readonly number[], p: number): number => {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
};

export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;

  constructor(readonly capacity = 100) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  get count(): number {
    return this.samples.length;
  }

  add(ms: number): void {
    if (!Number.isFinite(ms)) return;
    if (this.samples.length < this.capacity) {
      this.samples.push(ms);
    } else {
      this.samples[this.next] = ms;
    }
    this.next = (this.next + 1) % this.capacity;
  }

  stats(): LatencyStats | undefined {
    if (this.samples.length === 0) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return {
      count: sorted.length,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      min: sorted[0],
      max: sorted[sorted.length - 1],
    };
  }

  clear(): void {
    this.samples.length = 0;
    this.next = 0;
  }
}
