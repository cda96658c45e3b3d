/**
 * `history`: one device's readings in a time window.
 *
 *   HistoryTable: pk = deviceId, sk = ts (the device's own timestamp), plus the
 *   payload's fields, receivedAt and expiresAt (TTL), written by the template's
 *   HistoryRule (a DynamoDBv2 action, no Lambda).
 *
 * A window is one key-range Query (`deviceId = :d AND ts BETWEEN :since AND :until`),
 * read page by page: up to `maxPoints` readings are sent as they are; past that the
 * reply is downsampled while it streams (./downsample.ts), so memory stays bounded
 * by `maxPoints` whatever the window. Frames stay under 32 KB (./replyFrames.ts).
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { StoreUsage } from '../store/connectionStore.js';
import type { ConnectionStore } from '../store/connectionStore.js';
import { type HistoryPoint, bucketWidth, createDownsampler } from './downsample.js';
import { BadRequest, NotFound, isFrameError } from '../protocol/errors.js';
import { DEFAULT_MAX_POINTS, type HistoryRequest, errorFrame, validateClientFrame, validateRequestId } from '../protocol/frames.js';
import type { WsEvent, WsResult } from '../runtime/middleware.js';
import { errorReply, ok, requestIdOf } from '../runtime/middleware.js';
import type { Log } from '../runtime/observability.js';
import { assertInScope } from '../auth/principal.js';
import { createReplyFrameWriter } from '../protocol/replyFrames.js';
import type { PostToConnection } from '../protocol/postToConnection.js';

export type { HistoryPoint } from './downsample.js';

/** Attributes of a history item that are not the reading's data. */
const NOT_DATA = new Set(['deviceId', 'ts', 'receivedAt', 'expiresAt', 'id']);
export const DAY_MS = 86_400_000;

export interface HistoryStore {
  /** Pages of readings of `deviceId` with since ≤ ts ≤ until, ts ascending; expired items left out. */
  pages(deviceId: string, since: number, until: number, options?: { pageSize?: number; tally?: StoreUsage }): AsyncGenerator<HistoryPoint[]>;
  readonly usage: StoreUsage;
}

export const historyPoint = (item: Record<string, unknown>): HistoryPoint => {
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) if (!NOT_DATA.has(key)) data[key] = value;
  return { ts: item.ts as number, data };
};

export const createHistoryStore = ({ doc, tableName, now = Date.now }: { doc: DynamoDBDocumentClient; tableName: string; now?: () => number }): HistoryStore => {
  const usage: StoreUsage = { requests: 0, readUnits: 0 };
  return {
    usage,
    // No Limit by default: DynamoDB's own 1 MB pages, the fewest requests (each rounds up to 4 KB) with memory still bounded.
    async *pages(deviceId, since, until, { pageSize, tally } = {}) {
      let startKey: Record<string, unknown> | undefined;
      do {
        const out = await doc.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: '#d = :d AND #ts BETWEEN :since AND :until',
            ExpressionAttributeNames: { '#d': 'deviceId', '#ts': 'ts' },
            ExpressionAttributeValues: { ':d': deviceId, ':since': since, ':until': until },
            ExclusiveStartKey: startKey,
            ...(pageSize ? { Limit: pageSize } : {}),
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        const units = out.ConsumedCapacity?.CapacityUnits ?? 0;
        for (const counter of tally ? [usage, tally] : [usage]) {
          counter.requests++;
          counter.readUnits += units;
        }
        startKey = out.LastEvaluatedKey;
        // DynamoDB deletes expired items up to days late (and dynalite never): filter on read.
        const nowSeconds = now() / 1000;
        const items = (out.Items ?? []).filter((item) => typeof item.expiresAt !== 'number' || item.expiresAt > nowSeconds);
        if (items.length > 0) yield items.map(historyPoint);
      } while (startKey);
    },
  };
};

export interface HistoryReplyStats {
  read: number;
  points: number;
  frames: number;
  downsampled: boolean;
}

/**
 * Streams the reply to a (validated) history request into `send`, frame by frame.
 * Up to `maxPoints` readings are buffered; one more switches to downsampling.
 */
export const streamHistory = async (
  history: HistoryStore,
  request: { deviceId: string; since: number; until: number; maxPoints: number; requestId?: string },
  send: (frame: string) => Promise<void>,
  tally?: StoreUsage,
): Promise<HistoryReplyStats> => {
  const { deviceId, since, until, maxPoints, requestId } = request;
  const buffered: HistoryPoint[] = [];
  let read = 0;
  let sampler: ReturnType<typeof createDownsampler> | undefined;
  let writer: ReturnType<typeof createReplyFrameWriter> | undefined;
  let points = 0;
  const header = (downsampled: boolean) => ({
    type: 'history',
    ...(requestId === undefined ? {} : { requestId }),
    deviceId,
    downsampled,
    ...(downsampled ? { bucketMs: bucketWidth(since, until, maxPoints) } : {}),
  });
  const emit = async (point: HistoryPoint | undefined) => {
    if (!point) return;
    points++;
    await writer!.add(point);
  };
  for await (const page of history.pages(deviceId, since, until, { tally })) {
    for (const point of page) {
      read++;
      if (sampler) {
        await emit(sampler.add(point));
        continue;
      }
      buffered.push(point);
      if (buffered.length > maxPoints) {
        sampler = createDownsampler(since, bucketWidth(since, until, maxPoints));
        writer = createReplyFrameWriter(header(true), 'points', send);
        for (const held of buffered.splice(0)) await emit(sampler.add(held));
      }
    }
  }
  if (sampler) {
    await emit(sampler.flush());
  } else {
    writer = createReplyFrameWriter(header(false), 'points', send);
    for (const point of buffered) await emit(point);
  }
  await writer!.end();
  return { read, points, frames: writer!.frames, downsampled: sampler !== undefined };
};

export interface HistoryRouteDeps {
  store: ConnectionStore;
  history: HistoryStore;
  post: PostToConnection;
  log: Log;
  retentionDays: number;
  now?: () => number;
}

/**
 * The `history` route: checks the request against the connection's scope and the
 * retention, then posts the reply's frames back to the sender through @connections
 * (a route response is one frame; this reply may be many). Nothing is read on bad input.
 */
export const createHistoryRoute =
  ({ store, history, post, log, retentionDays, now = Date.now }: HistoryRouteDeps) =>
  async (event: WsEvent): Promise<WsResult> => {
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
      const maxPoints = request.maxPoints ?? DEFAULT_MAX_POINTS;
      const tally: StoreUsage = { requests: 0, readUnits: 0 };
      const stats = await streamHistory(history, { deviceId: request.deviceId, since: request.since, until, maxPoints, requestId }, (text) => post(connectionId, text), tally);
      log.info('history reply', { connectionId, deviceId: request.deviceId, since: request.since, until, maxPoints, ...stats, ddbRequests: tally.requests, ddbReadUnits: tally.readUnits });
      return ok();
    } catch (error) {
      return errorReply(error, requestId);
    }
  };
