/**
 * DYNAMODB_ENDPOINT: the stack uses a DynamoDB it does not own (here a
 * separate dynalite standing in for DynamoDB Local or LocalStack), creates the
 * template's tables there, and leaves them empty after a graceful stop.
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { expect } from 'chai';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';
import { type TestStack, connectDevice, scanTable, startTestStack } from '../../helpers/localStack.js';

const isVersion = (item: Record<string, unknown>) => /^ver(#|$)/.test(String((item.pk as { S: string }).S));
import { type TestClient, connectClient } from '../../helpers/wsClient.js';
import { waitFor } from '../../helpers/waitFor.js';

describe('local stack: an external DYNAMODB_ENDPOINT and graceful stop', function () {
  this.timeout(30_000);
  let external: TestDynamo;
  let stack: TestStack | undefined;

  before(async () => {
    external = await startDynamo();
  });
  after(async () => {
    await stack?.stop();
    await external?.stop();
  });

  it('creates the template tables on the endpoint, runs the pipeline on it, and stops with every client closed 1001 and the table empty', async () => {
    // Arrange
    stack = await startTestStack({ auth: false, dynamodbEndpoint: external.endpoint });
    const table = await external.client.send(new DescribeTableCommand({ TableName: stack.tableName }));
    const clients: TestClient[] = await Promise.all([1, 2, 3].map(() => connectClient(`${stack!.urls.websocket}?devices=dev-7`)));
    const device = await connectDevice(stack.urls.mqtt, 'external-ddb-device');
    await device.publishAsync('devices/dev-7/telemetry', JSON.stringify({ ts: Date.now(), seq: 7 }));
    await Promise.all(clients.map((c) => c.next((f) => f.type === 'telemetry' && f.deviceId === 'dev-7')));
    await device.endAsync();
    const { tableName } = stack;
    const stored = await scanTable(external.endpoint, tableName);

    // Act
    await stack.stop();
    stack = undefined;

    // Assert
    expect(table.Table?.TableStatus).to.equal('ACTIVE');
    // a connection item and a dev-7 subscription per client, and the subscription versions (recipientCache.ts)
    expect(stored.filter((item) => !isVersion(item)).length).to.equal(6);
    expect(stored.filter(isVersion).length).to.equal(2); // dev-7's and the table-wide one
    expect((await Promise.all(clients.map((c) => c.closed))).map((c) => c.code)).to.deep.equal([1001, 1001, 1001]);
    // Versions stay until the table's TTL deletes them: they must never repeat a value.
    expect((await scanTable(external.endpoint, tableName)).filter((item) => !isVersion(item))).to.deep.equal([]);
  });

  it('reuses the tables a previous stack created', async () => {
    // Act
    stack = await startTestStack({ auth: false, dynamodbEndpoint: external.endpoint });

    // Assert
    expect(stack.lines.some((line) => /tables: ConnectionsTable, HistoryTable, DevicesTable, AlarmsTable$/.test(line))).to.equal(true);
    const c = await connectClient(stack.urls.websocket);
    await waitFor(async () => (await scanTable(external.endpoint, stack!.tableName)).length > 0, { message: 'the connection stored' });
    await c.close();
  });
});
