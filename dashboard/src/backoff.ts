/**
 * Reconnect delays: exponential steps with jitter.
 *
 * Step n picks a delay uniformly in [cap/2, cap), where cap = min(max, initial * 2^(n+1)).
 * With the defaults every delay lies between 0.5 s and 30 s, and no two pages
 * that lost the same gateway retry in lockstep (the "equal jitter" scheme from
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/):
 * half the step is fixed so a retry never comes instantly, half is random.
 */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  random?: () => number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly random: () => number;
  private step = 0;

  constructor({ initialMs = 500, maxMs = 30_000, random = Math.random }: BackoffOptions = {}) {
    if (!(initialMs > 0) || !(maxMs >= initialMs)) throw new RangeError('backoff needs 0 < initialMs <= maxMs');
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.random = random;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.step;
  }

  /** The upper bound of the delay that `next()` returns now. */
  get currentCapMs(): number {
    // 2^(step+1) overflows to Infinity long after min() has settled on maxMs.
    return Math.min(this.maxMs, this.initialMs * 2 ** (this.step + 1));
  }

  next(): number {
    const cap = this.currentCapMs;
    this.step++;
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.min(cap, cap / 2 + (cap / 2) * r);
  }

  reset(): void {
    this.step = 0;
  }
}
