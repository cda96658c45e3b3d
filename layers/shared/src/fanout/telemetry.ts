/**
 * The telemetry function (the IoT rule's target, direct mode) and the fan-out
 * worker it hands on to: one reading to every subscriber of its device.
 */
import type { AlarmEvaluator } from '../alarms/alarmEvaluator.js';
import type { ConnectionCloser } from '../connections/connectionExpiry.js';
import type { DevicesStore } from '../history/devices.js';
import { type HistoryDeadLetters, onHistoryWriteFailed } from '../history/historyDeadLetters.js';
import type { HistoryWriter } from '../history/historyWriter.js';
import { telemetryEnvelope } from '../protocol/telemetryEnvelope.js';
import type { Counter, Log } from '../runtime/observability.js';
import type { ConnectionStore } from '../store/connectionStore.js';
import { type FanOutResult, fanOutDeadline } from './fanOut.js';
import type { HandOn } from './handOn.js';

/** The part of the Lambda context a fan-out needs: its time left. */
type LambdaClock = { getRemainingTimeInMillis?: () => number };

export interface TelemetryOutcome extends Partial<FanOutResult> {
  status: 'delivered' | 'rejected';
  id?: string;
  deviceId?: string;
  shards?: number;
  sharded?: number;
  handoffs?: number;
  handedOn?: number;
  shed?: boolean;
}

/**
 * The IoT rule's target. Bad telemetry is logged and dropped (a retry cannot
 * fix it); a failed lookup throws so that Lambda retries the invocation.
 */
export const createTelemetryHandler =
  ({
    store,
    handOn,
    log,
    counter,
    devices,
    history,
    historyDeadLetters,
    closer,
    alarms,
  }: {
    log: Log;
    /** Alarm rules evaluated on each reading after its fan-out (alarms/alarmEvaluator.ts); a failure is logged, never retried. */
    alarms?: Pick<AlarmEvaluator, 'evaluate'>;
    /** The first invocation's recipient lookup (the recipient cache); without it, the hand-on's own store. */
    store?: Pick<ConnectionStore, 'recipientPages'>;
    handOn: HandOn;
    counter: Counter;
    devices?: Pick<DevicesStore, 'recordLatest'>;
    /** The reading's history and rollups (docs/decisions/008-rollups.md), written beside the latest reading. */
    history?: Pick<HistoryWriter, 'record'>;
    /** Where a failed history write's readings go (the DeadLetterQueue, for npm run redrive). */
    historyDeadLetters?: HistoryDeadLetters;
    closer?: ConnectionCloser;
  }) =>
  async (event: unknown, context?: LambdaClock): Promise<TelemetryOutcome> => {
    let envelope;
    try {
      envelope = telemetryEnvelope(event);
    } catch (error) {
      log.warn('dropped invalid telemetry', { reason: (error as Error).message });
      counter.count('InvalidTelemetry', 1);
      return { status: 'rejected' };
    }
    const lookup = { requests: 0, readUnits: 0 };
    const expired = closer?.collect();
    // Its recipients are the device's subscribers, from the start of the lookup; what the deadline leaves is handed on.
    const task = { body: JSON.stringify(envelope), id: envelope.id, deviceId: envelope.deviceId, receivedAt: envelope.receivedAt, connectionIds: [], cursor: { deviceId: envelope.deviceId } };
    const result = await handOn.run(task, { deadline: fanOutDeadline(context), tally: lookup, store, expired: expired?.expired });
    const closed = await expired?.settle();
    // The latest-reading write starts once the fan-out is done: the live path never waits on it or shares the
    // event loop with it. A failure only leaves the previous latest reading in place (the next one fixes it).
    const [latest, stored, alarmed] = await Promise.all([
      devices?.recordLatest(envelope).catch((error: Error) => {
        log.warn('could not store the latest reading', { deviceId: envelope.deviceId, reason: `${error.name}: ${error.message}` });
        counter.count('LatestStateFailed', 1);
        return undefined;
      }),
      // Dead-lettered, not thrown: a retried invocation would deliver the reading to every dashboard again
      // (docs/decisions/008-rollups.md). The SDK's own retries come first.
      history?.record([envelope]).catch((error: Error) => onHistoryWriteFailed({ deadLetters: historyDeadLetters, log, counter }, [envelope], error)),
      // Beside the latest reading, after the fan-out: a retry of the whole invocation would deliver the reading
      // again to everyone, and the next reading is evaluated anyway.
      alarms?.evaluate([envelope]).catch((error: Error) => {
        log.error('could not evaluate alarm rules', { deviceId: envelope.deviceId, reason: `${error.name}: ${error.message}` });
        counter.count('AlarmEvaluationFailed', 1);
        return undefined;
      }),
    ]);
    log.info('fanned out telemetry', {
      id: envelope.id,
      deviceId: envelope.deviceId,
      ...result,
      ddbRequests: lookup.requests,
      ddbReadUnits: lookup.readUnits,
      ...(closed ? { expiredClosed: closed.closed + closed.gone } : {}),
      ...(devices ? { latest } : {}),
      ...(stored ? { historyBuckets: stored.buckets } : {}),
      ...(alarmed ? { alarmTransitions: alarmed.transitions.length, alarmReadUnits: alarmed.readUnits, alarmWriteUnits: alarmed.writeUnits } : {}),
    });
    return { status: result.rejected ? 'rejected' : 'delivered', id: envelope.id, deviceId: envelope.deviceId, ...result };
  };

/**
 * A shard or a continuation handed over by the telemetry function (or by another
 * worker): deliver it, never fail it for one connection, and hand on what its
 * own deadline leaves.
 */
export const createFanoutWorkerHandler =
  ({ handOn, log, counter }: { handOn: HandOn; log: Log; counter: Counter }) =>
  async (event: unknown, context?: LambdaClock): Promise<TelemetryOutcome> => {
    const task = handOn.parse(event);
    if (!task) {
      log.warn('dropped an invalid fan-out shard');
      counter.count('InvalidShard', 1);
      return { status: 'rejected' };
    }
    const result = await handOn.run(task, { deadline: fanOutDeadline(context), queued: true });
    log.info('delivered a fan-out shard', { id: task.id, hop: task.hop ?? 0, ...(task.cursor ? { cursor: true } : {}), ...result });
    return { status: result.rejected ? 'rejected' : 'delivered', id: task.id, ...result };
  };
