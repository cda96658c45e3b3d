/**
 * `history`: one device's readings in a time window, at the resolution the window needs
 * (docs/decisions/008-rollups.md; the table's layout: ./historyKeys.ts).
 *
 * - Raw readings when the window holds at most `maxPoints` of them: the rollup buckets' counts
 *   tell, or, at the window's edges, a Query with Limit maxPoints + 1.
 * - Past that, rollup buckets: the coarsest level (1 h, 10 min, 1 min) that still gives
 *   `maxPoints` buckets in the window (the finest, when none does), merged further into at most
 *   `maxPoints` points when the level gives more. A 30-day window reads 720 hour buckets, not
 *   2.6 million readings.
 * - Raw readings downsampled while they stream when even minute buckets are too coarse and the
 *   window holds few readings (at most RAW_DOWNSAMPLE_FACTOR × maxPoints): a 5-minute chart of a
 *   20 Hz device, a 30-minute zoom.
 * - Bounded: a read budget (read units) and the invocation's deadline. A reply cut short says
 *   `truncated: true` and `next: {since}` (ask again from there), and like every reply it ends
 *   with `done: true`. Frames stay under 32 KB (../protocol/replyFrames.ts), each item under
 *   its own budget (./fitPoint.ts).
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionStore, StoreUsage } from '../store/connectionStore.js';
import type { RateLimiter } from '../store/rateLimit.js';
import { BadRequest, NotFound, RateLimited } from '../protocol/errors.js';
import { DEFAULT_MAX_POINTS, type HistoryRequest, validateClientFrame } from '../protocol/frames.js';
import type { WsEvent, WsResult } from '../runtime/middleware.js';
import { errorReply, ok, requestIdOf } from '../runtime/middleware.js';
import type { Log } from '../runtime/observability.js';
import { assertInScope } from '../auth/principal.js';
import { createReplyFrameWriter } from '../protocol/replyFrames.js';
import type { PostToConnection } from '../protocol/postToConnection.js';
import { DAY_MS, ROLLUP_LEVELS, type RollupLevel, bucketStart, rawKeyRange, rollupPartition, timeKey } from './historyKeys.js';
import { type RollupBucket, decodeFields, mergeBuckets, rollupPoint } from './rollups.js';
import { type HistoryPoint, bucketWidth, createDownsampler } from './downsample.js';
import { fitItem } from './fitPoint.js';


/** A stored reading as a history reply sends it: `ts` is the time it is stored at (README, "History"). */
export interface RawPoint {
  ts: number;
  id: string;
  data: Record<string, unknown>;
  /** The device's own ts, when it was not believed (too far ahead, or older than the retention). */
  deviceTs?: number;
}

export interface HistoryStore {
  /** Pages of raw readings with since ≤ time ≤ until, oldest first, at most `limit` in all; expired ones left out. */
  raw(deviceId: string, since: number, until: number, options?: { limit?: number; tally?: StoreUsage }): AsyncGenerator<RawPoint[]>;
  /** Pages of one level's buckets that start in [bucket of since, until], oldest first. */
  buckets(deviceId: string, level: RollupLevel, since: number, until: number, options?: { tally?: StoreUsage }): AsyncGenerator<RollupBucket[]>;
  readonly usage: StoreUsage;
}

export const rawPoint = (item: Record<string, unknown>): RawPoint => {
  const point: RawPoint = { ts: item.at as number, id: item.id as string, data: JSON.parse(item.d as string) as Record<string, unknown> };
  if (typeof item.deviceTs === 'string') point.deviceTs = Number(item.deviceTs);
  return point;
};

export const createHistoryStore = ({ doc, tableName, now = Date.now }: { doc: DynamoDBDocumentClient; tableName: string; now?: () => number }): HistoryStore => {
  const usage: StoreUsage = { requests: 0, readUnits: 0 };
  async function* query(pk: string, from: string, to: string, limit: number | undefined, tally: StoreUsage | undefined) {
    let startKey: Record<string, unknown> | undefined;
    let left = limit ?? Number.POSITIVE_INFINITY;
    do {
      const out = await doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': from, ':to': to },
          ExclusiveStartKey: startKey,
          // No Limit by default: DynamoDB's own 1 MB pages, the fewest requests (each rounds up to 4 KB).
          ...(Number.isFinite(left) ? { Limit: left } : {}),
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      const units = out.ConsumedCapacity?.CapacityUnits ?? 0;
      for (const counter of tally ? [usage, tally] : [usage]) {
        counter.requests++;
        counter.readUnits += units;
      }
      startKey = out.LastEvaluatedKey;
      left -= out.Items?.length ?? 0;
      // DynamoDB deletes expired items up to days late (and dynalite never): filter on read.
      const nowSeconds = now() / 1000;
      const items = (out.Items ?? []).filter((item) => typeof item.expiresAt !== 'number' || item.expiresAt > nowSeconds);
      if (items.length > 0) yield items;
    } while (startKey && left > 0);
  }
  return {
    usage,
    async *raw(deviceId, since, until, { limit, tally } = {}) {
      const [from, to] = rawKeyRange(since, until);
      for await (const items of query(deviceId, from, to, limit, tally)) yield items.map(rawPoint);
    },
    async *buckets(deviceId, level, since, until, { tally } = {}) {
      for await (const items of query(rollupPartition(deviceId, level), timeKey(bucketStart(since, level)), timeKey(until), undefined, tally)) {
        yield items.map((item) => ({ start: item.start as number, ms: level.ms, count: item.n as number, fields: decodeFields(item.f) }));
      }
    },
  };
};

