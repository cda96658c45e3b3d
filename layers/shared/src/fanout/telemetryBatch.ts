/**
 * The coalesced fan-out (FanoutMode=coalesced): the IoT rule sends readings
 * to an SQS queue, and an event source mapping hands them to this function in
 * batches. One batch becomes, per connection, as few `telemetry-batch` frames
 * as API Gateway's 32 KB frame size allows, holding every reading of the
 * batch that the connection subscribes to:
 *
 * - readings are grouped by device, and the recipients of all of them are
 *   looked up at once (recipientCache.ts: one request while nothing changed);
 * - connections that see the same devices share the same frames, so a
 *   dashboard subscribed to `*` gets one frame per batch, not one per reading;
 * - a connection that answers 410 is removed once per batch, and gets none of
 *   the batch's later frames;
 * - only the readings whose delivery must be retried go back to the queue
 *   (ReportBatchItemFailures), and they keep their stable `id`s, so a
 *   redelivered reading is a duplicate the dashboard drops.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
 */
import type { AlarmEvaluator } from '../alarms/alarmEvaluator.js';
import type { ConnectionStore } from '../store/connectionStore.js';
import type { DevicesStore } from '../history/devices.js';
import { type HistoryDeadLetters, onHistoryWriteFailed } from '../history/historyDeadLetters.js';
import type { HistoryWriter } from '../history/historyWriter.js';
import { type DeliverOptions, type DeliveryJob, type FanOutOptions, type FanOutResult, createFanOut, fanOutDeadline } from './fanOut.js';
import { type PostToConnection } from '../protocol/postToConnection.js';
import { MAX_FRAME_BYTES, MAX_PAYLOAD_BYTES, type TelemetryFrame, byteLength } from '../protocol/frames.js';
import type { Counter, Log } from '../runtime/observability.js';
import type { RecipientLookup } from '../recipients/recipientCache.js';
import { telemetryEnvelope } from '../protocol/telemetryEnvelope.js';

/** 32 KB: API Gateway WebSocket frame size, the unit in which messages are billed. */

/** One reading on the wire: a `telemetry` frame without its `type`. */
export type BatchReading = Omit<TelemetryFrame, 'type'>;

export interface TelemetryBatchFrame {
  type: 'telemetry-batch';
  readings: BatchReading[];
}

/** The SQS event's records, as far as this function reads them. */
export interface SqsRecord {
  messageId: string;
  body: string;
  attributes?: { ApproximateReceiveCount?: string };
}

export interface SqsEvent {
  Records: SqsRecord[];
}

/** ReportBatchItemFailures: the messages to leave on the queue; an empty list deletes the whole batch. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

const FRAME_HEAD = '{"type":"telemetry-batch","readings":[';
const FRAME_TAIL = ']}';
const FRAME_OVERHEAD = byteLength(FRAME_HEAD) + byteLength(FRAME_TAIL);

/**
 * Packs readings, in order, into as few frames as fit under `maxBytes` each:
 * a frame is closed when the next reading would take it past the limit. A
 * reading too big for a frame of its own travels alone (up to the 128 KB
 * message quota; API Gateway splits it, and bills it, in 32 KB frames).
 */
export const splitIntoFrameParts = (readings: readonly BatchReading[], maxBytes = MAX_FRAME_BYTES): { body: string; count: number }[] => {
  const frames: { body: string; count: number }[] = [];
  let parts: string[] = [];
  let size = FRAME_OVERHEAD;
  const close = () => {
    frames.push({ body: FRAME_HEAD + parts.join(',') + FRAME_TAIL, count: parts.length });
    parts = [];
    size = FRAME_OVERHEAD;
  };
  for (const reading of readings) {
    const json = JSON.stringify(reading);
    const bytes = byteLength(json);
    if (parts.length > 0 && size + 1 + bytes > maxBytes) close();
    size += bytes + (parts.length > 0 ? 1 : 0);
    parts.push(json);
  }
  if (parts.length > 0) close();
  return frames;
};

/** The frames' bodies only. */
export const splitIntoFrames = (readings: readonly BatchReading[], maxBytes = MAX_FRAME_BYTES): string[] =>
  splitIntoFrameParts(readings, maxBytes).map((f) => f.body);

