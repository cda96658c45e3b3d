/**
 * Lambda's event source mapping for an SQS queue, locally: the pollers that
 * AWS Lambda runs on the function's behalf (an ESM is a Lambda feature; the
 * queue is only polled). What it reproduces, per the Lambda developer guide:
 *
 * - batching (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html):
 *   long polls of up to 10 messages at a time, gathered until `BatchSize`
 *   records, the batching window, or 6 MB of payload, whichever comes first;
 *   with no window, the function gets what one poll returned. A BatchSize
 *   over 10 needs a window of at least 1 s (CreateEventSourceMapping refuses it).
 *   The window starts at a batch's first message, so a quiet queue's reading
 *   waits at most the window.
 * - a synchronous invoke with the SQS event shape (`Records[]` with
 *   `messageId`, `receiptHandle`, `body`, `attributes`, `eventSourceARN`, ...);
 * - success deletes the batch; an error (a throw, a timeout, a crash) deletes
 *   nothing, so every message comes back after the queue's visibility timeout,
 *   with its receive count one higher, and the queue's redrive policy moves it
 *   to the dead-letter queue after `maxReceiveCount`
 *   (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html);
 * - `ReportBatchItemFailures`: the response's `batchItemFailures` stay on the
 *   queue and the rest are deleted; an empty or null list, or an empty or null
 *   response, is complete success; a response that is not an object, a failure
 *   whose `itemIdentifier` is missing, empty, not a string or not a message of
 *   the batch, is complete failure. Without the setting the response is ignored.
 * - `MaximumConcurrency`-like invokes: `concurrency` batches in flight at once.
 *   One gatherer fills batches from the queue and gathers the next while
 *   earlier ones are invoked (when a slot is free): so a batch closes at
 *   `BatchSize` as soon as the queue's rate allows, rather than each of
 *   several pollers taking a share of the readings and waiting out the
 *   window (docs/decisions/019-local-fleet-capacity-coalesced.md).
 *
 * Not reproduced: poller scaling (AWS starts with five and adds up to 1,250
 * concurrent invokes), filter criteria, FIFO queues, the backoff Lambda
 * applies after function errors, and ESM metrics.
 */
/** A message as ReceiveMessage returns it (the SQS API's JSON shape). */
export interface ReceivedMessage {
  MessageId: string;
  ReceiptHandle: string;
  Body: string;
  MD5OfBody: string;
  Attributes?: Record<string, string>;
  MessageAttributes?: Record<string, unknown>;
}

/** What the mapping needs of SQS: the queue API's JSON shapes (local/sqs, passed in by local/stack.ts). */
export interface PolledQueue {
  receiveMessage(input: {
    QueueUrl: string;
    MaxNumberOfMessages?: number;
    WaitTimeSeconds?: number;
    MessageSystemAttributeNames?: string[];
  }): Promise<{ Messages?: ReceivedMessage[] }> | { Messages?: ReceivedMessage[] };
  deleteMessageBatch(input: { QueueUrl: string; Entries: { Id: string; ReceiptHandle: string }[] }): Promise<{ Failed: { Id: string; Code: string }[] }> | { Failed: { Id: string; Code: string }[] };
}

export interface SqsEventSourceMappingSpec {
  logicalId: string;
  functionId: string;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  maximumBatchingWindowInSeconds: number;
  reportBatchItemFailures: boolean;
  enabled: boolean;
}

export interface SqsEventRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<string, unknown>;
  md5OfBody: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

export interface BatchOutcome {
  records: number;
  deleted: number;
  /** Left on the queue: they come back after the visibility timeout. */
  retried: number;
  error?: string;
}

export interface EventSourceMappingOptions {
  spec: SqsEventSourceMappingSpec;
  queue: PolledQueue;
  region: string;
  /** Invokes the function synchronously; resolves with its response, rejects with its error. */
  invoke: (event: { Records: SqsEventRecord[] }) => Promise<unknown>;
  log: (level: 'debug' | 'info' | 'warn' | 'error', text: string) => void;
  /** Batches in flight at once (default 2, the least MaximumConcurrency allows). */
  concurrency?: number;
  /** Seconds of each long poll (20 by default, as Lambda's pollers use). */
  pollWaitSeconds?: number;
  onBatch?: (outcome: BatchOutcome) => void;
}

