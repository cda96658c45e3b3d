/**
 * The cost and latency model behind `npm run cost` and docs/scaling.md.
 * Prices are AWS's published on-demand prices for us-east-1 (checked 2026-11;
 * verify against the pricing pages before you budget):
 *   API Gateway WebSocket  https://aws.amazon.com/api-gateway/pricing/
 *   Lambda (arm64)         https://aws.amazon.com/lambda/pricing/
 *   DynamoDB on-demand     https://aws.amazon.com/dynamodb/pricing/on-demand/
 *   IoT Core               https://aws.amazon.com/iot-core/pricing/
 */
export const PRICES = {
  apiGatewayPerMillionMessages: 1.0, // first billion; messages metered in 32 KB increments
  apiGatewayPerMillionConnectionMinutes: 0.25,
  lambdaPerGbSecondArm: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  dynamoPerMillionReadUnits: 0.125,
  dynamoPerMillionWriteUnits: 0.625,
  iotPerMillionMessages: 1.0, // metered in 5 KB increments
  iotPerMillionRulesTriggered: 0.15,
  iotPerMillionActions: 0.15,
  iotPerMillionConnectionMinutes: 0.08,
  sqsPerMillionRequests: 0.4, // standard queues, after the first million; metered in 64 KB chunks
} as const;

/** Quotas that shape the design (defaults; most can be raised). */
export const LIMITS = {
  apiGatewayRequestsPerSecond: 10_000, // account-wide, shared with PostToConnection
  newConnectionsPerSecond: 500,
  lambdaConcurrency: 1_000,
} as const;

const SECONDS_PER_MONTH = 30 * 24 * 3600;
const MINUTES_PER_MONTH = 30 * 24 * 60;

export interface Scenario {
  /** Connected dashboards. */
  connections: number;
  /** Dashboards subscribed to a message's device. The seed design has no subscriptions: it posts to every connection. */
  recipients: number;
  /** Telemetry messages per second, all devices together. */
  ratePerSecond: number;
  devices: number;
  payloadBytes: number;
  /** Average dashboard session, for connect/disconnect writes. */
  sessionMinutes: number;
  memoryMb: number;
  /** Round trip of one PostToConnection from Lambda. */
  postRttMs: number;
}

export interface Engine {
  name: 'ours' | 'seed';
  /** CPU per delivery (µs), from `npm run bench`. */
  cpuMicrosPerDelivery: number;
  /** Posts in flight at once: ours is bounded; the seed's Promise.all is unbounded but CPU-bound. */
  concurrency: number;
  /** Bytes read per recipient lookup: ours reads subscription items; the seed Scans every connection item. */
  lookupBytes: (s: Scenario) => number;
  /** Posts per message: ours posts to subscribers; the seed to every connection. */
  postsPerMessage: (s: Scenario) => number;
  shardSize: number;
}

export const ENGINES: Record<'ours' | 'seed', Engine> = {
  ours: {
    name: 'ours',
    cpuMicrosPerDelivery: 125,
    concurrency: 64,
    lookupBytes: (s) => s.recipients * 60, // ~60 B per subscription item (pk, sk, expiresAt)
    postsPerMessage: (s) => s.recipients,
    shardSize: 2000,
  },
  seed: {
    name: 'seed',
    cpuMicrosPerDelivery: 900,
    concurrency: Number.POSITIVE_INFINITY,
    lookupBytes: (s) => s.connections * 120, // ~120 B per connection item, all of them, every message
    postsPerMessage: (s) => s.connections,
    shardSize: Number.POSITIVE_INFINITY,
  },
};

export interface Estimate {
  engine: string;
  postsPerSecond: number;
  invocationMs: number;
  invocationsPerMessage: number;
  latencyLastRecipientMs: number;
  concurrentExecutions: number;
  readUnitsPerMessage: number;
  monthly: { apiGateway: number; lambda: number; dynamodb: number; iot: number; sqs: number; total: number };
  limits: string[];
}

