/**
 * The fan-out functions' real handler modules (message, telemetry), driven by
 * their events/ fixtures, against dynalite and a management API stub on 127.0.0.1.
 */
import { expect } from 'chai';
import { createConnectionStore, type ConnectionStore } from '@serverless-iot-dashboard/shared';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';
import { lambdaContext, loadEvent } from '../../helpers/events.js';
import { type ManagementStub, startManagementStub } from '../../helpers/managementStub.js';

type Handler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<any>;
const ENV_KEYS = ['TABLE_NAME', 'WEBSOCKET_ENDPOINT', 'DYNAMODB_ENDPOINT'] as const;

describe('fan-out handlers on real servers', function () {
  this.timeout(30000);
  let dynamo: TestDynamo;
  let stub: ManagementStub;
  let store: ConnectionStore;
  let telemetry: Handler;
  let message: Handler;
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    dynamo = await startDynamo();
    stub = await startManagementStub();
    for (const key of ENV_KEYS) saved[key] = process.env[key];
    process.env.TABLE_NAME = dynamo.tableName;
    process.env.DYNAMODB_ENDPOINT = dynamo.endpoint;
    process.env.WEBSOCKET_ENDPOINT = stub.endpoint;
    // Handlers read their config at module load, as in Lambda.
    telemetry = (await import('../../../functions/telemetry/handler.js')).handler as unknown as Handler;
    message = (await import('../../../functions/message/handler.js')).handler as unknown as Handler;
    store = createConnectionStore({ doc: dynamo.doc, tableName: dynamo.tableName });
  });

  after(async () => {
    for (const key of ENV_KEYS) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    await stub.stop();
    await dynamo.stop();
  });

  beforeEach(async () => {
    stub.posts.length = 0;
    stub.answer = () => 200;
    for (const id of ['L0SM9cOFvHcCIhw=', 'dev1-fan', 'all-fan', 'dev2-fan', 'gone-fan']) await store.removeConnection(id);
  });

  it('TelemetryFunction sends the rule payload to subscribers of the device and of "*", and no one else', async () => {
    await store.putConnection({ connectionId: 'dev1-fan', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    await store.putConnection({ connectionId: 'all-fan', sub: 'b', scope: '*', publish: false, devices: '*' });
    await store.putConnection({ connectionId: 'dev2-fan', sub: 'c', scope: '*', publish: false, devices: ['dev-2'] });

    const result = await telemetry(loadEvent('telemetry'), lambdaContext('TelemetryFunction'));

    expect(result).to.include({ status: 'delivered', recipients: 2, delivered: 2 });
    expect(stub.posts.map((p) => p.connectionId).sort()).to.deep.equal(['all-fan', 'dev1-fan']);
    const frame = JSON.parse(stub.posts[0]!.body);
    expect(frame).to.include({ type: 'telemetry', deviceId: 'dev-1', ts: 1795597200000, receivedAt: 1795597200187 });
    expect(frame.data).to.deep.equal({ temperature: 21.5, humidity: 40.2, battery: 97, seq: 42 });
  });

  it('TelemetryFunction deletes a connection that answers 410 and still succeeds', async () => {
    await store.putConnection({ connectionId: 'gone-fan', sub: 'a', scope: '*', publish: false, devices: ['dev-1'] });
    await store.putConnection({ connectionId: 'dev1-fan', sub: 'b', scope: '*', publish: false, devices: ['dev-1'] });
    stub.answer = (id) => (id === 'gone-fan' ? 410 : 200);

    const result = await telemetry(loadEvent('telemetry'), lambdaContext('TelemetryFunction'));

    expect(result).to.include({ delivered: 1, gone: 1, failed: 0 });
    expect(await store.getConnection('gone-fan')).to.equal(undefined);
    expect(await store.getConnection('dev1-fan')).to.not.equal(undefined);
  });

  it('MessageFunction broadcasts to "*" subscribers except the sender, and answers a sent frame', async () => {
    await store.putConnection({ connectionId: 'L0SM9cOFvHcCIhw=', sub: 'alice', scope: '*', publish: true, devices: '*' });
    await store.putConnection({ connectionId: 'all-fan', sub: 'b', scope: '*', publish: false, devices: '*' });
    await store.putConnection({ connectionId: 'dev1-fan', sub: 'c', scope: '*', publish: false, devices: ['dev-1'] });

    const result = await message(loadEvent('message'), lambdaContext('MessageFunction'));

    expect(JSON.parse(result.body)).to.include({ type: 'sent', recipients: 1, delivered: 1 });
    expect(stub.posts.map((p) => p.connectionId)).to.deep.equal(['all-fan']);
    expect(JSON.parse(stub.posts[0]!.body)).to.deep.include({ type: 'message', from: 'alice', data: { text: 'maintenance at 10:00' } });
  });

  it('MessageFunction answers forbidden to a token without publish, and posts nothing', async () => {
    await store.putConnection({ connectionId: 'L0SM9cOFvHcCIhw=', sub: 'alice', scope: '*', publish: false, devices: '*' });
    await store.putConnection({ connectionId: 'all-fan', sub: 'b', scope: '*', publish: false, devices: '*' });

    const result = await message(loadEvent('message'), lambdaContext('MessageFunction'));

    expect(JSON.parse(result.body)).to.deep.include({ type: 'error', code: 'forbidden' });
    expect(stub.posts).to.have.length(0);
  });
});