export class EventSourceMappingError extends Error {
  override name = 'InvalidParameterValueException';
}

/** 6 MB: the synchronous invocation payload quota, which bounds a batch. */
export const MAX_BATCH_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** 10,000 with a batching window, 10 without (standard queues). */
export const MAX_BATCH_SIZE = 10_000;

/** CreateEventSourceMapping's checks for an SQS source. */
export const validateSqsMapping = (spec: SqsEventSourceMappingSpec): void => {
  const { batchSize, maximumBatchingWindowInSeconds: window } = spec;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new EventSourceMappingError(`${spec.logicalId}: BatchSize must be 1 to ${MAX_BATCH_SIZE}, got ${batchSize}`);
  }
  if (!Number.isInteger(window) || window < 0 || window > 300) {
    throw new EventSourceMappingError(`${spec.logicalId}: MaximumBatchingWindowInSeconds must be 0 to 300, got ${window}`);
  }
  if (batchSize > 10 && window < 1) {
    throw new EventSourceMappingError(`${spec.logicalId}: a BatchSize over 10 needs a MaximumBatchingWindowInSeconds of at least 1`);
  }
};

/** Which messages of a batch to delete, from the function's response (ReportBatchItemFailures rules). */
export const messagesToDelete = (response: unknown, messageIds: readonly string[], reportBatchItemFailures: boolean): { delete: Set<string>; invalid?: string } => {
  const all = new Set(messageIds);
  if (!reportBatchItemFailures || response === null || response === undefined || response === '') return { delete: all };
  if (typeof response !== 'object' || Array.isArray(response)) return { delete: new Set(), invalid: 'the response is not a JSON object' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === null || failures === undefined) return { delete: all };
  if (!Array.isArray(failures)) return { delete: new Set(), invalid: 'batchItemFailures is not a list' };
  const keep = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '') return { delete: new Set(), invalid: 'an itemIdentifier is missing, empty or not a string' };
    if (!all.has(id)) return { delete: new Set(), invalid: `itemIdentifier ${JSON.stringify(id.slice(0, 80))} is not a message of this batch` };
    keep.add(id);
  }
  return { delete: new Set(messageIds.filter((id) => !keep.has(id))) };
};

export const toSqsRecord = (message: ReceivedMessage, queueArn: string, region: string): SqsEventRecord => ({
  messageId: message.MessageId,
  receiptHandle: message.ReceiptHandle,
  body: message.Body,
  attributes: message.Attributes ?? {},
  messageAttributes: message.MessageAttributes ?? {},
  md5OfBody: message.MD5OfBody,
  eventSource: 'aws:sqs',
  eventSourceARN: queueArn,
  awsRegion: region,
});