export const estimate = (s: Scenario, e: Engine): Estimate => {
  const messagesPerMonth = s.ratePerSecond * SECONDS_PER_MONTH;
  const frames = Math.max(1, Math.ceil(s.payloadBytes / (32 * 1024)));
  const posts = e.postsPerMessage(s);
  const postsPerSecond = s.ratePerSecond * posts;

  // One invocation delivers its share at the lower of its CPU limit and its concurrency/RTT limit.
  const invocationsPerMessage = Number.isFinite(e.shardSize) ? Math.max(1, Math.ceil(posts / e.shardSize)) : 1;
  const perInvocation = posts / invocationsPerMessage;
  const cpuRate = 1e6 / e.cpuMicrosPerDelivery;
  const ioRate = (e.concurrency / s.postRttMs) * 1000;
  const deliveriesPerSecond = Math.min(cpuRate, ioRate);
  const lookupMs = 5 + (e.lookupBytes(s) / (1024 * 1024)) * 30; // ~30 ms per 1 MB page
  const invocationMs = lookupMs + (perInvocation / deliveriesPerSecond) * 1000;
  const latencyLastRecipientMs = invocationMs + (invocationsPerMessage > 1 ? 30 : 0); // + an async invoke hop

  // Eventually consistent reads: 0.5 RRU per 4 KB, at least one unit per request (two queries for ours).
  const readUnitsPerMessage = Math.max(e.name === 'ours' ? 1 : 0.5, Math.ceil(e.lookupBytes(s) / 4096) * 0.5);
  const concurrentExecutions = s.ratePerSecond * (invocationMs / 1000) * invocationsPerMessage;

  const apiGateway =
    ((messagesPerMonth * posts * frames) / 1e6) * PRICES.apiGatewayPerMillionMessages +
    ((s.connections * MINUTES_PER_MONTH) / 1e6) * PRICES.apiGatewayPerMillionConnectionMinutes;
  const gbSeconds = messagesPerMonth * invocationsPerMessage * (invocationMs / 1000) * (s.memoryMb / 1024);
  const lambda =
    gbSeconds * PRICES.lambdaPerGbSecondArm + ((messagesPerMonth * invocationsPerMessage) / 1e6) * PRICES.lambdaPerMillionRequests;
  const sessionsPerMonth = (s.connections * MINUTES_PER_MONTH) / s.sessionMinutes;
  const dynamodb =
    ((messagesPerMonth * readUnitsPerMessage) / 1e6) * PRICES.dynamoPerMillionReadUnits +
    ((sessionsPerMonth * 4) / 1e6) * PRICES.dynamoPerMillionWriteUnits; // put + delete of connection and subscription
  const iot =
    ((messagesPerMonth * Math.max(1, Math.ceil(s.payloadBytes / 5120))) / 1e6) * PRICES.iotPerMillionMessages +
    (messagesPerMonth / 1e6) * (PRICES.iotPerMillionRulesTriggered + PRICES.iotPerMillionActions) +
    ((s.devices * MINUTES_PER_MONTH) / 1e6) * PRICES.iotPerMillionConnectionMinutes;

  const limits: string[] = [];
  if (postsPerSecond > LIMITS.apiGatewayRequestsPerSecond) {
    limits.push(`${Math.round(postsPerSecond).toLocaleString('en-US')} posts/s exceeds the ${LIMITS.apiGatewayRequestsPerSecond.toLocaleString('en-US')} requests/s account throttle: ask for a quota increase or batch frames`);
  }
  if (concurrentExecutions > LIMITS.lambdaConcurrency) {
    limits.push(`~${Math.round(concurrentExecutions)} concurrent executions exceeds the default Lambda concurrency quota of ${LIMITS.lambdaConcurrency}`);
  }
  const reconnectSeconds = s.connections / LIMITS.newConnectionsPerSecond;
  if (reconnectSeconds > 10) {
    limits.push(`a full reconnect (deploy, network blip) takes ${Math.round(reconnectSeconds)} s at ${LIMITS.newConnectionsPerSecond} new connections/s`);
  }
  if (invocationMs > 900_000) limits.push('one message takes longer than Lambda\'s 15 minute maximum');

  const total = apiGateway + lambda + dynamodb + iot;
  return {
    engine: e.name,
    postsPerSecond,
    invocationMs,
    invocationsPerMessage,
    latencyLastRecipientMs,
    concurrentExecutions,
    readUnitsPerMessage,
    monthly: { apiGateway, lambda, dynamodb, iot, sqs: 0, total },
    limits,
  };
};

