/**
 * Amazon SQS standard queues, in process: the queue semantics that the
 * template's queues rely on (dead-letter queues, an event source mapping's
 * poller), deterministic under an injected clock.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/welcome.html
 *
 * `createSqs()` is the service: its methods take and return the JSON bodies
 * of the SQS API (AWS JSON 1.0, `X-Amz-Target: AmazonSQS.<Action>`), so
 * `sqsApi.ts` only has to put them on HTTP, and in-process callers use the
 * same shapes as the real `SQSClient`. Errors are `SqsError`s with the code
 * that SQS returns.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

// ---------------------------------------------------------------- the clock

/** Time for the queues: `now()` in epoch milliseconds, and timers for long polls. */
export interface SqsClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: SqsClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ManualClock extends SqsClock {
  /** Moves time forward, firing each timer that falls due, in order. */
  advance(ms: number): void;
}

/** A clock that moves only when told: visibility timeouts, retention and long polls without waiting. */
export const createManualClock = (startMs = Date.UTC(2026, 0, 1)): ManualClock => {
  let now = startMs;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimer(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimer: (handle) => void timers.delete(handle as number),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
};

// ---------------------------------------------------------------- errors

/** An SQS error: `code` is the JSON protocol's `__type` shape name, `queryCode` the older query-protocol code. */
export class SqsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly queryCode: string = code,
    readonly senderFault = true,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

const invalidParameter = (message: string) => new SqsError('InvalidParameterValue', message, 'InvalidParameterValue');
const invalidAttributeValue = (name: string, reason: string) =>
  new SqsError('InvalidAttributeValue', `Invalid value for the parameter ${name}. Reason: ${reason}`, 'InvalidAttributeValue');
const noQueue = () =>
  new SqsError('QueueDoesNotExist', 'The specified queue does not exist.', 'AWS.SimpleQueueService.NonExistentQueue');

// ---------------------------------------------------------------- wire shapes (the API's JSON)

export interface MessageAttributeValue {
  DataType: string;
  StringValue?: string;
  /** base64, as the JSON protocol carries blobs */
  BinaryValue?: string;
}
export type MessageAttributes = Record<string, MessageAttributeValue>;

export interface SendMessageInput {
  QueueUrl: string;
  MessageBody: string;
  DelaySeconds?: number;
  MessageAttributes?: MessageAttributes;
  MessageSystemAttributes?: Record<string, MessageAttributeValue>;
}
export interface SendMessageOutput {
  MessageId: string;
  MD5OfMessageBody: string;
  MD5OfMessageAttributes?: string;
}
export interface BatchResultError {
  Id: string;
  SenderFault: boolean;
  Code: string;
  Message: string;
}
export interface SendMessageBatchInput {
  QueueUrl: string;
  Entries: (Omit<SendMessageInput, 'QueueUrl'> & { Id: string })[];
}
export interface SendMessageBatchOutput {
  Successful: (SendMessageOutput & { Id: string })[];
  Failed: BatchResultError[];
}
export interface ReceiveMessageInput {
  QueueUrl: string;
  MaxNumberOfMessages?: number;
  VisibilityTimeout?: number;
  WaitTimeSeconds?: number;
  MessageSystemAttributeNames?: string[];
  /** deprecated spelling of MessageSystemAttributeNames, still accepted by SQS */
  AttributeNames?: string[];
  MessageAttributeNames?: string[];
}
export interface ReceivedMessage {
  MessageId: string;
  ReceiptHandle: string;
  Body: string;
  MD5OfBody: string;
  Attributes?: Record<string, string>;
  MessageAttributes?: MessageAttributes;
  MD5OfMessageAttributes?: string;
}
export interface ReceiveMessageOutput {
  Messages?: ReceivedMessage[];
}
export interface DeleteMessageBatchInput {
  QueueUrl: string;
  Entries: { Id: string; ReceiptHandle: string }[];
}
export interface ChangeMessageVisibilityBatchInput {
  QueueUrl: string;
  Entries: { Id: string; ReceiptHandle: string; VisibilityTimeout?: number }[];
}
export interface BatchIdsOutput {
  Successful: { Id: string }[];
  Failed: BatchResultError[];
}

// ---------------------------------------------------------------- limits (SQS quotas and attribute ranges)
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html

const RANGES: Record<string, [number, number, number]> = {
  // name: [min, max, default]
  DelaySeconds: [0, 900, 0],
  MaximumMessageSize: [1024, 262_144, 262_144],
  MessageRetentionPeriod: [60, 1_209_600, 345_600],
  ReceiveMessageWaitTimeSeconds: [0, 20, 0],
  VisibilityTimeout: [0, 43_200, 30],
};
/** 10 messages per ReceiveMessage, 10 entries per batch. */
export const MAX_BATCH = 10;
/** 120,000 in-flight messages per standard queue (OverLimit beyond). */
export const MAX_IN_FLIGHT = 120_000;
/** PurgeQueue: once per 60 seconds per queue. */
const PURGE_INTERVAL_MS = 60_000;
/** Queue names: 1-80 of alphanumerics, hyphens and underscores. */
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
/** Batch entry ids: up to 80 alphanumerics, hyphens and underscores. */
const BATCH_ID = /^[A-Za-z0-9_-]{1,80}$/;
/** Message bodies: XML characters only (#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF). */
const INVALID_BODY_CHAR = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const SETTABLE = new Set([
  ...Object.keys(RANGES),
  'RedrivePolicy',
  'RedriveAllowPolicy',
  'Policy',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'SqsManagedSseEnabled',
]);

export const md5Hex = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

/**
 * MD5 of message attributes, as SQS computes it: attributes sorted by name,
 * each as length-prefixed name, length-prefixed data type, a transport byte
 * (1 string/number, 2 binary) and the length-prefixed value.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
 */
export const md5OfMessageAttributes = (attributes: MessageAttributes): string => {
  const hash = createHash('md5');
  const prefixed = (value: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(value.length);
    hash.update(length);
    hash.update(value);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name] as MessageAttributeValue;
    prefixed(Buffer.from(name, 'utf8'));
    prefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      prefixed(Buffer.from(value.BinaryValue, 'base64'));
    } else {
      hash.update(Buffer.from([1]));
      prefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
};

const attributeBytes = (attributes: MessageAttributes | undefined) => {
  let size = 0;
  for (const [name, value] of Object.entries(attributes ?? {})) {
    size += Buffer.byteLength(name) + Buffer.byteLength(value.DataType);
    size += value.BinaryValue !== undefined ? Buffer.from(value.BinaryValue, 'base64').length : Buffer.byteLength(value.StringValue ?? '');
  }
  return size;
};

// ---------------------------------------------------------------- one queue

interface StoredMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  attributes?: MessageAttributes;
  md5OfAttributes?: string;
  sentAt: number;
  /** when it may be received: after DelaySeconds, after a visibility timeout */
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  /** the latest receive's handle and time; only that handle deletes the message */
  receiptHandle?: string;
  receivedAt?: number;
  deadLetterSourceArn?: string;
}

export interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

interface Waiter {
  input: ReceiveMessageInput;
  deadline: number;
  resolve: (out: ReceiveMessageOutput) => void;
}

class StandardQueue {
  readonly messages = new Map<string, StoredMessage>();
  readonly attributes: Record<string, string>;
  readonly createdAt: number;
  lastModifiedAt: number;
  lastPurgeAt = -Infinity;
  waiters: Waiter[] = [];
  wakeTimer: unknown;

  constructor(
    readonly name: string,
    readonly url: string,
    readonly arn: string,
    attributes: Record<string, string>,
    now: number,
  ) {
    this.attributes = attributes;
    this.createdAt = now;
    this.lastModifiedAt = now;
  }

  number(name: keyof typeof RANGES): number {
    const value = this.attributes[name];
    return value === undefined ? (RANGES[name] as [number, number, number])[2] : Number(value);
  }

  redrivePolicy(): RedrivePolicy | undefined {
    const raw = this.attributes.RedrivePolicy;
    return raw ? (JSON.parse(raw) as RedrivePolicy) : undefined;
  }

  /** Drops messages past the retention period (counted from their first enqueue, also in a dead-letter queue). */
  expire(now: number) {
    const retentionMs = this.number('MessageRetentionPeriod') * 1000;
    for (const [id, message] of this.messages) if (message.sentAt + retentionMs <= now) this.messages.delete(id);
  }

