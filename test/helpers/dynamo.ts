/** A real DynamoDB-compatible server for integration tests: dynalite on 127.0.0.1, tables from template.yaml. */
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { tableDefinitions } from '../../scripts/template.js';

export interface TestDynamo {
  endpoint: string;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** A fresh, empty copy of the template's table under a new name. */
  freshTable(): Promise<string>;
  stop(): Promise<void>;
}

let counter = 0;

export const startDynamo = async (): Promise<TestDynamo> => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const [definition] = tableDefinitions();
  const freshTable = async () => {
    const name = `${definition!.TableName}-${process.pid}-${++counter}`;
    const { logicalId: _ignored, ...input } = definition!;
    await client.send(new CreateTableCommand({ ...(input as object), TableName: name } as never));
    // dynalite reports CREATING until a timer fires; on a busy machine that can be after the first write.
    await waitUntilTableExists({ client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: name });
    return name;
  };
  const tableName = await freshTable();
  return {
    endpoint,
    client,
    doc,
    tableName,
    freshTable,
    stop: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
