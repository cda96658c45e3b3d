/** The rule engine's batched DynamoDBv2 writes against dynalite: every item stored, each caller its own outcome. */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { createPutBatcher } from '../../../local/dynamodb/putBatcher.js';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';

describe('local DynamoDBv2 action: batched puts', function () {
  this.timeout(30_000);
  let dynamo: TestDynamo;
  let tableName: string;

  before(async () => {
    dynamo = await startDynamo();
    // A table keyed as a DynamoDBv2 rule action's items are (the payload's own fields: deviceId and ts).
    tableName = `RuleTable-batch-${process.pid}`;
    await dynamo.client.send(
      new CreateTableCommand({
        TableName: tableName,
        KeySchema: [{ AttributeName: 'deviceId', KeyType: 'HASH' }, { AttributeName: 'ts', KeyType: 'RANGE' }],
        AttributeDefinitions: [{ AttributeName: 'deviceId', AttributeType: 'S' }, { AttributeName: 'ts', AttributeType: 'N' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await waitUntilTableExists({ client: dynamo.client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: tableName });
  });
  after(async () => {
    await dynamo?.stop();
  });

  it('stores every item of a burst in batches of 25, and fails only the item DynamoDB cannot hold', async () => {
    // As the stack's rule client: IoT Core writes any JSON number, and DynamoDB judges it.
    const batcher = createPutBatcher({ doc: DynamoDBDocumentClient.from(dynamo.client, { marshallOptions: { allowImpreciseNumbers: true } }) });
    const items = Array.from({ length: 60 }, (_, i) => ({ deviceId: 'burst', ts: 1000 + i, temperature: i }));
    // Twice the same key in one batch (BatchWriteItem refuses that), and a number DynamoDB cannot hold (over 38 digits of magnitude 10^125).
    const bad = { deviceId: 'burst', ts: 5000, huge: 1e200 };
    const outcomes = await Promise.allSettled([...items.map((item) => batcher.put(tableName, item)), batcher.put(tableName, { ...items[0]!, temperature: -1 }), batcher.put(tableName, bad)]);

    expect(outcomes.slice(0, 61).every((o) => o.status === 'fulfilled')).to.equal(true);
    const refused = outcomes[61] as PromiseRejectedResult;
    expect(refused.status).to.equal('rejected');
    expect(refused.reason.name).to.equal('ValidationException');
    const stored = await dynamo.doc.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
    expect(stored.Items?.filter((i) => i.deviceId === 'burst')).to.have.length(60);
  });

  it('writes a lone put after a few milliseconds, and flush() sends what waits at once', async () => {
    const batcher = createPutBatcher({ doc: dynamo.doc, lingerMs: 60_000 });
    const put = batcher.put(tableName, { deviceId: 'lone', ts: 1, temperature: 1 });
    await batcher.flush();
    await put;
    const stored = await dynamo.doc.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
    expect(stored.Items?.some((i) => i.deviceId === 'lone')).to.equal(true);
  });
});
