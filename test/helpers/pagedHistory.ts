/**
 * A HistoryStore over readings and buckets held in memory, for specs that run the layer's real history
 * routes without DynamoDB: each page costs one request and one read unit, on the store's usage and on
 * the request's tally (so that a read budget can cut a reply short, as the real store's pages do).
 */
import type { HistoryStore, RawPoint, RollupBucket, RollupLevel } from '@serverless-iot-dashboard/shared';

export interface PagedHistorySource {
  /** The raw readings of a device with since ≤ ts ≤ until, oldest first. */
  raw(deviceId: string, since: number, until: number): RawPoint[];
  /** One level's buckets of a device in the window the store's contract names, oldest first. */
  buckets(deviceId: string, level: RollupLevel, since: number, until: number): RollupBucket[];
}

export const pagedHistory = (source: PagedHistorySource, pageSize: number): HistoryStore => {
  const usage = { requests: 0, readUnits: 0 };
  async function* pages<T>(items: T[], tally?: { requests: number; readUnits: number }) {
    for (let i = 0; i < items.length; i += pageSize) {
      for (const counter of tally ? [usage, tally] : [usage]) {
        counter.requests++;
        counter.readUnits++;
      }
      yield items.slice(i, i + pageSize);
    }
  }
  return {
    usage,
    raw: (deviceId, since, until, { limit, tally } = {}) => pages(source.raw(deviceId, since, until).slice(0, limit), tally),
    buckets: (deviceId, level, since, until, { tally } = {}) => pages(source.buckets(deviceId, level, since, until), tally),
  };
};
