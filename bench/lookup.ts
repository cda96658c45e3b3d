/**
 * Lookup: what finding the recipients of one message costs in DynamoDB, with
 * 10,000 connections spread over 100 devices (100 subscribers each).
 *   ours             recipientPages(device): a paginated Query on dev#{device} and one on dev#*
 *   seed             one unpaginated Scan of the same table (it broadcasts to whatever the first 1 MB page holds)
 *   seed-own-table   the same Scan of the seed's own table, one small { connectionId } item per connection:
 *                    the cheapest the seed's design ever was, for a conservative ratio
 * Read units are what dynalite reports through ReturnConsumedCapacity (DynamoDB's 4 KB rule).
 */
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createConnectionStore } from '@serverless-iot-dashboard/shared';
import { batchPut, createTable, documentClient, dynamoClient, meter } from './dynamo.js';
import { median, round } from './stats.js';

export interface LookupRow {
  impl: 'ours' | 'seed' | 'seed-own-table';
  tableConnections: number;
  /** Connections the message goes to: the device's subscribers for ours; everyone the Scan returned for the seed. */
  recipients: number;
  ddbRequestsPerMessage: number;
  ddbReadUnitsPerMessage: number;
  /** With DynamoDB's 0.5-unit floor per read request (dynalite reports 0 for a Query that matches nothing). */
  billedReadUnitsPerMessage: number;
  ms: number;
}

export interface LookupPlan {
  connections: number;
  devices: number;
  /** Lookups measured per implementation (different devices for ours). */
  repetitions: number;
}

/** A connection id shaped like API Gateway's (20 characters and `=`), so items have their real size. */
const connectionId = (i: number) => `Lk${String(i).padStart(18, '0')}=`;

/**
 * The items `putConnection` writes for one connection, captured from a store
 * whose client records instead of sending: the benchmark loads exactly the
 * production item shapes, in bulk.
 */
const itemsOf = async (tableName: string, connection: Parameters<ReturnType<typeof createConnectionStore>['putConnection']>[0]) => {
  const items: Record<string, unknown>[] = [];
  const recorder = {
    send: async (command: { input: { Item?: Record<string, unknown>; RequestItems?: Record<string, { PutRequest?: { Item: Record<string, unknown> } }[]> } }) => {
      if (command.input.Item) items.push(command.input.Item);
      for (const request of command.input.RequestItems?.[tableName] ?? []) if (request.PutRequest) items.push(request.PutRequest.Item);
      return {};
    },
  } as unknown as DynamoDBDocumentClient;
  await createConnectionStore({ doc: recorder, tableName }).putConnection(connection);
  return items;
};

const timed = async <T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> => {
  const start = performance.now();
  const value = await run();
  return { value, ms: performance.now() - start };
};

export const runLookup = async ({ dynamodb, plan, progress }: { dynamodb: string; plan: LookupPlan; progress: (line: string) => void }): Promise<LookupRow[]> => {
  const client = dynamoClient(dynamodb);
  const raw = documentClient(client);
  try {
    const shared = await createTable(client, 'bench-lookup');
    const own = await createTable(client, 'bench-lookup-seed', { hash: 'connectionId' });
    const started = performance.now();
    const items: Record<string, unknown>[] = [];
    const ownItems: Record<string, unknown>[] = [];
    for (let i = 0; i < plan.connections; i++) {
      const device = `dev-${i % plan.devices}`;
      items.push(...(await itemsOf(shared, { connectionId: connectionId(i), sub: `user-${i % 997}`, scope: [device], publish: false, devices: [device] })));
      ownItems.push({ connectionId: connectionId(i) });
    }
    // One item per key: putConnection also bumps each device's recipient-cache version item, the same key for every connection.
    const unique = [...new Map(items.map((item) => [`${String(item.pk)}\u0000${String(item.sk)}`, item])).values()];
    await batchPut(raw, shared, unique);
    await batchPut(raw, own, ownItems);
    progress(`[lookup] loaded ${items.length.toLocaleString('en-US')} items (${plan.connections.toLocaleString('en-US')} connections over ${plan.devices} devices) and the seed's own ${ownItems.length.toLocaleString('en-US')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const ours = meter(raw);
    const store = createConnectionStore({ doc: ours.doc, tableName: shared });
    const seed = meter(raw);

    const measure = async (impl: LookupRow['impl'], usage: typeof ours.usage, lookup: (rep: number) => Promise<number>): Promise<LookupRow> => {
      await lookup(-1); // warm-up
      const before = { ...usage };
      const runs: { recipients: number; ms: number }[] = [];
      for (let rep = 0; rep < plan.repetitions; rep++) {
        const { value, ms } = await timed(() => lookup(rep));
        runs.push({ recipients: value, ms });
      }
      const n = plan.repetitions;
      return {
        impl,
        tableConnections: plan.connections,
        recipients: Math.round(runs.reduce((s, r) => s + r.recipients, 0) / n),
        ddbRequestsPerMessage: round((usage.requests - before.requests) / n, 2),
        ddbReadUnitsPerMessage: round((usage.readUnits - before.readUnits) / n, 2),
        billedReadUnitsPerMessage: round((usage.billedReadUnits - before.billedReadUnits) / n, 2),
        ms: round(median(runs.map((r) => r.ms))),
      };
    };

    const scan = (tableName: string) => async () => {
      const out = await seed.doc.send(new ScanCommand({ TableName: tableName, ProjectionExpression: 'connectionId', ReturnConsumedCapacity: 'TOTAL' }));
      return (out.Items ?? []).filter((item) => item.connectionId !== undefined).length;
    };
    const rows = [
      await measure('ours', ours.usage, async (rep) => {
        let found = 0;
        for await (const page of store.recipientPages(`dev-${(rep + plan.devices) % plan.devices}`)) found += page.length;
        return found;
      }),
      await measure('seed', seed.usage, scan(shared)),
      await measure('seed-own-table', seed.usage, scan(own)),
    ];
    progress(`[lookup] measured ${plan.repetitions} lookups per implementation`);
    return rows;
  } finally {
    client.destroy();
  }
};
