/**
 * Hand on, don't drop. A fan-out that nears its deadline with recipients left
 * passes them to a FanoutWorkerFunction invocation (the asynchronous path that
 * sharding uses) instead of leaving them without the reading. It passes a
 * cursor, not the id list, so the payload stays small however many remain:
 *
 * - the recipient position in the lookup (the partition and the last
 *   connection id handed out: a DynamoDB ExclusiveStartKey, see
 *   RecipientPosition in connectionStore.ts);
 * - the explicit ids not reached yet: the rest of a shard, and the few that a
 *   throttled post left mid-retry (at most the fan-out's concurrency).
 *
 * Each recipient is handed out once: everything before the position has been
 * posted to (or put in a shard), everything after it has not, and an id that
 * travels as explicit was never delivered. So the chain reaches each
 * recipient at most once, like a single fan-out.
 *
 * The chain is bounded by the reading's age: a reading older than
 * `maxEventAgeMs` (FANOUT_MAX_EVENT_AGE_SECONDS, 300 s by default: the
 * worker's MaximumEventAgeInSeconds, past which Lambda itself would drop the
 * event) is not handed on. It is shed: counted `Shed`, logged, and the
 * recipients it did not reach get a small `resync` frame instead (the device
 * and the reading's time), so that a dashboard refills that range from
 * history. A resync is handed on like a reading, with its own age limit;
 * past that it is dropped, counted `ResyncShed` and logged with the numbers.
 */
import type { RecipientOptions, RecipientPosition, StoreUsage } from '../store/connectionStore.js';
import type { ConnectionStore } from '../store/connectionStore.js';
import { isPlainObject, validateDeviceId } from '../protocol/frames.js';
import type { Counter, Log } from '../runtime/observability.js';
import { type DispatchShard, type FanoutShard, type ShardedDelivery, type ShardedResult, shardSizeFor } from './sharding.js';

/** 300 s: the FanoutWorkerFunction's MaximumEventAgeInSeconds in template.yaml. */
export const DEFAULT_MAX_EVENT_AGE_SECONDS = 300;

/** Where a handed-on fan-out resumes its recipient lookup. */
export interface FanoutCursor extends Partial<RecipientPosition> {
  deviceId: string;
}

/** The FanoutWorkerFunction's payload: a shard, a continuation, or both at once. */
export interface FanoutTask extends FanoutShard {
  /** After `connectionIds`, the recipients of `cursor.deviceId` from this position on. */
  cursor?: FanoutCursor;
  /** Handoffs so far (0: the telemetry function's own invocation). */
  hop?: number;
  /** `resync`: the body is a resync frame standing in for a shed reading. */
  kind?: 'telemetry' | 'resync';
}

/** Tells a dashboard that the server shed a reading, so that it refills that range from history. */
export interface ResyncFrame {
  type: 'resync';
  deviceId: string;
  /** The shed range, by the readings' `ts` (epoch ms), both ends included. */
  from: number;
  to: number;
  /** The id of the reading shed. */
  id: string;
  reason: 'shed';
}

export interface HandOnResult extends ShardedResult {
  /** Worker invocations this one handed its rest to. */
  handoffs: number;
  /** Explicit ids among them (the cursor's recipients are not counted: they are not read). */
  handedOn: number;
  /** This invocation turned the reading into a resync. */
  shed?: boolean;
}

export interface HandOnOptions {
  deliver: ShardedDelivery;
  store: Pick<ConnectionStore, 'recipientPages'>;
  /** Without it (no worker function configured) the rest is logged as not reached, as before. */
  dispatch?: DispatchShard;
  maxEventAgeMs?: number;
  log: Log;
  counter: Counter;
  now?: () => number;
}

export interface RunOptions {
  deadline?: number;
  tally?: StoreUsage;
  /** The task came through the worker's queue: a reading that waited there past the age limit is shed at once. */
  queued?: boolean;
  /**
   * This run's recipient lookup in place of the hand-on's store: the telemetry function's first invocation reads
   * the recipient cache (recipientCache.ts); a handed-on cursor is resumed by the worker from the store itself.
   */
  store?: HandOnOptions['store'];
  /** Where the lookup reports subscribers past their expiry (connectionExpiry.ts), for this run only. */
  expired?: RecipientOptions['expired'];
}

