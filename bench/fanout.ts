/**
 * Fan-out: one message to N real WebSocket clients through the local
 * management API, three ways, interleaved round by round in one run:
 *   ours      createFanOut + createSignedPoster (64 in flight), recipients from the recipient cache (as TelemetryFunction)
 *   seed      bench/seed/broadcast.ts: Scan + unbounded Promise.all + default SDK client
 *   raw-post  bare keep-alive POSTs, ids from memory: the physical limit
 * The gateway, dynalite and the clients run in other processes, so this
 * process's CPU time is the fan-out's alone.
 */
import { createConnectionStore } from '@serverless-iot-dashboard/shared';
import { createFanOut } from '@serverless-iot-dashboard/shared';
import { createRecipientCache } from '@serverless-iot-dashboard/shared';
import type { Counter, Log } from '@serverless-iot-dashboard/shared';
import { createSignedPoster } from '@serverless-iot-dashboard/shared';
import { LOCAL_CREDENTIALS, REGION, documentClient, dynamoClient, meter } from './dynamo.js';
import type { GatewayInfo } from './gatewayProcess.js';
import type { Child } from './processes.js';
import { createRawPostFanOut } from './rawPost.js';
import { createSeedBroadcast } from './seed/broadcast.js';
import { cpuMicrosSince, percentile, round, wallClockMs } from './stats.js';

export const IMPLS = ['ours', 'seed', 'raw-post'] as const;
export type Impl = (typeof IMPLS)[number];

export interface FanoutRow {
  impl: Impl;
  connections: number;
  messages: number;
  deliveriesPerSec: number;
  cpuMicrosPerDelivery: number;
  p50Ms: number;
  p99Ms: number;
  ddbRequestsPerMessage: number;
  ddbReadUnitsPerMessage: number;
  /** Connections the implementation found and posted to, per message. */
  recipientsPerMessage: number;
  /** Deliveries that never reached a client, over all measured messages. */
  lost: number;
}

export interface FanoutPlan {
  /** Connection counts, ascending, and the measured messages per implementation at each. */
  sizes: { connections: number; messages: number }[];
}

interface Outcome {
  recipients: number;
  delivered: number;
  ddbRequests: number;
  readUnits: number;
}

interface Sample extends Outcome {
  elapsedMs: number;
  cpuMicros: number;
  latenciesMs: number[];
  lost: number;
}

const DEVICE = 'bench-dev';
const CONCURRENCY = 64;

/**
 * Credentials shaped like a Lambda execution role's: they always carry a
 * session token (about 1 KB), which every signed post hashes and sends.
 */
const LAMBDA_CREDENTIALS = { ...LOCAL_CREDENTIALS, sessionToken: `IQoJb3JpZ2luX2VjE${'A'.repeat(1007)}` };

const silentLog: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const noCounter: Counter = { count: () => undefined };

/** A telemetry frame as the telemetry function sends it (about 200 bytes); `id` tells the clients which message it is. */
const frameFor = (id: string, seq: number) => {
  const now = Date.now();
  return JSON.stringify({ type: 'telemetry', id, deviceId: DEVICE, ts: now, receivedAt: now, data: { temperature: 21.5, humidity: 40.2, battery: 3.71, seq } });
};

/** The seed's SDK client warns (console.warn) when its 50-socket pool queues requests: count it instead of printing it mid-table. */
const countSdkSocketWarnings = () => {
  const original = console.warn;
  const state = { warnings: 0, restore: () => void (console.warn = original) };
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('@smithy/node-http-handler:WARN - socket usage')) state.warnings++;
    else original(...args);
  };
  return state;
};

/** The three implementations, each built once (a warm Lambda container) and reused at every size. */
const createImpls = ({ urls, tableName }: GatewayInfo) => {
  const ours = meter(documentClient(dynamoClient(urls.dynamodb)));
  const store = createConnectionStore({ doc: ours.doc, tableName });
  const post = createSignedPoster({ endpoint: urls.management, region: REGION, credentials: async () => LAMBDA_CREDENTIALS, maxSockets: CONCURRENCY });
  const fanOut = createFanOut({ store, post, log: silentLog, counter: noCounter, concurrency: CONCURRENCY });
  // As the telemetry function looks recipients up: cached across warm invocations, confirmed by one consistent read.
  const recipients = createRecipientCache({ doc: ours.doc, tableName });

  const seedDb = meter(documentClient(dynamoClient(urls.dynamodb)));
  const seed = createSeedBroadcast({ doc: seedDb.doc, tableName, endpoint: urls.management, region: REGION, credentials: LAMBDA_CREDENTIALS });

  const raw = createRawPostFanOut({ endpoint: urls.management, concurrency: CONCURRENCY });
  let rawRecipients: string[] = [];

  const metered = async (usage: { requests: number; readUnits: number }, run: () => Promise<{ recipients: number; delivered: number }>): Promise<Outcome> => {
    const before = { ...usage };
    const out = await run();
    return { recipients: out.recipients, delivered: out.delivered, ddbRequests: usage.requests - before.requests, readUnits: usage.readUnits - before.readUnits };
  };

  const deliver: Record<Impl, (frame: string) => Promise<Outcome>> = {
    ours: (frame) => metered(ours.usage, () => fanOut.deliver(recipients.recipientPages(DEVICE), frame)),
    seed: (frame) => metered(seedDb.usage, () => seed.broadcast(frame)),
    'raw-post': async (frame) => ({ ...(await raw.deliver(rawRecipients, frame)), ddbRequests: 0, readUnits: 0 }),
  };

  return {
    deliver,
    /** Reads the recipients once, outside any measurement, for raw-post. */
    async loadRecipients() {
      const ids: string[] = [];
      for await (const page of store.recipientPages(DEVICE)) ids.push(...page);
      rawRecipients = ids;
      return ids.length;
    },
    destroy() {
      post.destroy();
      seed.destroy();
      ours.doc.destroy();
      seedDb.doc.destroy();
      raw.destroy();
    },
  };
};