/** FanoutMode=coalesced: the batch settings, and how many batches Lambda's SQS pollers gather at once. */
export interface CoalescedSettings {
  batchSize: number;
  windowSeconds: number;
  /** Lambda starts five concurrent batches for an SQS source: a window yields up to five batches, not one. */
  pollers: number;
  /** CPU per frame post (µs): a post of a bigger body costs a little more than a telemetry frame's. */
  cpuMicrosPerPost: number;
  concurrency: number;
}

export const DEFAULT_COALESCED: CoalescedSettings = { batchSize: 1000, windowSeconds: 1, pollers: 5, cpuMicrosPerPost: 150, concurrency: 64 };

/** The envelope a reading carries in a telemetry-batch frame (id, deviceId, ts, receivedAt, keys). */
const READING_ENVELOPE_BYTES = 120;

export interface CoalescedEstimate extends Estimate {
  batchesPerSecond: number;
  readingsPerBatch: number;
  /** Frames (32 KB billing units) per reading per recipient. */
  messagesPerReadingPerRecipient: number;
  /** Recipient lookups per reading: one per batch. */
  lookupsPerReading: number;
  /** Worst-case wait of a reading before its batch is invoked. */
  batchingDelayMs: number;
}

/**
 * The coalesced path: the rule queues each reading (SQS SendMessage), the event source mapping gathers batches
 * (up to BatchSize, or what arrives within the window, per poller), and each batch costs one invocation, one
 * lookup (one strongly consistent read unit while nobody subscribes or leaves) and, per recipient, one frame
 * per 32 KB of the readings it sees. Every recipient is taken to see every reading (all subscribed to `*`),
 * the worst case for frame sizes.
 */