const validCursor = (value: unknown): value is FanoutCursor => {
  if (!isPlainObject(value)) return false;
  try {
    validateDeviceId(value.deviceId, 'cursor.deviceId');
  } catch {
    return value.deviceId === '*';
  }
  // The partition is the device's own or the every-device one: the lookup reads no other.
  const partitionOk = value.key === undefined || value.key === value.deviceId || value.key === '*';
  return partitionOk && (value.after === undefined || (typeof value.after === 'string' && value.after.length <= 128));
};

/** Checks a worker payload; undefined when it is not one. */
export const parseFanoutTask = (event: unknown): FanoutTask | undefined => {
  if (!isPlainObject(event) || typeof event.body !== 'string' || typeof event.id !== 'string') return undefined;
  const ids = event.connectionIds ?? [];
  if (!Array.isArray(ids) || !ids.every((c) => typeof c === 'string' && c.length > 0 && c.length <= 128)) return undefined;
  if (event.cursor !== undefined && !validCursor(event.cursor)) return undefined;
  if (event.receivedAt !== undefined && !(typeof event.receivedAt === 'number' && Number.isFinite(event.receivedAt))) return undefined;
  if (event.hop !== undefined && !(Number.isInteger(event.hop) && (event.hop as number) >= 0)) return undefined;
  if (event.kind !== undefined && event.kind !== 'telemetry' && event.kind !== 'resync') return undefined;
  return event as unknown as FanoutTask;
};

/** The resync frame that stands in for a shed reading (its body is a telemetry frame). */
export const resyncFor = (task: FanoutTask): ResyncFrame => {
  let reading: { deviceId?: unknown; ts?: unknown } = {};
  try {
    reading = JSON.parse(task.body) as typeof reading;
  } catch {
    // A body that is not JSON still names its device through the task.
  }
  const ts = typeof reading.ts === 'number' ? reading.ts : (task.receivedAt ?? 0);
  const deviceId = typeof reading.deviceId === 'string' ? reading.deviceId : (task.deviceId ?? task.cursor?.deviceId ?? '');
  return { type: 'resync', deviceId, from: ts, to: ts, id: task.id, reason: 'shed' };
};

/**
 * The recipients of one task, in order, one id per page so that the position
 * of the last id taken is exact: first the explicit ids, then the lookup from
 * the cursor on.
 */
const trackedRecipients = (task: FanoutTask, store: HandOnOptions['store'], tally?: StoreUsage, expired?: RecipientOptions['expired']) => {
  const explicit = task.connectionIds ?? [];
  const state = { offset: 0, position: task.cursor as FanoutCursor | undefined, exhausted: false };
  async function* pages(): AsyncGenerator<readonly string[]> {
    while (state.offset < explicit.length) yield [explicit[state.offset++] as string];
    const cursor = task.cursor;
    if (cursor) {
      let key = cursor.key;
      const from = cursor.key === undefined ? undefined : { key: cursor.key, after: cursor.after };
      for await (const page of store.recipientPages(cursor.deviceId, { tally, expired, from, onPage: (k) => void (key = k) })) {
        for (const id of page) {
          state.position = { deviceId: cursor.deviceId, key, after: id };
          yield [id];
        }
      }
    }
    state.exhausted = true;
  }
  return { state, pages: pages(), rest: () => explicit.slice(state.offset) };
};

