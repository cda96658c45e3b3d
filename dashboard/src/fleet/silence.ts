/**
 * "Silent", per device: its last reading is older than a few of its own usual intervals. The usual interval
 * is learned from the device's readings (an exponentially weighted mean of the gaps between arrivals), so a
 * device that reports hourly is not silent after 30 s, and one that reports every second is silent after a
 * few seconds. Until it has seen enough gaps, a device is judged against `fallbackMs`.
 */
export interface SilenceOptions {
  /** Silent after this many usual intervals. */
  intervals?: number;
  /** Never silent sooner than this (network jitter, a page in a background tab). */
  floorMs?: number;
  /** The threshold while a device's interval is still unknown. */
  fallbackMs?: number;
  /** Gaps seen before the learned interval is trusted. */
  minSamples?: number;
  /** Weight of the newest gap in the mean. */
  alpha?: number;
}

interface Rhythm {
  last: number;
  mean: number;
  samples: number;
}

export class SilenceDetector {
  private readonly rhythms = new Map<string, Rhythm>();
  private readonly intervals: number;
  private readonly floorMs: number;
  private readonly fallbackMs: number;
  private readonly minSamples: number;
  private readonly alpha: number;

  constructor({ intervals = 3, floorMs = 5_000, fallbackMs = 30_000, minSamples = 3, alpha = 0.2 }: SilenceOptions = {}) {
    this.intervals = intervals;
    this.floorMs = floorMs;
    this.fallbackMs = fallbackMs;
    this.minSamples = minSamples;
    this.alpha = alpha;
  }

  /** A reading of `deviceId` arrived (or was sent) at `at`. Out-of-order times (history) are ignored. */
  observe(deviceId: string, at: number): void {
    const rhythm = this.rhythms.get(deviceId);
    if (!rhythm) {
      this.rhythms.set(deviceId, { last: at, mean: 0, samples: 0 });
      return;
    }
    if (at <= rhythm.last) return;
    const gap = at - rhythm.last;
    rhythm.last = at;
    rhythm.mean = rhythm.samples === 0 ? gap : rhythm.mean + this.alpha * (gap - rhythm.mean);
    rhythm.samples++;
  }

  /** The usual interval learned for this device, once trusted. */
  usualInterval(deviceId: string): number | undefined {
    const rhythm = this.rhythms.get(deviceId);
    return rhythm && rhythm.samples >= this.minSamples ? rhythm.mean : undefined;
  }

  /** How long this device may stay quiet before it counts as silent. */
  thresholdMs(deviceId: string): number {
    const usual = this.usualInterval(deviceId);
    return usual === undefined ? this.fallbackMs : Math.max(this.floorMs, this.intervals * usual);
  }

  /** Silent at `now`: it has reported before, and not for longer than its threshold. */
  isSilent(deviceId: string, now: number): boolean {
    const rhythm = this.rhythms.get(deviceId);
    return rhythm !== undefined && now - rhythm.last > this.thresholdMs(deviceId);
  }
}