const summarize = (impl: Impl, connections: number, samples: Sample[]): FanoutRow => {
  const sum = (pick: (s: Sample) => number) => samples.reduce((n, s) => n + pick(s), 0);
  const delivered = sum((s) => s.delivered);
  const latencies = samples.flatMap((s) => s.latenciesMs);
  return {
    impl,
    connections,
    messages: samples.length,
    deliveriesPerSec: Math.round(delivered / (sum((s) => s.elapsedMs) / 1000)),
    cpuMicrosPerDelivery: Math.round(sum((s) => s.cpuMicros) / Math.max(1, delivered)),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    ddbRequestsPerMessage: round(sum((s) => s.ddbRequests) / samples.length, 2),
    ddbReadUnitsPerMessage: round(sum((s) => s.readUnits) / samples.length, 2),
    recipientsPerMessage: Math.round(sum((s) => s.recipients) / samples.length),
    lost: sum((s) => s.lost),
  };
};

export const runFanout = async ({
  gateway,
  clients,
  plan,
  progress,
}: {
  gateway: Child<GatewayInfo>;
  clients: Child<unknown>;
  plan: FanoutPlan;
  progress: (line: string) => void;
}): Promise<FanoutRow[]> => {
  const impls = createImpls(gateway.info);
  const warnings = countSdkSocketWarnings();
  const rows: FanoutRow[] = [];
  let messageNo = 0;

  const measure = async (impl: Impl, connections: number): Promise<Sample> => {
    const id = `fanout-${impl}-${connections}-${++messageNo}`;
    const frame = frameFor(id, messageNo);
    const cpuStart = process.cpuUsage();
    const start = wallClockMs();
    const out = await impls.deliver[impl](frame);
    const elapsedMs = wallClockMs() - start;
    const cpuMicros = cpuMicrosSince(cpuStart);
    // Every POST that answered 200 was already written to its socket: wait for those frames, bounded.
    const receipts = await clients.request<number[]>('collect', { id, expected: out.delivered, timeoutMs: 15_000 }, 30_000);
    return { ...out, elapsedMs, cpuMicros, latenciesMs: receipts.map((t) => t - start), lost: connections - receipts.length };
  };

  try {
    let open = 0;
    for (const { connections, messages } of plan.sizes) {
      const started = performance.now();
      open = await clients.request<number>('connect', { url: `${gateway.info.urls.websocket}?devices=${DEVICE}`, count: connections - open }, 300_000);
      const found = await impls.loadRecipients();
      progress(`[fanout] ${connections.toLocaleString('en-US')} connections: ${open} clients open, ${found} subscribed in the table (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      if (open !== connections || found !== connections) throw new Error(`expected ${connections} clients and subscriptions, got ${open} open and ${found} in the table`);

      for (const impl of IMPLS) await measure(impl, connections); // warm-up: sockets, JIT, SDK middleware stacks
      const samples: Record<Impl, Sample[]> = { ours: [], seed: [], 'raw-post': [] };
      for (let r = 0; r < messages; r++) {
        // Rotate the order each round, so no implementation always runs right after the same one.
        const order = IMPLS.map((_, i) => IMPLS[(i + r) % IMPLS.length]!);
        const took: string[] = [];
        for (const impl of order) {
          const sample = await measure(impl, connections);
          samples[impl].push(sample);
          took.push(`${impl} ${Math.round(sample.elapsedMs)} ms`);
        }
        // About five progress lines per size, however many rounds.
        if ((r + 1) % Math.ceil(messages / 5) === 0 || r + 1 === messages) progress(`  round ${r + 1}/${messages}: ${took.join(' · ')}`);
      }
      for (const impl of IMPLS) rows.push(summarize(impl, connections, samples[impl]));
    }
  } finally {
    warnings.restore();
    impls.destroy();
  }
  if (warnings.warnings > 0) progress(`[fanout] the seed's default SDK client warned ${warnings.warnings}x that its 50-socket pool was saturated`);
  return rows;
};