export const createHandOn = ({ deliver, store, dispatch, maxEventAgeMs = DEFAULT_MAX_EVENT_AGE_SECONDS * 1000, log, counter, now = Date.now }: HandOnOptions) => {
  const tooOld = (task: FanoutTask) => task.receivedAt !== undefined && now() - task.receivedAt > maxEventAgeMs;

  const asResync = (task: FanoutTask): FanoutTask => ({
    ...task,
    body: JSON.stringify(resyncFor(task)),
    id: `${task.id}.resync`,
    kind: 'resync',
    // The resync's own age starts now.
    receivedAt: now(),
  });

  const shedNote = (task: FanoutTask, remaining: number) => {
    counter.count('Shed', 1);
    log.warn('shed a reading: older than the handoff age limit; the recipients left get a resync frame', {
      id: task.id,
      ageMs: now() - (task.receivedAt ?? now()),
      limitMs: maxEventAgeMs,
      hop: task.hop ?? 0,
      explicit: remaining,
      cursor: task.cursor,
    });
  };

  /** Dispatches the rest as one or more tasks (only the first carries the cursor); returns how many went. */
  const handOn = async (task: FanoutTask, ids: string[], cursor: FanoutCursor | undefined, result: HandOnResult) => {
    const chunk = shardSizeFor(Buffer.byteLength(task.body), Number.MAX_SAFE_INTEGER);
    const tasks: FanoutTask[] = [];
    for (let i = 0; i < ids.length || (i === 0 && cursor); i += chunk) {
      tasks.push({
        body: task.body,
        id: task.id,
        connectionIds: ids.slice(i, i + chunk),
        ...(i === 0 && cursor ? { cursor } : {}),
        receivedAt: task.receivedAt,
        deviceId: task.deviceId,
        hop: (task.hop ?? 0) + 1,
        kind: task.kind ?? 'telemetry',
      });
    }
    for (const next of tasks) {
      try {
        await dispatch!(next);
        result.handoffs++;
        result.handedOn += next.connectionIds.length;
      } catch (error) {
        result.failed += next.connectionIds.length;
        counter.count('HandoffFailed', 1);
        log.error('could not hand on the rest of a fan-out: these recipients miss it', {
          id: task.id,
          recipients: next.connectionIds.length,
          cursor: next.cursor,
          error: (error as Error).name,
        });
      }
    }
  };

  /** Delivers a task until its deadline, then hands on whatever is left. */
  const run = async (input: FanoutTask, { deadline, tally, queued = false, store: lookup = store, expired }: RunOptions = {}): Promise<HandOnResult> => {
    let task = input;
    let shed = false;
    // Waited in Lambda's queue past the limit: this invocation has the time for a resync, not for the reading.
    if (queued && task.kind !== 'resync' && tooOld(task)) {
      shedNote(task, task.connectionIds.length);
      task = asResync(task);
      shed = true;
    }
    const recipients = trackedRecipients(task, lookup, tally, expired);
    const leftover: string[] = [];
    const sharded = await deliver(recipients.pages, task.body, task.id, undefined, {
      deadline,
      leftover,
      progress: true,
      shardFields: { receivedAt: task.receivedAt, deviceId: task.deviceId, kind: task.kind, hop: task.hop },
    });
    const result: HandOnResult = { ...sharded, handoffs: 0, handedOn: 0, ...(shed ? { shed } : {}) };
    if (sharded.rejected) return result;
    const ids = [...leftover, ...recipients.rest()];
    const cursor = task.cursor && !recipients.state.exhausted ? recipients.state.position : undefined;
    if (ids.length === 0 && !cursor) return result;

    if (!dispatch) {
      result.failed += ids.length;
      log.warn('fan-out ran out of time and no worker function is configured: the recipients not reached yet get nothing', {
        id: task.id,
        unreached: ids.length,
        cursor,
      });
      return result;
    }
    if (tooOld(task)) {
      if (task.kind === 'resync') {
        counter.count('ResyncShed', 1);
        log.error('dropped a resync: older than the handoff age limit; these recipients get neither the reading nor a resync', {
          id: task.id,
          explicit: ids.length,
          cursor,
        });
        result.failed += ids.length;
        return result;
      }
      shedNote(task, ids.length);
      result.shed = true;
      task = asResync(task);
    }
    await handOn(task, ids, cursor, result);
    if (result.handoffs > 0) {
      counter.count('Handoffs', result.handoffs);
      log.info('handed on the rest of a fan-out', { id: task.id, hop: (task.hop ?? 0) + 1, handoffs: result.handoffs, explicit: ids.length, cursor });
    }
    return result;
  };

  return { run, parse: parseFanoutTask };
};

export type HandOn = ReturnType<typeof createHandOn>;