/** The coarsest rollup level that still gives `maxPoints` buckets in the window; the finest when none does. */
export const rollupLevelFor = (since: number, until: number, maxPoints: number): RollupLevel => {
  for (const level of [...ROLLUP_LEVELS].reverse()) {
    if (Math.floor(until / level.ms) - Math.floor(since / level.ms) + 1 >= maxPoints) return level;
  }
  return ROLLUP_LEVELS[0]!;
};

export interface HistoryReplyStats {
  read: number;
  points: number;
  frames: number;
  resolution: 'raw' | RollupLevel['name'];
  truncated: boolean;
}

export interface HistoryBounds {
  tally?: StoreUsage;
  /** Read units one reply may spend; past it the reply is cut short. */
  readBudget?: number;
  /** Epoch ms by which the reply must be done (the invocation's deadline less a margin). */
  deadline?: number;
  now?: () => number;
}

// Raw readings are downsampled (not answered from buckets) when the finest level gives fewer than maxPoints buckets
// and the window holds at most this many times maxPoints readings.
export const RAW_DOWNSAMPLE_FACTOR = 4;

// A request's default read budget: a 30-day window at maxPoints 5,000 reads about 40 units (bench/history.ts).
export const DEFAULT_HISTORY_READ_BUDGET = 250;

/**
 * Streams the reply to a (validated) history request into `send`, frame by frame. Memory is bounded by
 * the read budget: the buckets of one level in the window (720 hours for 30 days), or maxPoints readings.
 */
export const streamHistory = async (
  history: HistoryStore,
  request: { deviceId: string; since: number; until: number; maxPoints: number; requestId?: string },
  send: (frame: string) => Promise<void>,
  { tally = { requests: 0, readUnits: 0 }, readBudget = DEFAULT_HISTORY_READ_BUDGET, deadline, now = Date.now }: HistoryBounds = {},
): Promise<HistoryReplyStats> => {
  const { deviceId, since, until, maxPoints, requestId } = request;
  const spent = () => tally.readUnits >= readBudget || (deadline !== undefined && now() >= deadline);
  const head = (fields: Record<string, unknown>) => ({ type: 'history', ...(requestId === undefined ? {} : { requestId }), deviceId, ...fields });

  // The level's buckets first: their counts tell whether the window holds more than maxPoints readings (and if it
  // does, they are the reply). Buckets at the window's edges may hold readings outside it: when the count is not
  // clear from the buckets wholly inside, reading maxPoints + 1 raw readings tells.
  const level = rollupLevelFor(since, until, maxPoints);
  const buckets: RollupBucket[] = [];
  let cut = false;
  for await (const page of history.buckets(deviceId, level, since, until, { tally })) {
    buckets.push(...page);
    if (spent()) {
      cut = true;
      break;
    }
  }
  let inside = 0;
  let total = 0;
  for (const b of buckets) {
    total += b.count;
    if (b.start >= since && b.start + level.ms - 1 <= until) inside += b.count;
  }

  if (!cut && inside <= maxPoints) {
    const raw: RawPoint[] = [];
    let rawCut = false;
    for await (const page of history.raw(deviceId, since, until, { limit: maxPoints + 1, tally })) {
      raw.push(...page);
      if (raw.length <= maxPoints && spent()) {
        rawCut = true;
        break;
      }
    }
    if (raw.length <= maxPoints) {
      const writer = createReplyFrameWriter(head({ resolution: 'raw', downsampled: false }), 'points', send);
      for (const point of raw) await writer.add(fitItem(point));
      // Cut short: ask again from the last reading's time (readings at that time come again; drop them by id).
      await writer.end(rawCut ? { truncated: true, next: { since: raw.length > 0 ? raw[raw.length - 1]!.ts : since } } : undefined);
      return { read: buckets.length + raw.length, points: raw.length, frames: writer.frames, resolution: 'raw', truncated: rawCut };
    }
  }
  const first = bucketStart(since, level);
  const span = Math.floor(until / level.ms) - first / level.ms + 1;

  // A short window of many readings (a 5-minute chart of a 20 Hz device, a 30-minute zoom): even minute buckets give
  // far fewer than maxPoints points, and the readings are few enough to read: downsample them instead.
  if (!cut && span < maxPoints && total <= RAW_DOWNSAMPLE_FACTOR * maxPoints) {
    const width = bucketWidth(since, until, maxPoints);
    const sampler = createDownsampler(since, width);
    const writer = createReplyFrameWriter(head({ resolution: 'raw', downsampled: true, bucketMs: width }), 'points', send);
    let read = 0;
    let points = 0;
    let last: number | undefined;
    const emit = async (point: HistoryPoint | undefined) => {
      if (!point) return;
      points++;
      await writer.add(fitItem(point));
    };
    for await (const page of history.raw(deviceId, since, until, { tally })) {
      for (const point of page) {
        read++;
        last = point.ts;
        await emit(sampler.add(point));
      }
      if (spent()) {
        cut = true;
        break;
      }
    }
    await emit(sampler.flush());
    await writer.end(cut ? { truncated: true, next: { since: last ?? since } } : undefined);
    return { read: buckets.length + read, points, frames: writer.frames, resolution: 'raw', truncated: cut };
  }

  // Buckets of the level merged into groups of whole buckets, at most maxPoints groups.
  const groupMs = level.ms * Math.max(1, Math.ceil(span / maxPoints));
  const writer = createReplyFrameWriter(head({ resolution: level.name, downsampled: true, bucketMs: groupMs }), 'points', send);
  let group: RollupBucket[] = [];
  let groupIndex = 0;
  let points = 0;
  const flush = async () => {
    if (group.length === 0) return;
    points++;
    await writer.add(rollupPoint(mergeBuckets(first + groupIndex * groupMs, groupMs, group)));
    group = [];
  };
  for (const bucket of buckets) {
    const index = Math.floor((bucket.start - first) / groupMs);
    if (index !== groupIndex) await flush();
    groupIndex = index;
    group.push(bucket);
  }
  await flush();
  const next = buckets.length > 0 ? buckets[buckets.length - 1]!.start + level.ms : since;
  await writer.end(cut ? { truncated: true, next: { since: next } } : undefined);
  return { read: buckets.length, points, frames: writer.frames, resolution: level.name, truncated: cut };
};

