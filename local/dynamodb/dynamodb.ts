/**
 * DynamoDB, locally: an embedded dynalite on an ephemeral 127.0.0.1 port, or
 * any endpoint given (DynamoDB Local, LocalStack, ...). Either way the tables
 * the template declares are created if they are missing.
 */
import type { Server } from 'node:http';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { LOCAL_REGION, type TableSpec } from '../template/stackModel.js';

export interface DynamoService {
  endpoint: string;
  embedded: boolean;
  close(): Promise<void>;
}

/** Credentials that no AWS account accepts: local endpoints ignore them, and nothing local can reach AWS by mistake. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export const dynamoClient = (endpoint: string) =>
  new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 3 });

export const startDynamo = async ({ endpoint, host = '127.0.0.1' }: { endpoint?: string; host?: string } = {}): Promise<DynamoService> => {
  if (endpoint) return { endpoint: endpoint.replace(/\/+$/, ''), embedded: false, close: async () => undefined };
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as { port: number }).port));
  });
  return {
    endpoint: `http://${host}:${port}`,
    embedded: true,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The functions' SDK clients keep their sockets alive: cut them so close() does not wait for their timeout.
        server.closeAllConnections();
      }),
  };
};

const createTableInput = (table: TableSpec): CreateTableCommandInput => {
  // On-demand locally, whatever the template bills: capacity means nothing on one machine.
  const index = (spec: Record<string, unknown>) => {
    const { ProvisionedThroughput: _ignored, ...rest } = spec;
    return rest;
  };
  return {
    TableName: table.tableName,
    KeySchema: table.keySchema,
    AttributeDefinitions: table.attributeDefinitions,
    BillingMode: 'PAY_PER_REQUEST',
    ...(table.globalSecondaryIndexes?.length ? { GlobalSecondaryIndexes: table.globalSecondaryIndexes.map(index) as unknown as CreateTableCommandInput['GlobalSecondaryIndexes'] } : {}),
    ...(table.localSecondaryIndexes?.length ? { LocalSecondaryIndexes: table.localSecondaryIndexes as unknown as CreateTableCommandInput['LocalSecondaryIndexes'] } : {}),
  };
};

const tableStatus = async (client: DynamoDBClient, tableName: string): Promise<string | undefined> => {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return out.Table?.TableStatus;
  } catch (error) {
    if (error instanceof ResourceNotFoundException || (error as Error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
};

/** Creates each missing table and waits until all are ACTIVE. Returns the names it created. */
export const ensureTables = async (endpoint: string, tables: TableSpec[], { timeoutMs = 30_000 } = {}): Promise<string[]> => {
  const client = dynamoClient(endpoint);
  const created: string[] = [];
  try {
    for (const table of tables) {
      if ((await tableStatus(client, table.tableName)) !== undefined) continue;
      try {
        await client.send(new CreateTableCommand(createTableInput(table)));
        created.push(table.tableName);
      } catch (error) {
        // Another stack sharing the endpoint may have created it first.
        if ((error as Error).name !== 'ResourceInUseException') throw error;
      }
      if (table.ttlAttribute) {
        // dynalite has no TTL API; DynamoDB Local and LocalStack do. Items are filtered on read either way.
        await client
          .send(new UpdateTimeToLiveCommand({ TableName: table.tableName, TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true } }))
          .catch(() => undefined);
      }
    }
    const deadline = Date.now() + timeoutMs;
    for (const table of tables) {
      while ((await tableStatus(client, table.tableName)) !== 'ACTIVE') {
        if (Date.now() > deadline) throw new Error(`table ${table.tableName} is not ACTIVE after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    return created;
  } finally {
    client.destroy();
  }
};