interface ParsedReading {
  reading: BatchReading;
  messageIds: string[];
}

/**
 * The batch's readings, grouped by device, each reading once (SQS delivers at
 * least once, and a device may repeat itself), in receive order within a
 * device; and the messages that are not telemetry at all.
 */
export const groupByDevice = (records: readonly SqsRecord[], now: () => number = Date.now) => {
  const byId = new Map<string, ParsedReading>();
  const invalid: { messageId: string; reason: string }[] = [];
  for (const record of records) {
    let frame: TelemetryFrame;
    try {
      frame = telemetryEnvelope(JSON.parse(record.body), now);
    } catch (error) {
      invalid.push({ messageId: record.messageId, reason: (error as Error).message });
      continue;
    }
    const known = byId.get(frame.id);
    if (known) {
      known.messageIds.push(record.messageId);
      continue;
    }
    const { type: _type, ...reading } = frame;
    byId.set(frame.id, { reading, messageIds: [record.messageId] });
  }
  const devices = new Map<string, ParsedReading[]>();
  for (const parsed of byId.values()) {
    const list = devices.get(parsed.reading.deviceId) ?? [];
    list.push(parsed);
    devices.set(parsed.reading.deviceId, list);
  }
  for (const list of devices.values()) list.sort((a, b) => a.reading.receivedAt - b.reading.receivedAt || a.reading.ts - b.reading.ts);
  return { devices, invalid };
};

export interface DeliveryGroup {
  /** The devices these connections receive, sorted. */
  devices: string[];
  connectionIds: string[];
}

/** Connections that receive exactly the same devices of this batch share frames. */
export const groupConnections = (recipients: ReadonlyMap<string, readonly string[]>): DeliveryGroup[] => {
  const devicesOf = new Map<string, string[]>();
  for (const [deviceId, ids] of recipients) {
    for (const id of ids) {
      const list = devicesOf.get(id) ?? [];
      list.push(deviceId);
      devicesOf.set(id, list);
    }
  }
  const groups = new Map<string, DeliveryGroup>();
  for (const [connectionId, devices] of devicesOf) {
    devices.sort();
    const key = devices.join('\n');
    const group = groups.get(key) ?? { devices, connectionIds: [] };
    group.connectionIds.push(connectionId);
    groups.set(key, group);
  }
  // The biggest audiences first: they take longest.
  return [...groups.values()].sort((a, b) => b.connectionIds.length - a.connectionIds.length);
};

export interface TelemetryBatchOutcome extends FanOutResult {
  readings: number;
  devices: number;
  frames: number;
  /** Frame posts attempted (first attempts; retries are in `retried`). */
  posts: number;
  invalid: number;
  duplicates: number;
  /** Readings handed back to the queue. */
  retry: number;
  ddbRequests: number;
  ddbReadUnits: number;
}

export interface TelemetryBatchDeps {
  lookup: (deviceIds: readonly string[]) => Promise<RecipientLookup>;
  store: Pick<ConnectionStore, 'removeConnection'>;
  post: PostToConnection;
  log: Log;
  counter: Counter;
  /** Posts in flight at once, over all frames of the batch. */
  concurrency?: number;
  maxFrameBytes?: number;
  now?: () => number;
  /** Passed to the fan-out (tests shorten the 410 recheck and the backoff). */
  fanOutOptions?: Pick<FanOutOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'goneRecheckMs' | 'random' | 'now' | 'sleep'>;
  /** When the batch must stop posting; by default the invocation's remaining time less a margin. */
  deadline?: (context: LambdaClock | undefined) => number | undefined;
  /** Each device's latest reading (the snapshot frame): one conditional write per device per batch. */
  devices?: Pick<DevicesStore, 'recordLatest'>;
  /** The batch's history and rollups, one recompute per device-minute (docs/decisions/008-rollups.md). */
  history?: Pick<HistoryWriter, 'record'>;
  /** Where a failed history write's readings go (the DeadLetterQueue, for npm run redrive). */
  historyDeadLetters?: HistoryDeadLetters;
  /** Alarm rules, evaluated on the whole batch after its fan-out (alarms/alarmEvaluator.ts); a failure is logged, never retried. */
  alarms?: Pick<AlarmEvaluator, 'evaluate'>;
}

