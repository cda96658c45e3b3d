/**
 * History writes that failed, as dead letters: the telemetry function (direct mode) and the batch function
 * (coalesced) write history after their fan-out, and a write that fails after the SDK's own retries must not fail
 * the invocation (a retry would deliver the readings to every dashboard again). Its readings go to the stack's
 * DeadLetterQueue instead, where DeadLetterQueueAlarm fires and `npm run redrive` replays them through the same
 * history writer (scripts/deadLetters.ts). docs/decisions/008-rollups.md, "When a history write fails".
 *
 * The message (kind `history-write`), one or more per failed write:
 *   {"kind":"history-write","readings":[<telemetry frame>, …],"error":"<name>: <message>","failedAt":<epoch ms>}
 * A replay is idempotent: the same reading id gives the same raw item, and its buckets are recomputed.
 */
import type { TelemetryFrame } from '../protocol/frames.js';
import type { Counter, Log } from '../runtime/observability.js';

export const HISTORY_WRITE_KIND = 'history-write';

export interface HistoryWriteDeadLetter {
  kind: typeof HISTORY_WRITE_KIND;
  readings: TelemetryFrame[];
  error: string;
  failedAt: number;
}

/**
 * 256 KiB: SQS's maximum message size, less room for the request's own encoding.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
 */
export const MAX_DEAD_LETTER_BYTES = 256 * 1024 - 1024;
/** The error text kept in a dead letter (a person reads it; the readings are what matter). */
const MAX_ERROR_CHARS = 1000;

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * The message bodies for one failed write: the readings in order, as many per message as fit in `maxBytes`.
 * A single reading larger than that (IoT Core's 128 KB payload quota makes it impossible) travels alone.
 */
export const historyDeadLetterBodies = (readings: readonly TelemetryFrame[], error: string, { failedAt, maxBytes = MAX_DEAD_LETTER_BYTES }: { failedAt: number; maxBytes?: number }): string[] => {
  const errorText = error.length > MAX_ERROR_CHARS ? `${error.slice(0, MAX_ERROR_CHARS)}…` : error;
  const head = `{"kind":"${HISTORY_WRITE_KIND}","readings":[`;
  const tail = `],"error":${JSON.stringify(errorText)},"failedAt":${failedAt}}`;
  const frame = byteLength(head) + byteLength(tail);
  const bodies: string[] = [];
  let parts: string[] = [];
  let size = frame;
  for (const reading of readings) {
    const text = JSON.stringify(reading);
    const extra = byteLength(text) + (parts.length > 0 ? 1 : 0);
    if (parts.length > 0 && size + extra > maxBytes) {
      bodies.push(head + parts.join(',') + tail);
      parts = [];
      size = frame;
    }
    size += byteLength(text) + (parts.length > 0 ? 1 : 0);
    parts.push(text);
  }
  if (parts.length > 0) bodies.push(head + parts.join(',') + tail);
  return bodies;
};

const isReading = (value: unknown): value is TelemetryFrame => {
  const r = value as Record<string, unknown> | null;
  return (
    !!r &&
    typeof r === 'object' &&
    r.type === 'telemetry' &&
    typeof r.id === 'string' &&
    typeof r.deviceId === 'string' &&
    typeof r.ts === 'number' &&
    typeof r.receivedAt === 'number' &&
    !!r.data &&
    typeof r.data === 'object' &&
    !Array.isArray(r.data)
  );
};

/** A parsed message body that is a history dead letter, or why it is not one (undefined: another kind). */
export const readHistoryDeadLetter = (doc: unknown): HistoryWriteDeadLetter | { invalid: string } | undefined => {
  const d = doc as Record<string, unknown> | null;
  if (!d || typeof d !== 'object' || d.kind !== HISTORY_WRITE_KIND) return undefined;
  if (!Array.isArray(d.readings) || d.readings.length === 0) return { invalid: 'a history-write dead letter without readings' };
  const bad = d.readings.findIndex((r) => !isReading(r));
  if (bad >= 0) return { invalid: `a history-write dead letter whose reading ${bad} is not a telemetry frame` };
  return { kind: HISTORY_WRITE_KIND, readings: d.readings as TelemetryFrame[], error: String(d.error ?? ''), failedAt: Number(d.failedAt ?? 0) };
};

/** The SQS client's one call the sender makes (an `SQSClient`, or a fake in unit specs). */
export interface DeadLetterClient {
  sendMessage(input: { QueueUrl: string; MessageBody: string }): Promise<unknown>;
}

export interface HistoryDeadLetters {
  /** Queues the readings of a failed write; resolves to the messages sent, rejects when one could not be sent. */
  send(readings: readonly TelemetryFrame[], error: Error): Promise<number>;
}

export const createHistoryDeadLetters = ({ client, queueUrl, now = Date.now, maxBytes }: { client: DeadLetterClient; queueUrl: string; now?: () => number; maxBytes?: number }): HistoryDeadLetters => ({
  async send(readings, error) {
    const bodies = historyDeadLetterBodies(readings, `${error?.name}: ${error?.message}`, { failedAt: now(), maxBytes });
    const results = await Promise.allSettled(bodies.map((MessageBody) => client.sendMessage({ QueueUrl: queueUrl, MessageBody })));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      const first = failed[0]!.reason as Error;
      throw Object.assign(new Error(`${failed.length} of ${bodies.length} dead letter(s) not sent: ${first?.name}: ${first?.message}`), { name: 'DeadLetterNotSent', sent: bodies.length - failed.length });
    }
    return bodies.length;
  },
});

