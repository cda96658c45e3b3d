/**
 * What the reliability specs share: reading the whole connections table and
 * checking that no connection is half-stored, connecting with retries as a
 * dashboard does, and counting telemetry by id.
 */
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoClient } from '../../local/dynamodb/dynamodb.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';
import { sleep } from '../helpers/waitFor.js';

export interface TableState {
  /** Connection items (`conn#<id>` / `meta`): id → the devices they list. */
  connections: Map<string, string[]>;
  /** Subscription items (`dev#<device>` / `<id>`). */
  subscriptions: { device: string; connectionId: string }[];
  /** Message senders' rate buckets (`rate#<sub>`): they outlive connections, until their TTL. */
  rateBuckets: number;
  /** Keys of the version items (`ver`, `ver#{device}`). */
  versions: string[];
  /** Whatever else is in the table. */
  other: Record<string, unknown>[];
}

/** Every item of the table, every page, read consistently. */
export const readTable = async (endpoint: string, tableName: string): Promise<TableState> => {
  const client = dynamoClient(endpoint);
  const doc = DynamoDBDocumentClient.from(client);
  const state: TableState = { connections: new Map(), subscriptions: [], rateBuckets: 0, versions: [], other: [] };
  try {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    for (let page = 0; page < 1000; page++) {
      const out = await doc.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey }));
      for (const item of out.Items ?? []) {
        const pk = String(item.pk);
        if (pk.startsWith('conn#') && item.sk === 'meta') {
          state.connections.set(pk.slice('conn#'.length), item.devices instanceof Set ? [...(item.devices as Set<string>)].sort() : []);
        } else if (pk.startsWith('dev#')) {
          state.subscriptions.push({ device: pk.slice('dev#'.length), connectionId: String(item.sk) });
        } else if (pk.startsWith('rate#')) {
          // A message sender's rate bucket (layers/shared/src/rateLimit.ts): not part of any connection.
          state.rateBuckets++;
        } else if (pk === 'ver' || pk.startsWith('ver#')) {
          // Subscription versions for the fan-out's recipient cache (recipientCache.ts): they outlive their subscriptions.
          state.versions.push(pk);
        } else {
          state.other.push(item);
        }
      }
      ExclusiveStartKey = out.LastEvaluatedKey;
      if (!ExclusiveStartKey) break;
    }
    return state;
  } finally {
    client.destroy();
  }
};

/**
 * Half-stored connections: a subscription without its connection item, or a
 * connection item that lists a device without the matching subscription item.
 */
export const halfStored = (state: TableState): string[] => {
  const problems: string[] = [];
  const subscribed = new Set(state.subscriptions.map((s) => `${s.device}\n${s.connectionId}`));
  for (const { device, connectionId } of state.subscriptions) {
    if (!state.connections.has(connectionId)) problems.push(`subscription dev#${device}/${connectionId} has no connection item`);
  }
  for (const [connectionId, devices] of state.connections) {
    for (const device of devices) {
      if (!subscribed.has(`${device}\n${connectionId}`)) problems.push(`conn#${connectionId} lists ${device} but dev#${device}/${connectionId} is missing`);
    }
  }
  for (const item of state.other) problems.push(`unexpected item ${JSON.stringify(item)}`);
  return problems;
};

export interface RetriedConnect {
  client: TestClient;
  /** HTTP statuses of the refused upgrades before this one was accepted. */
  refusals: number[];
}

/** Connects like the dashboard: a refused upgrade is retried with backoff, a bounded number of times. */
export const connectWithRetry = async (
  url: string,
  // 30 s: API Gateway's integration timeout bounds a $connect; browsers wait that long for a handshake.
  { attempts = 8, baseDelayMs = 50, handshakeTimeoutMs = 30_000 }: { attempts?: number; baseDelayMs?: number; handshakeTimeoutMs?: number } = {},
): Promise<RetriedConnect> => {
  const refusals: number[] = [];
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return { client: await connectClient(url, { timeoutMs: handshakeTimeoutMs }), refusals };
    } catch (error) {
      lastError = error as Error;
      const status = /Unexpected server response: (\d+)/.exec(lastError.message)?.[1];
      if (!status) throw lastError;
      refusals.push(Number(status));
      await sleep(Math.min(1000, baseDelayMs * 2 ** (attempt - 1)));
    }
  }
  throw new Error(`no connection after ${attempts} attempts (refused with ${refusals.join(', ')}): ${lastError?.message}`);
};

/** Telemetry frames of one client grouped by `data.seq`: the ids seen for each, and how often. */
export const telemetryBySeq = (frames: readonly Frame[], deviceId?: string) => {
  const bySeq = new Map<number, { ids: Set<string>; count: number; bodies: Set<string> }>();
  for (const frame of frames) {
    if (frame.type !== 'telemetry' || (deviceId !== undefined && frame.deviceId !== deviceId)) continue;
    const seq = frame.data?.seq as number;
    let entry = bySeq.get(seq);
    if (!entry) bySeq.set(seq, (entry = { ids: new Set(), count: 0, bodies: new Set() }));
    entry.ids.add(frame.id);
    entry.count++;
    entry.bodies.add(JSON.stringify(frame));
  }
  return bySeq;
};

/** Figures worth seeing while working on a spec: DEBUG_RELIABILITY=1. */
export const debug = (...values: unknown[]) => {
  if (process.env.DEBUG_RELIABILITY) console.log(...values);
};

/** 0, 1, ..., n-1. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
