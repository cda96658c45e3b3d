/**
 * DynamoDB for the benchmarks: a document client on the stack's dynalite, a
 * meter that counts every request and the read units it consumed, and bulk
 * loading for the lookup scenario.
 */
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tableDefinitions } from '../scripts/template.js';

export const REGION = 'us-east-1';
/** Local endpoints ignore credentials; these match no AWS account. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The same client settings as layers/shared/src/clients.ts, pointed at a local endpoint. */
export const dynamoClient = (endpoint: string) => new DynamoDBClient({ endpoint, region: REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 4 });

export const documentClient = (client: DynamoDBClient) => DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });

export interface DynamoUsage {
  requests: number;
  /** Read units as the server reported them (ReturnConsumedCapacity). */
  readUnits: number;
  /**
   * The same with DynamoDB's floor applied: every read request is billed at
   * least 0.5 units (eventually consistent), even one that matches nothing;
   * dynalite reports 0 for those.
   */
  billedReadUnits: number;
}

/** Wraps `doc` so that every request it sends is counted, with the read units its answer reports. */
export const meter = (doc: DynamoDBDocumentClient): { doc: DynamoDBDocumentClient; usage: DynamoUsage } => {
  const usage: DynamoUsage = { requests: 0, readUnits: 0, billedReadUnits: 0 };
  const send = async (command: { constructor: { name: string } }) => {
    usage.requests++;
    const out = await (doc.send as (c: unknown) => Promise<{ ConsumedCapacity?: { CapacityUnits?: number } }>)(command);
    const units = out.ConsumedCapacity?.CapacityUnits;
    if (units !== undefined) {
      usage.readUnits += units;
      usage.billedReadUnits += Math.max(0.5, units);
    }
    return out;
  };
  const metered = new Proxy(doc, { get: (target, prop, receiver) => (prop === 'send' ? send : Reflect.get(target, prop, receiver)) });
  return { doc: metered, usage };
};

let tables = 0;

/** A new, empty table: the template's connections table, or the given key schema. */
export const createTable = async (client: DynamoDBClient, prefix: string, keys?: { hash: string }): Promise<string> => {
  const name = `${prefix}-${process.pid}-${++tables}`;
  const template = tableDefinitions().find((t) => t.logicalId === 'ConnectionsTable');
  const { logicalId: _ignored, ...definition } = template!;
  const input = keys
    ? { KeySchema: [{ AttributeName: keys.hash, KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: keys.hash, AttributeType: 'S' }], BillingMode: 'PAY_PER_REQUEST' }
    : definition;
  await client.send(new CreateTableCommand({ ...(input as object), TableName: name } as never));
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.5 } as never, { TableName: name });
  return name;
};

/** Writes `items` with BatchWriteItem (25 per request, `parallel` requests in flight), retrying unprocessed items a bounded number of times. */
export const batchPut = async (doc: DynamoDBDocumentClient, tableName: string, items: Record<string, unknown>[], parallel = 8) => {
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      let pending = batches[next++]!.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > 10) throw new Error(`BatchWriteItem left ${pending.length} items unprocessed after 10 attempts`);
        const out = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
        pending = (out.UnprocessedItems?.[tableName] ?? []) as typeof pending;
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
};