  counts(now: number) {
    this.expire(now);
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const message of this.messages.values()) {
      if (message.visibleAt <= now) visible++;
      else if (message.receiptHandle !== undefined) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed };
  }
}

// ---------------------------------------------------------------- the service

export interface SqsOptions {
  /** The endpoint that queue URLs name: `${endpoint}/${accountId}/${queueName}`. */
  endpoint?: string;
  region?: string;
  accountId?: string;
  clock?: SqsClock;
}

export type Sqs = ReturnType<typeof createSqs>;

const integerIn = (name: string, value: unknown, [min, max]: [number, number, number?] | number[]) => {
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < (min as number) || number > (max as number)) {
    throw invalidParameter(`Value ${String(value)} for parameter ${name} is invalid. Reason: must be an integer from ${min} to ${max}.`);
  }
  return number;
};

const checkBatch = <T extends { Id: string }>(entries: T[] | undefined): T[] => {
  if (!entries || entries.length === 0) throw new SqsError('EmptyBatchRequest', 'There should be at least one entry in the request.', 'AWS.SimpleQueueService.EmptyBatchRequest');
  if (entries.length > MAX_BATCH) {
    throw new SqsError('TooManyEntriesInBatchRequest', `Maximum number of entries per request are ${MAX_BATCH}. You have sent ${entries.length}.`, 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest');
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    if (typeof entry.Id !== 'string' || !BATCH_ID.test(entry.Id)) {
      throw new SqsError('InvalidBatchEntryId', 'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.', 'AWS.SimpleQueueService.InvalidBatchEntryId');
    }
    if (seen.has(entry.Id)) throw new SqsError('BatchEntryIdsNotDistinct', `Id ${entry.Id} repeated.`, 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct');
    seen.add(entry.Id);
  }
  return entries;
};

const failure = (Id: string, error: unknown): BatchResultError => {
  if (!(error instanceof SqsError)) throw error;
  return { Id, SenderFault: error.senderFault, Code: error.queryCode, Message: error.message };
};

/** Receipt handles: opaque to callers, here base64url of queue, message, receive number and a nonce. */
const newReceiptHandle = (queue: string, messageId: string, receive: number) =>
  Buffer.from(JSON.stringify([queue, messageId, receive, randomBytes(6).toString('hex')])).toString('base64url');
const parseReceiptHandle = (handle: unknown): { queue: string; messageId: string } => {
  try {
    const [queue, messageId] = JSON.parse(Buffer.from(String(handle), 'base64url').toString('utf8')) as [string, string];
    if (typeof queue === 'string' && typeof messageId === 'string') return { queue, messageId };
  } catch {
    // fall through
  }
  throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${String(handle)}" is not a valid receipt handle.`, 'ReceiptHandleIsInvalid');
};

const wantsName = (wanted: string[] | undefined, name: string) =>
  !!wanted?.some((w) => w === 'All' || w === '.*' || w === name || (w.endsWith('.*') && name.startsWith(w.slice(0, -1))));

export const createSqs = ({ endpoint = 'http://127.0.0.1', region = 'us-east-1', accountId = '000000000000', clock = systemClock }: SqsOptions = {}) => {
  const queues = new Map<string, StandardQueue>();
  const base = endpoint.replace(/\/+$/, '');

  /** By URL (any host: only the path names the queue, as SQS routes by account and name) or by name. */
  const queueOf = (urlOrName: unknown): StandardQueue => {
    if (typeof urlOrName !== 'string' || urlOrName === '') throw invalidParameter('Value for parameter QueueUrl is invalid. Reason: a queue URL is required.');
    const name = urlOrName.includes('/') ? (urlOrName.replace(/\/+$/, '').split('/').pop() as string) : urlOrName;
    const queue = queues.get(name);
    if (!queue) throw noQueue();
    return queue;
  };
  const queueByArn = (arn: string) => [...queues.values()].find((queue) => queue.arn === arn);

  const validateAttributes = (attributes: Record<string, string>): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [name, raw] of Object.entries(attributes)) {
      const value = String(raw);
      if (name === 'FifoQueue' || name === 'ContentBasedDeduplication') {
        if (value === 'false') continue;
        throw new SqsError('UnsupportedOperation', 'FIFO queues are not available locally.', 'AWS.SimpleQueueService.UnsupportedOperation');
      }
      if (!SETTABLE.has(name)) throw new SqsError('InvalidAttributeName', `Unknown Attribute ${name}.`, 'InvalidAttributeName');
      if (name in RANGES) {
        const [min, max] = RANGES[name] as [number, number, number];
        const number = Number(value);
        if (!/^\d+$/.test(value) || number < min || number > max) throw invalidAttributeValue(name, `must be an integer from ${min} to ${max}`);
      }
      if (name === 'RedrivePolicy' && value !== '') {
        let policy: { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
        try {
          policy = JSON.parse(value);
        } catch {
          throw invalidAttributeValue(name, 'Invalid JSON');
        }
        const maxReceiveCount = Number(policy.maxReceiveCount);
        if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) throw invalidAttributeValue(name, 'maxReceiveCount must be an integer from 1 to 1000');
        if (typeof policy.deadLetterTargetArn !== 'string' || !queueByArn(policy.deadLetterTargetArn)) throw invalidAttributeValue(name, 'Dead letter target does not exist.');
        out[name] = JSON.stringify({ deadLetterTargetArn: policy.deadLetterTargetArn, maxReceiveCount });
        continue;
      }
      out[name] = value;
    }
    return out;
  };

  const messageOut = (message: StoredMessage, input: ReceiveMessageInput): ReceivedMessage => {
    const systemNames = [...(input.MessageSystemAttributeNames ?? []), ...(input.AttributeNames ?? [])];
    const system: Record<string, string> = {};
    const add = (name: string, value: string | undefined) => {
      if (value !== undefined && wantsName(systemNames, name)) system[name] = value;
    };
    add('SenderId', accountId);
    add('SentTimestamp', String(message.sentAt));
    add('ApproximateReceiveCount', String(message.receiveCount));
    add('ApproximateFirstReceiveTimestamp', message.firstReceivedAt === undefined ? undefined : String(message.firstReceivedAt));
    add('DeadLetterQueueSourceArn', message.deadLetterSourceArn);
    const attributes = Object.fromEntries(Object.entries(message.attributes ?? {}).filter(([name]) => wantsName(input.MessageAttributeNames, name)));
    const hasAttributes = Object.keys(attributes).length > 0;
    return {
      MessageId: message.messageId,
      ReceiptHandle: message.receiptHandle as string,
      Body: message.body,
      MD5OfBody: message.md5OfBody,
      ...(Object.keys(system).length ? { Attributes: system } : {}),
      ...(hasAttributes ? { MessageAttributes: attributes, MD5OfMessageAttributes: md5OfMessageAttributes(attributes) } : {}),
    };
  };

  const enqueue = (queue: StandardQueue, entry: Omit<SendMessageInput, 'QueueUrl'>): SendMessageOutput => {
    const now = clock.now();
    const body = entry.MessageBody;
    if (typeof body !== 'string' || body.length === 0) throw new SqsError('MissingParameter', 'The request must contain the parameter MessageBody.', 'MissingParameter');
    if (INVALID_BODY_CHAR.test(body)) {
      throw new SqsError('InvalidMessageContents', 'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF', 'InvalidMessageContents');
    }
    const size = Buffer.byteLength(body) + attributeBytes(entry.MessageAttributes);
    const limit = queue.number('MaximumMessageSize');
    if (size > limit) throw invalidParameter(`One or more parameters are invalid. Reason: Message must be shorter than ${limit} bytes.`);
    const delay = entry.DelaySeconds === undefined ? queue.number('DelaySeconds') : integerIn('DelaySeconds', entry.DelaySeconds, RANGES.DelaySeconds as [number, number, number]);
    const attributes = entry.MessageAttributes && Object.keys(entry.MessageAttributes).length ? structuredClone(entry.MessageAttributes) : undefined;
    for (const [name, value] of Object.entries(attributes ?? {})) {
      if (!value?.DataType || !/^(String|Number|Binary)(\..+)?$/.test(value.DataType)) throw invalidParameter(`The message attribute '${name}' has an invalid data type.`);
    }
    const message: StoredMessage = {
      messageId: randomUUID(),
      body,
      md5OfBody: md5Hex(body),
      attributes,
      md5OfAttributes: attributes ? md5OfMessageAttributes(attributes) : undefined,
      sentAt: now,
      visibleAt: now + delay * 1000,
      receiveCount: 0,
    };
    queue.messages.set(message.messageId, message);
    wake(queue);
    return { MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody, ...(message.md5OfAttributes ? { MD5OfMessageAttributes: message.md5OfAttributes } : {}) };
  };

  /** Takes up to `max` visible messages, moving any past the redrive policy's maxReceiveCount to the dead-letter queue. */
  const take = (queue: StandardQueue, input: ReceiveMessageInput): ReceivedMessage[] => {
    const now = clock.now();
    queue.expire(now);
    const max = input.MaxNumberOfMessages ?? 1;
    const visibilityMs = (input.VisibilityTimeout ?? queue.number('VisibilityTimeout')) * 1000;
    const redrive = queue.redrivePolicy();
    const deadLetterQueue = redrive ? queueByArn(redrive.deadLetterTargetArn) : undefined;
    const out: ReceivedMessage[] = [];
    let inFlight = queue.counts(now).inFlight;
    for (const message of [...queue.messages.values()]) {
      if (out.length >= max) break;
      if (message.visibleAt > now) continue;
      if (redrive && deadLetterQueue && message.receiveCount >= redrive.maxReceiveCount) {
        // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
        // Moved on the receive after the count is reached; the enqueue timestamp (and so retention) is unchanged.
        queue.messages.delete(message.messageId);
        deadLetterQueue.messages.set(message.messageId, {
          ...message,
          visibleAt: now,
          receiptHandle: undefined,
          receivedAt: undefined,
          deadLetterSourceArn: queue.arn,
        });
        wake(deadLetterQueue);
        continue;
      }
      if (inFlight >= MAX_IN_FLIGHT) {
        if (out.length === 0) throw new SqsError('OverLimit', `Too many messages in flight (${MAX_IN_FLIGHT}).`, 'AWS.SimpleQueueService.OverLimit');
        break;
      }
      message.receiveCount += 1;
      message.firstReceivedAt ??= now;
      message.receivedAt = now;
      message.receiptHandle = newReceiptHandle(queue.name, message.messageId, message.receiveCount);
      message.visibleAt = now + visibilityMs;
      inFlight++;
      out.push(messageOut(message, input));
    }
    return out;
  };

  /** Answers long polls that can now be answered, and sets a timer for the next message to become visible or poll to end. */
  const wake = (queue: StandardQueue) => {
    if (queue.wakeTimer !== undefined) {
      clock.clearTimer(queue.wakeTimer);
      queue.wakeTimer = undefined;
    }
    const now = clock.now();
    const waiting: Waiter[] = [];
    for (const waiter of queue.waiters) {
      const messages = take(queue, waiter.input);
      if (messages.length > 0) waiter.resolve({ Messages: messages });
      else if (waiter.deadline <= now) waiter.resolve({});
      else waiting.push(waiter);
    }
    queue.waiters = waiting;
    if (waiting.length === 0) return;
    let next = Math.min(...waiting.map((waiter) => waiter.deadline));
    for (const message of queue.messages.values()) if (message.visibleAt > now && message.visibleAt < next) next = message.visibleAt;
    queue.wakeTimer = clock.setTimer(() => {
      queue.wakeTimer = undefined;
      wake(queue);
    }, next - now);
  };

  const findInFlight = (queue: StandardQueue, handle: unknown) => {
    const { queue: queueName, messageId } = parseReceiptHandle(handle);
    if (queueName !== queue.name) throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${String(handle)}" is not a valid receipt handle.`, 'ReceiptHandleIsInvalid');
    const message = queue.messages.get(messageId);
    return message && message.receiptHandle === handle ? message : undefined;
  };

  const changeVisibility = (queue: StandardQueue, handle: string, timeout: unknown) => {
    const seconds = integerIn('VisibilityTimeout', timeout, RANGES.VisibilityTimeout as [number, number, number]);
    const message = findInFlight(queue, handle);
    const now = clock.now();
    if (!message || message.visibleAt <= now) {
      throw new SqsError('MessageNotInflight', 'The message referred to is not in flight.', 'AWS.SimpleQueueService.MessageNotInflight');
    }
    // 12 hours at most from the receive, not from this call.
    if (now + seconds * 1000 - (message.receivedAt as number) > 43_200_000) {
      throw invalidParameter(`Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]`);
    }
    message.visibleAt = now + seconds * 1000;
    wake(queue);
  };

  const deleteMessage = (queue: StandardQueue, handle: string) => {
    const message = findInFlight(queue, handle);
    // An old handle (the message was received again since) succeeds but deletes nothing, as on SQS.
    if (message) queue.messages.delete(message.messageId);
  };

  const queueAttributes = (queue: StandardQueue, names: string[] | undefined) => {
    const now = clock.now();
    const { visible, inFlight, delayed } = queue.counts(now);
    const all: Record<string, string> = {
      QueueArn: queue.arn,
      ApproximateNumberOfMessages: String(visible),
      ApproximateNumberOfMessagesNotVisible: String(inFlight),
      ApproximateNumberOfMessagesDelayed: String(delayed),
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.lastModifiedAt / 1000)),
      ...Object.fromEntries(Object.entries(RANGES).map(([name]) => [name, String(queue.number(name as keyof typeof RANGES))])),
      SqsManagedSseEnabled: queue.attributes.KmsMasterKeyId ? 'false' : 'true',
      ...queue.attributes,
    };
    if (!names || names.length === 0) return {};
    if (names.includes('All')) return all;
    const out: Record<string, string> = {};
    for (const name of names) {
      if (!(name in all) && !SETTABLE.has(name)) throw new SqsError('InvalidAttributeName', `Unknown Attribute ${name}.`, 'InvalidAttributeName');
      if (all[name] !== undefined) out[name] = all[name] as string;
    }
    return out;
  };

  return {
    endpoint: base,
    region,
    accountId,
    clock,

    createQueue({ QueueName, Attributes = {} }: { QueueName: string; Attributes?: Record<string, string>; tags?: Record<string, string> }) {
      if (typeof QueueName !== 'string' || !QUEUE_NAME.test(QueueName)) {
        if (typeof QueueName === 'string' && QueueName.endsWith('.fifo')) throw new SqsError('UnsupportedOperation', 'FIFO queues are not available locally.', 'AWS.SimpleQueueService.UnsupportedOperation');
        throw invalidParameter('Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length');
      }
      const attributes = validateAttributes(Attributes);
      const existing = queues.get(QueueName);
      if (existing) {
        // Idempotent with the same attributes; an error with different ones.
        const differs = Object.entries(attributes).some(([name, value]) => (existing.attributes[name] ?? String(RANGES[name]?.[2] ?? '')) !== value);
        if (differs) throw new SqsError('QueueNameExists', `A queue already exists with the same name and a different value for attribute(s)`, 'QueueAlreadyExists');
        return { QueueUrl: existing.url };
      }
      const queue = new StandardQueue(QueueName, `${base}/${accountId}/${QueueName}`, `arn:aws:sqs:${region}:${accountId}:${QueueName}`, attributes, clock.now());
      queues.set(QueueName, queue);
      return { QueueUrl: queue.url };
    },

    getQueueUrl({ QueueName }: { QueueName: string }) {
      return { QueueUrl: queueOf(String(QueueName ?? '').replace(/\//g, '') || '-').url };
    },

    listQueues({ QueueNamePrefix = '' }: { QueueNamePrefix?: string } = {}) {
      const urls = [...queues.values()].filter((queue) => queue.name.startsWith(QueueNamePrefix)).map((queue) => queue.url);
      return urls.length ? { QueueUrls: urls.slice(0, 1000) } : {};
    },

    deleteQueue({ QueueUrl }: { QueueUrl: string }) {
      const queue = queueOf(QueueUrl);
      for (const waiter of queue.waiters) waiter.resolve({});
      queue.waiters = [];
      if (queue.wakeTimer !== undefined) clock.clearTimer(queue.wakeTimer);
      queues.delete(queue.name);
      return {};
    },

    getQueueAttributes({ QueueUrl, AttributeNames }: { QueueUrl: string; AttributeNames?: string[] }) {
      const attributes = queueAttributes(queueOf(QueueUrl), AttributeNames);
      return Object.keys(attributes).length ? { Attributes: attributes } : {};
    },

    setQueueAttributes({ QueueUrl, Attributes = {} }: { QueueUrl: string; Attributes?: Record<string, string> }) {
      const queue = queueOf(QueueUrl);
      for (const [name, value] of Object.entries(validateAttributes(Attributes))) {
        if (value === '' && name === 'RedrivePolicy') delete queue.attributes[name];
        else queue.attributes[name] = value;
      }
      queue.lastModifiedAt = clock.now();
      return {};
    },

    purgeQueue({ QueueUrl }: { QueueUrl: string }) {
      const queue = queueOf(QueueUrl);
      const now = clock.now();
      if (now - queue.lastPurgeAt < PURGE_INTERVAL_MS) {
        throw new SqsError('PurgeQueueInProgress', `Only one PurgeQueue operation on ${queue.name} is allowed every 60 seconds.`, 'AWS.SimpleQueueService.PurgeQueueInProgress');
      }
      queue.lastPurgeAt = now;
      queue.messages.clear();
      return {};
    },

    sendMessage(input: SendMessageInput): SendMessageOutput {
      return enqueue(queueOf(input.QueueUrl), input);
    },

    sendMessageBatch({ QueueUrl, Entries }: SendMessageBatchInput): SendMessageBatchOutput {
      const queue = queueOf(QueueUrl);
      const entries = checkBatch(Entries);
      const total = entries.reduce((sum, entry) => sum + Buffer.byteLength(String(entry.MessageBody ?? '')) + attributeBytes(entry.MessageAttributes), 0);
      const limit = queue.number('MaximumMessageSize');
      if (total > limit) throw new SqsError('BatchRequestTooLong', `Batch requests cannot be longer than ${limit} bytes. You have sent ${total} bytes.`, 'AWS.SimpleQueueService.BatchRequestTooLong');
      const out: SendMessageBatchOutput = { Successful: [], Failed: [] };
      for (const { Id, ...entry } of entries) {
        try {
          out.Successful.push({ Id, ...enqueue(queue, entry) });
        } catch (error) {
          out.Failed.push(failure(Id, error));
        }
      }
      return out;
    },

    /** With WaitTimeSeconds (or the queue's ReceiveMessageWaitTimeSeconds) above 0, a long poll: resolves as soon as a message is visible. */
    async receiveMessage(input: ReceiveMessageInput): Promise<ReceiveMessageOutput> {
      const queue = queueOf(input.QueueUrl);
      integerIn('MaxNumberOfMessages', input.MaxNumberOfMessages ?? 1, [1, MAX_BATCH]);
      if (input.VisibilityTimeout !== undefined) integerIn('VisibilityTimeout', input.VisibilityTimeout, RANGES.VisibilityTimeout as [number, number, number]);
      const wait = integerIn('WaitTimeSeconds', input.WaitTimeSeconds ?? queue.number('ReceiveMessageWaitTimeSeconds'), [0, 20]);
      const messages = take(queue, input);
      if (messages.length > 0 || wait === 0) return messages.length ? { Messages: messages } : {};
      return new Promise((resolve) => {
        queue.waiters.push({ input, deadline: clock.now() + wait * 1000, resolve });
        wake(queue);
      });
    },

    deleteMessage({ QueueUrl, ReceiptHandle }: { QueueUrl: string; ReceiptHandle: string }) {
      deleteMessage(queueOf(QueueUrl), ReceiptHandle);
      return {};
    },

    deleteMessageBatch({ QueueUrl, Entries }: DeleteMessageBatchInput): BatchIdsOutput {
      const queue = queueOf(QueueUrl);
      const out: BatchIdsOutput = { Successful: [], Failed: [] };
      for (const { Id, ReceiptHandle } of checkBatch(Entries)) {
        try {
          deleteMessage(queue, ReceiptHandle);
          out.Successful.push({ Id });
        } catch (error) {
          out.Failed.push(failure(Id, error));
        }
      }
      return out;
    },

    changeMessageVisibility({ QueueUrl, ReceiptHandle, VisibilityTimeout }: { QueueUrl: string; ReceiptHandle: string; VisibilityTimeout: number }) {
      changeVisibility(queueOf(QueueUrl), ReceiptHandle, VisibilityTimeout);
      return {};
    },

    changeMessageVisibilityBatch({ QueueUrl, Entries }: ChangeMessageVisibilityBatchInput): BatchIdsOutput {
      const queue = queueOf(QueueUrl);
      const out: BatchIdsOutput = { Successful: [], Failed: [] };
      for (const { Id, ReceiptHandle, VisibilityTimeout } of checkBatch(Entries)) {
        try {
          changeVisibility(queue, ReceiptHandle, VisibilityTimeout);
          out.Successful.push({ Id });
        } catch (error) {
          out.Failed.push(failure(Id, error));
        }
      }
      return out;
    },

    // ------------------------------------------------ local conveniences (not SQS actions)

    /** The queue's URL by name (or undefined), with no error: for wiring. */
    queueUrl: (name: string) => queues.get(name)?.url,
    /** ApproximateNumberOfMessages / NotVisible / Delayed as numbers. */
    counts(urlOrName: string) {
      return queueOf(urlOrName).counts(clock.now());
    },
    /** Ends every long poll (with no messages), for shutdown. */
    close() {
      for (const queue of queues.values()) {
        for (const waiter of queue.waiters) waiter.resolve({});
        queue.waiters = [];
        if (queue.wakeTimer !== undefined) clock.clearTimer(queue.wakeTimer);
        queue.wakeTimer = undefined;
      }
    },
  };
};

/** The SQS actions (X-Amz-Target `AmazonSQS.<Action>`) and the service method each maps to. */
export const SQS_ACTIONS = {
  CreateQueue: 'createQueue',
  GetQueueUrl: 'getQueueUrl',
  ListQueues: 'listQueues',
  DeleteQueue: 'deleteQueue',
  GetQueueAttributes: 'getQueueAttributes',
  SetQueueAttributes: 'setQueueAttributes',
  PurgeQueue: 'purgeQueue',
  SendMessage: 'sendMessage',
  SendMessageBatch: 'sendMessageBatch',
  ReceiveMessage: 'receiveMessage',
  DeleteMessage: 'deleteMessage',
  DeleteMessageBatch: 'deleteMessageBatch',
  ChangeMessageVisibility: 'changeMessageVisibility',
  ChangeMessageVisibilityBatch: 'changeMessageVisibilityBatch',
} as const satisfies Record<string, keyof Sqs>;