/**
 * The real SQS client, loaded on first use only: history writes rarely fail, and the functions' cold start should
 * not pay for it. `SQS_ENDPOINT` points it at the local stack's SQS.
 */
export const sqsDeadLetterClient = (endpoint = process.env.SQS_ENDPOINT || undefined): DeadLetterClient => {
  let client: Promise<DeadLetterClient> | undefined;
  return {
    async sendMessage(input) {
      client ??= import('@aws-sdk/client-sqs').then(({ SQSClient, SendMessageCommand }) => {
        const sqs = new SQSClient({ endpoint, maxAttempts: 4 });
        return { sendMessage: (i: { QueueUrl: string; MessageBody: string }) => sqs.send(new SendMessageCommand(i)) };
      });
      return (await client).sendMessage(input);
    },
  };
};

/**
 * What both functions do when `history.record()` rejects: log it, count `HistoryWriteFailed`, and queue the
 * readings as dead letters. If even that fails, log it and count `HistoryDeadLetterFailed`: the readings are then
 * only in the log. Never throws: the invocation succeeds either way.
 */
export const onHistoryWriteFailed = async (
  { deadLetters, log, counter }: { deadLetters?: HistoryDeadLetters; log: Log; counter: Counter },
  readings: readonly TelemetryFrame[],
  error: Error,
): Promise<undefined> => {
  const reason = `${error?.name}: ${error?.message}`;
  counter.count('HistoryWriteFailed', 1);
  if (!deadLetters) {
    log.error('could not store readings in history, and no dead-letter queue is configured: they are lost', { readings: readings.length, ids: readings.map((r) => r.id), reason });
    return undefined;
  }
  try {
    const messages = await deadLetters.send(readings, error);
    const deviceIds = [...new Set(readings.map((r) => r.deviceId))];
    log.warn('could not store readings in history; queued them in the dead-letter queue for npm run redrive', {
      readings: readings.length,
      // The first few: a batch may carry a thousand devices.
      deviceIds: deviceIds.slice(0, 20),
      messages,
      reason,
    });
    counter.count('HistoryDeadLetters', messages);
  } catch (sendError) {
    log.error('could not store readings in history, nor queue them in the dead-letter queue', {
      readings: readings.length,
      ids: readings.map((r) => r.id),
      reason,
      deadLetterReason: `${(sendError as Error).name}: ${(sendError as Error).message}`,
    });
    counter.count('HistoryDeadLetterFailed', 1);
  }
  return undefined;
};
