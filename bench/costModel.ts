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
  monthly: { apiGateway: number; lambda: number; dynamodb: number; iot: number; total: number };
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
    monthly: { apiGateway, lambda, dynamodb, iot, total },
    limits,
  };
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
