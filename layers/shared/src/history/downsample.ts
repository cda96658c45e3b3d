/**
 * Downsampling for history replies: time buckets, and per bucket each numeric
 * field's min, max and last, so that a spike survives however far one zooms out
 * (an average would flatten it). Streaming: points go in sorted by ts, a bucket
 * comes out as soon as the next one starts, so a week of readings never sits in
 * memory at once.
 */

export interface HistoryPoint {
  ts: number;
  data: Record<string, unknown>;
  /** Downsampled points only: each numeric field's smallest and largest value in the bucket. */
  min?: Record<string, number>;
  max?: Record<string, number>;
}

/** The bucket width that puts [since, until] into at most `maxPoints` buckets (at least 1 ms). */
export const bucketWidth = (since: number, until: number, maxPoints: number): number =>
  Math.max(1, Math.ceil((until - since + 1) / Math.max(1, maxPoints)));

export interface Downsampler {
  /** Adds a point (ts ascending); returns the previous bucket when this point starts a new one. */
  add(point: HistoryPoint): HistoryPoint | undefined;
  /** The bucket in progress, if any. */
  flush(): HistoryPoint | undefined;
}

interface Bucket {
  index: number;
  last: HistoryPoint;
  min: Record<string, number>;
  max: Record<string, number>;
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

export const createDownsampler = (since: number, width: number): Downsampler => {
  let bucket: Bucket | undefined;
  const close = (b: Bucket): HistoryPoint => ({ ts: b.last.ts, data: b.last.data, min: b.min, max: b.max });
  const fold = (b: Bucket, point: HistoryPoint) => {
    // A point may itself be a bucket (min/max present): fold its extremes, not only its last value.
    for (const [field, value] of Object.entries(point.data)) {
      if (!isNumber(value)) continue;
      const low = point.min && isNumber(point.min[field]) ? point.min[field] : value;
      const high = point.max && isNumber(point.max[field]) ? point.max[field] : value;
      b.min[field] = field in b.min ? Math.min(b.min[field]!, low) : low;
      b.max[field] = field in b.max ? Math.max(b.max[field]!, high) : high;
    }
    b.last = point;
  };
  return {
    add(point) {
      const index = Math.floor((point.ts - since) / width);
      let done: HistoryPoint | undefined;
      if (bucket && bucket.index !== index) {
        done = close(bucket);
        bucket = undefined;
      }
      if (!bucket) bucket = { index, last: point, min: {}, max: {} };
      fold(bucket, point);
      return done;
    },
    flush() {
      const done = bucket && close(bucket);
      bucket = undefined;
      return done;
    },
  };
};

/** Downsamples sorted points of [since, until] into at most `maxPoints` buckets, sorted by ts. */
export const downsample = (points: readonly HistoryPoint[], since: number, until: number, maxPoints: number): HistoryPoint[] => {
  const sampler = createDownsampler(since, bucketWidth(since, until, maxPoints));
  const out: HistoryPoint[] = [];
  for (const point of points) {
    const done = sampler.add(point);
    if (done) out.push(done);
  }
  const last = sampler.flush();
  if (last) out.push(last);
  return out;
};