export const estimateCoalesced = (s: Scenario, c: CoalescedSettings = DEFAULT_COALESCED): CoalescedEstimate => {
  const readingsPerMonth = s.ratePerSecond * SECONDS_PER_MONTH;
  const maxBatch = c.windowSeconds > 0 ? c.batchSize : Math.min(c.batchSize, 10);
  // At most BatchSize per batch; within a window each poller closes its own batch; never more batches than readings.
  const batchesPerSecond = s.ratePerSecond <= 0 ? 0 : Math.min(s.ratePerSecond, Math.max(s.ratePerSecond / maxBatch, c.windowSeconds > 0 ? c.pollers / c.windowSeconds : s.ratePerSecond / maxBatch));
  const readingsPerBatch = batchesPerSecond > 0 ? s.ratePerSecond / batchesPerSecond : 0;
  const framesPerRecipient = Math.max(1, Math.ceil((readingsPerBatch * (s.payloadBytes + READING_ENVELOPE_BYTES)) / (32 * 1024)));
  const postsPerBatch = s.recipients * framesPerRecipient;
  const postsPerSecond = batchesPerSecond * postsPerBatch;

  const cpuRate = 1e6 / c.cpuMicrosPerPost;
  const ioRate = (c.concurrency / s.postRttMs) * 1000;
  const invocationMs = 5 + readingsPerBatch * 0.02 + (postsPerBatch / Math.min(cpuRate, ioRate)) * 1000;
  const batchingDelayMs = c.windowSeconds * 1000;
  const batchesPerMonth = batchesPerSecond * SECONDS_PER_MONTH;

  const apiGateway =
    ((batchesPerMonth * postsPerBatch) / 1e6) * PRICES.apiGatewayPerMillionMessages +
    ((s.connections * MINUTES_PER_MONTH) / 1e6) * PRICES.apiGatewayPerMillionConnectionMinutes;
  const gbSeconds = batchesPerMonth * (invocationMs / 1000) * (s.memoryMb / 1024);
  const lambda = gbSeconds * PRICES.lambdaPerGbSecondArm + (batchesPerMonth / 1e6) * PRICES.lambdaPerMillionRequests;
  const sessionsPerMonth = (s.connections * MINUTES_PER_MONTH) / s.sessionMinutes;
  const readUnitsPerBatch = 1;
  const dynamodb =
    ((batchesPerMonth * readUnitsPerBatch) / 1e6) * PRICES.dynamoPerMillionReadUnits + ((sessionsPerMonth * 4) / 1e6) * PRICES.dynamoPerMillionWriteUnits;
  const chunks = Math.max(1, Math.ceil(s.payloadBytes / 65536));
  // SendMessage per reading; ReceiveMessage and DeleteMessageBatch per 10; the pollers' empty long polls (20 s each).
  const sqsRequests = readingsPerMonth * chunks + 2 * Math.ceil(readingsPerMonth / 10) + c.pollers * 3 * MINUTES_PER_MONTH;
  const sqs = (sqsRequests / 1e6) * PRICES.sqsPerMillionRequests;
  const iot =
    ((readingsPerMonth * Math.max(1, Math.ceil(s.payloadBytes / 5120))) / 1e6) * PRICES.iotPerMillionMessages +
    (readingsPerMonth / 1e6) * (PRICES.iotPerMillionRulesTriggered + PRICES.iotPerMillionActions) +
    ((s.devices * MINUTES_PER_MONTH) / 1e6) * PRICES.iotPerMillionConnectionMinutes;

  const concurrentExecutions = batchesPerSecond * (invocationMs / 1000);
  const limits: string[] = [];
  if (postsPerSecond > LIMITS.apiGatewayRequestsPerSecond) {
    limits.push(`${Math.round(postsPerSecond).toLocaleString('en-US')} posts/s exceeds the ${LIMITS.apiGatewayRequestsPerSecond.toLocaleString('en-US')} requests/s account throttle`);
  }
  if (invocationMs > 60_000) limits.push('a batch takes longer than the batch function\'s 60 s timeout: lower BatchSize');
  const total = apiGateway + lambda + dynamodb + iot + sqs;
  return {
    engine: 'coalesced',
    postsPerSecond,
    invocationMs,
    invocationsPerMessage: readingsPerBatch > 0 ? 1 / readingsPerBatch : 0,
    latencyLastRecipientMs: batchingDelayMs + invocationMs,
    concurrentExecutions,
    readUnitsPerMessage: readingsPerBatch > 0 ? readUnitsPerBatch / readingsPerBatch : 0,
    monthly: { apiGateway, lambda, dynamodb, iot, sqs, total },
    limits,
    batchesPerSecond,
    readingsPerBatch,
    messagesPerReadingPerRecipient: readingsPerBatch > 0 ? framesPerRecipient / readingsPerBatch : 0,
    lookupsPerReading: readingsPerBatch > 0 ? 1 / readingsPerBatch : 0,
    batchingDelayMs,
  };
};

/**
 * The rate (readings/s, all devices) from which coalesced costs less than direct for this audience, by
 * bisection over 0.01 to 100,000 readings/s; undefined when one mode wins over the whole range.
 */
export const coalescedBreakEven = (s: Scenario, engine: Engine = ENGINES.ours, c: CoalescedSettings = DEFAULT_COALESCED): number | undefined => {
  const cheaper = (rate: number) => estimateCoalesced({ ...s, ratePerSecond: rate }, c).monthly.total < estimate({ ...s, ratePerSecond: rate }, engine).monthly.total;
  let low = 0.01;
  let high = 100_000;
  if (cheaper(low)) return low;
  if (!cheaper(high)) return undefined;
  for (let i = 0; i < 60; i++) {
    const mid = Math.sqrt(low * high);
    if (cheaper(mid)) high = mid;
    else low = mid;
  }
  return high;
};

export const DEFAULT_SCENARIO: Scenario = {
  connections: 1000,
  recipients: 1000,
  ratePerSecond: 10,
  devices: 100,
  payloadBytes: 300,
  sessionMinutes: 60,
  memoryMb: 512,
  postRttMs: 10,
};