export interface HistoryRouteDeps {
  store: ConnectionStore;
  history: HistoryStore;
  post: PostToConnection;
  log: Log;
  retentionDays: number;
  /** Per token holder (`sub`), across its connections. */
  limiter?: RateLimiter;
  readBudget?: number;
  now?: () => number;
}

type LambdaClock = { getRemainingTimeInMillis?: () => number };
// Left of the invocation for the last frame after the deadline stops the reads.
const DEADLINE_MARGIN_MS = 2000;

/** Refuses a request past the token holder's rate (store/rateLimit.ts). */
export const checkRate = async (limiter: RateLimiter | undefined, sub: string, what: string) => {
  const decision = await limiter?.(sub);
  if (decision && !decision.allowed) {
    throw new RateLimited(
      `too many ${what} requests: at most ${limiter!.perMinute} a minute, in bursts of ${limiter!.burst}, per token holder; retry in ${Math.ceil((decision.retryAfterMs ?? 1000) / 1000)} s`,
    );
  }
};

/**
 * The `history` route: checks the request against the connection's scope, its rate and the
 * retention, then posts the reply's frames back to the sender through @connections (a route
 * response is one frame; this reply may be many). Nothing is read on bad input.
 */
export const createHistoryRoute =
  ({ store, history, post, log, retentionDays, limiter, readBudget, now = Date.now }: HistoryRouteDeps) =>
  async (event: WsEvent, context?: LambdaClock): Promise<WsResult> => {
    const requestId = requestIdOf(event.frame);
    try {
      const frame = validateClientFrame(event.frame ?? {});
      if (frame.action !== 'history') throw new BadRequest(`this route takes "history" frames, got "${frame.action}"`);
      const request = frame as HistoryRequest;
      const { connectionId } = event.requestContext;
      const connection = await store.getConnection(connectionId);
      if (!connection) throw new NotFound('this connection is not registered (it may have expired); reconnect');
      assertInScope(connection.scope, [request.deviceId]);
      const until = request.until ?? now();
      if (request.since > until) throw new BadRequest('"since" is after "until"');
      if (until - request.since > retentionDays * DAY_MS) {
        throw new BadRequest(`the window is longer than the ${retentionDays}-day retention: ask for at most ${retentionDays * DAY_MS} ms`);
      }
      await checkRate(limiter, connection.sub, 'history');
      const maxPoints = request.maxPoints ?? DEFAULT_MAX_POINTS;
      const tally: StoreUsage = { requests: 0, readUnits: 0 };
      const remaining = context?.getRemainingTimeInMillis?.();
      const deadline = remaining === undefined ? undefined : now() + remaining - DEADLINE_MARGIN_MS;
      const stats = await streamHistory(history, { deviceId: request.deviceId, since: request.since, until, maxPoints, requestId }, (text) => post(connectionId, text), {
        tally,
        readBudget,
        deadline,
        now,
      });
      log.info('history reply', { connectionId, deviceId: request.deviceId, since: request.since, until, maxPoints, ...stats, ddbRequests: tally.requests, ddbReadUnits: tally.readUnits });
      return ok();
    } catch (error) {
      return errorReply(error, requestId);
    }
  };