export const startSqsEventSourceMapping = ({ spec, queue, region, invoke, log, concurrency = 2, pollWaitSeconds = 20, onBatch }: EventSourceMappingOptions) => {
  validateSqsMapping(spec);
  const windowMs = spec.maximumBatchingWindowInSeconds * 1000;
  let stopped = !spec.enabled;
  const inFlight = new Set<Promise<void>>();

  const poll = async (wait: number, room = spec.batchSize) =>
    queue.receiveMessage({
      QueueUrl: spec.queueUrl,
      MaxNumberOfMessages: Math.max(1, Math.min(10, room)),
      WaitTimeSeconds: Math.max(0, Math.min(20, Math.ceil(wait))),
      MessageSystemAttributeNames: ['All'],
    });

  /** One batch: a first long poll, then more polls until the batch is full, the window ends, or 6 MB. */
  let gatherStartedAt = 0;
  const gather = async (): Promise<ReceivedMessage[]> => {
    const first = (await poll(pollWaitSeconds)).Messages ?? [];
    gatherStartedAt = performance.now();
    if (first.length === 0 || windowMs === 0) return first;
    const batch = [...first];
    let bytes = first.reduce((n, m) => n + Buffer.byteLength(m.Body) + 512, 0);
    const closesAt = performance.now() + windowMs;
    while (!stopped && batch.length < spec.batchSize && bytes < MAX_BATCH_PAYLOAD_BYTES) {
      const left = closesAt - performance.now();
      if (left <= 0) break;
      // A long poll answers as soon as a message arrives; in the window's last second, short polls, so it never overruns.
      const more = (await poll(left >= 1000 ? 1 : 0, spec.batchSize - batch.length)).Messages ?? [];
      if (more.length === 0 && left < 1000) await new Promise((resolve) => setTimeout(resolve, Math.min(left, 20)));
      for (const message of more) {
        batch.push(message);
        bytes += Buffer.byteLength(message.Body) + 512;
      }
    }
    return batch;
  };

  const settle = async (messages: ReceivedMessage[], gatheredMs: number) => {
    const records = messages.map((m) => toSqsRecord(m, spec.queueArn, region));
    let response: unknown;
    let error: Error | undefined;
    const invokedAt = performance.now();
    try {
      response = await invoke({ Records: records });
    } catch (caught) {
      error = caught as Error;
    }
    let toDelete = new Set<string>();
    let reason: string | undefined;
    if (error) {
      reason = `${(error as Error & { errorType?: string }).errorType ?? error.name}: ${error.message}`;
    } else {
      const decided = messagesToDelete(response, records.map((r) => r.messageId), spec.reportBatchItemFailures);
      toDelete = decided.delete;
      reason = decided.invalid ? `invalid partial batch response (${decided.invalid}): the whole batch counts as failed` : undefined;
    }
    const deletions = messages.filter((m) => toDelete.has(m.MessageId));
    for (let i = 0; i < deletions.length; i += 10) {
      const entries = deletions.slice(i, i + 10).map((m, j) => ({ Id: String(i + j), ReceiptHandle: m.ReceiptHandle }));
      const out = await Promise.resolve()
        .then(() => queue.deleteMessageBatch({ QueueUrl: spec.queueUrl, Entries: entries }))
        .catch((e: Error) => ({ Failed: entries.map((en) => ({ Id: en.Id, Code: e.name })) }));
      if (out.Failed.length > 0) log('warn', `${spec.logicalId}: could not delete ${out.Failed.length} message(s): ${out.Failed[0]!.Code}`);
    }
    const outcome: BatchOutcome = { records: records.length, deleted: deletions.length, retried: records.length - deletions.length, ...(reason ? { error: reason } : {}) };
    const text =
      `${spec.logicalId} → ${spec.functionId}: ${outcome.records} record(s) gathered in ${Math.round(gatheredMs)} ms, invoked for ${Math.round(performance.now() - invokedAt)} ms, ` +
      `${outcome.deleted} deleted, ${outcome.retried} left for retry${reason ? ` (${reason})` : ''}`;
    log(reason || outcome.retried > 0 ? 'warn' : 'debug', text);
    onBatch?.(outcome);
  };

  const slots = Math.max(1, concurrency);
  const poller = async () => {
    while (!stopped) {
      // Gathers only with a slot free: a gathered batch is never held (its visibility timeout running) waiting for one.
      if (inFlight.size >= slots) {
        await Promise.race(inFlight);
        continue;
      }
      let messages: ReceivedMessage[];
      try {
        messages = await gather();
      } catch (error) {
        if (stopped) return;
        log('warn', `${spec.logicalId}: polling failed: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (messages.length === 0) continue;
      const work: Promise<void> = settle(messages, performance.now() - gatherStartedAt)
        .catch((error: Error) => log('error', `${spec.logicalId}: settling a batch failed: ${error.message}`))
        .finally(() => inFlight.delete(work));
      inFlight.add(work);
    }
    await Promise.all([...inFlight]);
  };

  const polling = stopped ? Promise.resolve() : poller();
  if (stopped) log('info', `${spec.logicalId} is disabled (Enabled: false)`);

  return {
    spec,
    /** Stops polling (the stack closes the queue to end the long polls) and waits for the batches in flight. */
    async stop() {
      stopped = true;
      await Promise.all([...inFlight]);
    },
    /** Resolves when the poller has returned (after stop() and the queue's close()). */
    finished: () => polling,
  };
};

export type SqsEventSourceMapping = ReturnType<typeof startSqsEventSourceMapping>;