type LambdaClock = { getRemainingTimeInMillis?: () => number };

/** Builds the batch fan-out handler. It throws only when the lookup fails: then the whole batch is retried. */
export const createTelemetryBatchHandler = ({
  lookup,
  store,
  post,
  log,
  counter,
  concurrency = 64,
  maxFrameBytes = MAX_FRAME_BYTES,
  now = Date.now,
  fanOutOptions = {},
  deadline,
  devices: latestStore,
  history,
  historyDeadLetters,
  alarms,
}: TelemetryBatchDeps) =>
  async (event: SqsEvent, context?: LambdaClock): Promise<SqsBatchResponse> => {
    const records = Array.isArray(event?.Records) ? event.Records : [];
    const { devices, invalid } = groupByDevice(records, now);
    const failures = new Set<string>();
    /** Ids of the readings handed back to the queue. */
    const retry = new Set<string>();
    for (const { messageId, reason } of invalid) {
      // Not telemetry: a retry cannot fix it, and the redrive policy moves it to the dead-letter queue for a person to look at.
      log.warn('invalid telemetry in the queue; leaving it for the dead-letter queue', { messageId, reason });
      failures.add(messageId);
    }
    if (invalid.length > 0) counter.count('InvalidTelemetry', invalid.length);

    const outcome: TelemetryBatchOutcome = {
      readings: 0,
      devices: devices.size,
      frames: 0,
      posts: 0,
      invalid: invalid.length,
      duplicates: records.length - invalid.length,
      retry: 0,
      recipients: 0,
      delivered: 0,
      gone: 0,
      failed: 0,
      retried: 0,
      ddbRequests: 0,
      ddbReadUnits: 0,
    };
    for (const list of devices.values()) outcome.readings += list.length;
    outcome.duplicates -= outcome.readings;

    // Each device's newest reading of the batch, beside the fan-out (as the direct path does): a failure keeps the previous one.
    const latest = latestStore
      ? Promise.all(
          [...devices.values()].map((list) => {
            const newest = list.reduce((a, b) => (b.reading.ts > a.reading.ts ? b : a)).reading;
            return latestStore.recordLatest({ type: 'telemetry', ...newest }).catch((error: Error) => {
              log.warn('could not store the latest reading', { deviceId: newest.deviceId, reason: `${error.name}: ${error.message}` });
              return false;
            });
          }),
        )
      : undefined;

    if (devices.size > 0) {
      const found = await lookup([...devices.keys()]);
      outcome.ddbRequests = found.requests;
      outcome.ddbReadUnits = found.readUnits;
      const groups = groupConnections(found.recipients);
      const until: DeliverOptions['deadline'] = (deadline ?? fanOutDeadline)(context);

      // A connection that answers 410 is removed once, and skipped for the rest of the batch.
      const removed = new Set<string>();
      const onceStore: Pick<ConnectionStore, 'removeConnection'> = {
        removeConnection: async (connectionId) => {
          if (removed.has(connectionId)) return;
          removed.add(connectionId);
          await store.removeConnection(connectionId);
        },
      };

      const plans = groups.map((group) => {
        const parsed = group.devices.flatMap((d) => devices.get(d) ?? []);
        parsed.sort((a, b) => a.reading.receivedAt - b.reading.receivedAt || a.reading.ts - b.reading.ts);
        const parts = splitIntoFrameParts(
          parsed.map((p) => p.reading),
          maxFrameBytes,
        );
        const frames = parts.map((p) => p.body);
        // Which readings each frame carries, to hand back exactly those when it fails.
        const members: ParsedReading[][] = [];
        let at = 0;
        for (const { count } of parts) {
          members.push(parsed.slice(at, at + count));
          at += count;
        }
        return { group, frames, members };
      });
      outcome.frames = plans.reduce((n, p) => n + p.frames.length, 0);
      outcome.recipients = groups.reduce((n, g) => n + g.connectionIds.length, 0);

      // Round by round: every group's first frame, then every second frame, ... One fan-out for the whole batch, so
      // `concurrency` bounds the posts in flight over all groups (not per group: 5,000 groups of one connection
      // would otherwise be 5,000 posts queued on the HTTP agent's sockets, where no deadline can see them), and a
      // post not started by the deadline is not started at all: its frame's readings go back to the queue.
      const fanOut = createFanOut({ store: onceStore, post, log, counter: { count: () => undefined }, concurrency, ...fanOutOptions });
      let rounds = 0;
      for (const plan of plans) if (plan.frames.length > rounds) rounds = plan.frames.length;
      for (let round = 0; round < rounds; round++) {
        const active: { plan: (typeof plans)[number]; body: string; targets: string[]; skipped: number; result: FanOutResult }[] = [];
        for (const plan of plans) {
          if (plan.frames.length <= round) continue;
          const body = plan.frames[round]!;
          if (byteLength(body) > MAX_PAYLOAD_BYTES) {
            log.error('a reading exceeds the 128 KB WebSocket payload quota; not delivered', { ids: plan.members[round]!.map((m) => m.reading.id), bytes: byteLength(body) });
            counter.count('PayloadTooLarge', 1);
            continue;
          }
          const targets = plan.group.connectionIds.filter((id) => !removed.has(id));
          active.push({ plan, body, targets, skipped: 0, result: { recipients: 0, delivered: 0, gone: 0, failed: 0, retried: 0 } });
        }
        function* jobs(): Generator<DeliveryJob> {
          for (const frame of active) {
            for (const connectionId of frame.targets) {
              // Found gone by another group's post meanwhile: nothing to deliver.
              if (removed.has(connectionId)) {
                frame.skipped++;
                continue;
              }
              yield { connectionId, body: frame.body, result: frame.result };
            }
          }
        }
        await fanOut.deliverEach(jobs(), { deadline: until });
        for (const { plan, targets, skipped, result } of active) {
          outcome.posts += result.recipients;
          outcome.delivered += result.delivered;
          outcome.gone += result.gone;
          outcome.failed += result.failed;
          outcome.retried += result.retried;
          // Failed posts, or recipients never reached before the deadline: the frame's readings go back to the queue.
          if (result.failed > 0 || result.recipients + skipped < targets.length) {
            for (const member of plan.members[round]!) {
              retry.add(member.reading.id);
              for (const messageId of member.messageIds) failures.add(messageId);
            }
          }
        }
      }
    }

    await latest;
    // After the fan-out, as the direct path does; a failure is dead-lettered, the batch is not retried for it.
    if (history && devices.size > 0) {
      const readings = [...devices.values()].flatMap((list) => list.map((p) => ({ type: 'telemetry' as const, ...p.reading })));
      await history.record(readings).catch((error: Error) => onHistoryWriteFailed({ deadLetters: historyDeadLetters, log, counter }, readings, error));
    }
    // Every reading of the batch once (groupByDevice dropped duplicates); a redelivered one is a no-op (stateMachine.ts).
    const alarmed = await alarms?.evaluate([...devices.values()].flatMap((list) => list.map((p) => p.reading))).catch((error: Error) => {
      log.error('could not evaluate alarm rules', { reason: `${error.name}: ${error.message}` });
      counter.count('AlarmEvaluationFailed', 1);
      return undefined;
    });
    outcome.retry = retry.size;
    counter.count('Delivered', outcome.delivered);
    counter.count('Gone', outcome.gone);
    counter.count('Failed', outcome.failed);
    counter.count('Retried', outcome.retried);
    counter.count('FramesPosted', outcome.posts);
    counter.count('ReadingsRetried', outcome.retry);
    log.info('fanned out a telemetry batch', { ...outcome, ...(alarmed ? { alarmTransitions: alarmed.transitions.length, alarmReadUnits: alarmed.readUnits, alarmWriteUnits: alarmed.writeUnits } : {}), messages: records.length, maxFrameBytes: Math.min(maxFrameBytes, MAX_PAYLOAD_BYTES) });
    return { batchItemFailures: [...failures].map((itemIdentifier) => ({ itemIdentifier })) };
  };
