/**
 * The whole local pipeline with real clients: MQTT devices → aedes → topic
 * rule → TelemetryFunction (a worker thread) → @connections → WebSocket
 * dashboards, with the template's handlers unmodified. Auth off here; the
 * authorizer has its own spec file.
 */
import { expect } from 'chai';
import { ApiGatewayManagementApiClient, GetConnectionCommand, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { MqttClient } from 'mqtt';
import { type TestStack, connectDevice, scanTable, startTestStack } from '../helpers/localStack.js';
import { type Frame, type TestClient, connectClient, httpGet } from '../helpers/wsClient.js';
import { waitFor } from '../helpers/waitFor.js';

const isTelemetry = (deviceId: string, seq?: number) => (f: Frame) => f.type === 'telemetry' && f.deviceId === deviceId && (seq === undefined || f.data?.seq === seq);

describe('local stack: the pipeline end to end (auth off)', function () {
  this.timeout(30_000);
  let stack: TestStack;
  let device: MqttClient;
  const clients: TestClient[] = [];

  const client = async (query = '') => {
    const c = await connectClient(`${stack.urls.websocket}${query}`);
    clients.push(c);
    return c;
  };
  const connectionItems = async () => (await scanTable(stack.urls.dynamodb, stack.tableName)).filter((item) => String((item.pk as { S: string }).S).startsWith('conn#'));

  before(async () => {
    // FANOUT_SHARD_SIZE=1: every recipient past the first goes through FanoutWorkerFunction and the local Lambda API.
    stack = await startTestStack({ auth: false, env: { FANOUT_SHARD_SIZE: '1' } });
    device = await connectDevice(stack.urls.mqtt, 'test-device');
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  after(async () => {
    await device?.endAsync();
    await stack?.stop();
  });

  it('delivers telemetry published over MQTT to every subscribed client, and only to those', async () => {
    // Arrange
    const [a, b, other] = await Promise.all([client(), client(), client()]);
    await a.request({ action: 'subscribe', devices: ['dev-1'] }, (f) => f.type === 'subscribed');
    await b.request({ action: 'subscribe', devices: ['dev-1', 'dev-2'] }, (f) => f.type === 'subscribed');
    await other.request({ action: 'unsubscribe', devices: '*' }, (f) => f.type === 'unsubscribed');
    await other.request({ action: 'subscribe', devices: ['dev-2'] }, (f) => f.type === 'subscribed');

    // Act
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ ts: Date.now(), temperature: 21.5, seq: 1 }));

    // Assert
    const [forA, forB] = await Promise.all([a.next(isTelemetry('dev-1', 1)), b.next(isTelemetry('dev-1', 1))]);
    expect(forA).to.include({ type: 'telemetry', deviceId: 'dev-1' });
    expect(forA.data).to.deep.equal({ temperature: 21.5, seq: 1 });
    expect(forA.id).to.be.a('string').and.equal(forB.id);
    expect(forA.receivedAt).to.be.a('number');
    await other.none(isTelemetry('dev-1'), 300);
  });

  it('subscribes a client with no ?devices= to every device its token covers (all, with auth off)', async () => {
    // Arrange
    const watcher = await client();
    await waitFor(() => stack.connections().length >= 1);

    // Act
    await device.publishAsync('devices/dev-9/telemetry', JSON.stringify({ ts: Date.now(), seq: 9 }));

    // Assert
    expect(await watcher.next(isTelemetry('dev-9', 9))).to.have.property('deviceId', 'dev-9');
  });

  it('answers subscribe, unsubscribe and ping on the same socket', async () => {
    // Arrange
    const c = await client('?devices=dev-1');

    // Act
    const subscribed = await c.request({ action: 'subscribe', devices: ['dev-2'] }, (f) => f.type === 'subscribed');
    const unsubscribed = await c.request({ action: 'unsubscribe', devices: ['dev-1'] }, (f) => f.type === 'unsubscribed');
    const pong = await c.request({ action: 'ping' }, (f) => f.type === 'pong');

    // Assert
    expect(subscribed.devices).to.deep.equal(['dev-2']);
    expect(subscribed.subscriptions).to.deep.equal(['dev-1', 'dev-2']);
    expect(unsubscribed.subscriptions).to.deep.equal(['dev-2']);
    expect(pong.ts).to.be.a('number');
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ ts: Date.now(), seq: 77 }));
    await device.publishAsync('devices/dev-2/telemetry', JSON.stringify({ ts: Date.now(), seq: 78 }));
    await c.next(isTelemetry('dev-2', 78));
    await c.none(isTelemetry('dev-1', 77), 200);
  });

  it('broadcasts a message frame to the other clients, not back to the sender', async () => {
    // Arrange
    const [sender, receiver] = await Promise.all([client(), client()]);

    // Act
    const sent = await sender.request({ action: 'message', data: { text: 'hello' } }, (f) => f.type === 'sent');

    // Assert
    const received = await receiver.next((f) => f.type === 'message');
    expect(received.data).to.deep.equal({ text: 'hello' });
    expect(received.id).to.equal(sent.id);
    await sender.none((f) => f.type === 'message', 200);
  });

  it('answers malformed JSON, unknown actions and binary frames with error frames, and the socket stays usable', async () => {
    // Arrange
    const c = await client();

    // Act
    const malformed = await c.request('{"action": "subscribe", ', (f) => f.type === 'error');
    const unknown = await c.request({ action: 'dance' }, (f) => f.type === 'error');
    c.ws.send(Buffer.from([0, 1, 2, 3]));
    const binary = await c.next((f) => f.type === 'error');
    const pong = await c.request({ action: 'ping' }, (f) => f.type === 'pong');

    // Assert
    expect(malformed).to.include({ code: 'bad_request' });
    expect(malformed.message).to.match(/malformed JSON/);
    expect(unknown).to.include({ code: 'bad_request' });
    expect(unknown.message).to.match(/subscribe.*unsubscribe.*message.*ping/);
    expect(binary.message).to.match(/binary/);
    expect(pong.type).to.equal('pong');
  });

  it('closes a socket that sends more than 128 KB with 1009, and fires its $disconnect', async () => {
    // Arrange
    const c = await client();
    await waitFor(async () => (await connectionItems()).length === clients.length, { message: 'connection stored' });

    // Act
    c.send({ action: 'message', data: { blob: 'x'.repeat(128 * 1024) } });
    const { code } = await c.closed;

    // Assert
    expect(code).to.equal(1009);
    await waitFor(async () => stack.connections().length === 0 && (await connectionItems()).length === 0, { message: 'the connection removed' });
  });

  it('removes a client killed without a close frame from the table', async () => {
    // Arrange
    const survivor = await client();
    const victim = await client();
    await waitFor(async () => (await connectionItems()).length === 2, { message: 'two connections stored' });

    // Act
    victim.kill();

    // Assert
    await waitFor(async () => (await connectionItems()).length === 1, { message: 'the killed connection removed', timeoutMs: 5000 });
    expect(await survivor.request({ action: 'ping' }, (f) => f.type === 'pong')).to.have.property('type', 'pong');
  });

  it('serves the @connections API to the real SDK client: POST delivers, GET describes, an unknown id is GoneException', async () => {
    // Arrange
    const c = await client();
    const [conn] = await waitFor(() => stack.connections());
    const sdk = new ApiGatewayManagementApiClient({ endpoint: stack.endpoints.management, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

    try {
      // Act
      await sdk.send(new PostToConnectionCommand({ ConnectionId: conn!.connectionId, Data: Buffer.from('{"type":"hello"}') }));
      const described = await sdk.send(new GetConnectionCommand({ ConnectionId: conn!.connectionId }));
      const gone = await sdk.send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: Buffer.from('x') })).catch((e: Error) => e);

      // Assert
      expect(await c.next((f) => f.type === 'hello')).to.deep.equal({ type: 'hello' });
      expect(described.ConnectedAt).to.be.instanceOf(Date);
      expect(described.Identity?.SourceIp).to.equal('127.0.0.1');
      expect(gone).to.be.instanceOf(GoneException);
    } finally {
      sdk.destroy();
    }
  });

  it('fans out past the shard size through FanoutWorkerFunction over the local Lambda API', async () => {
    // Arrange: the shard size is 1, so two of the three subscribers are a worker's
    const subscribers = await Promise.all([client('?devices=dev-5'), client('?devices=dev-5'), client('?devices=dev-5')]);
    await waitFor(() => stack.connections().length === 3);

    // Act
    await device.publishAsync('devices/dev-5/telemetry', JSON.stringify({ ts: Date.now(), seq: 5 }));

    // Assert
    const frames = await Promise.all(subscribers.map((c) => c.next(isTelemetry('dev-5', 5))));
    expect(new Set(frames.map((f) => f.id)).size).to.equal(1);
    await waitFor(() => stack.lines.some((line) => /FanoutWorkerFunction async invoke ok/.test(line)), { message: 'a worker invocation logged' });
  });

  it('answers the Lambda Invoke API like AWS: RequestResponse returns the result, an unknown function is ResourceNotFound', async () => {
    // Arrange
    const lambda = new LambdaClient({ endpoint: stack.endpoints.lambda, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

    try {
      // Act
      const out = await lambda.send(new InvokeCommand({ FunctionName: stack.model.functions.get('TelemetryFunction')!.name, Payload: Buffer.from(JSON.stringify({ deviceId: 'dev-0', ts: 1, seq: 1 })) }));
      const missing = await lambda.send(new InvokeCommand({ FunctionName: 'nope' })).catch((e: Error) => e);

      // Assert
      expect(out.StatusCode).to.equal(200);
      expect(JSON.parse(Buffer.from(out.Payload!).toString())).to.include({ status: 'delivered', deviceId: 'dev-0' });
      expect(missing).to.have.property('name', 'ResourceNotFoundException');
    } finally {
      lambda.destroy();
    }
  });

  it('serves /config.json with the live URLs and refuses path traversal', async () => {
    // Act
    const config = JSON.parse((await httpGet(`${stack.urls.dashboard}config.json`)).body);
    const traversal = await httpGet(`${stack.urls.dashboard}..%2f..%2fpackage.json`);

    // Assert
    expect(config).to.deep.equal({ url: stack.urls.websocket, mqttUrl: stack.urls.mqttWs });
    expect([403, 404]).to.include(traversal.status);
    expect(traversal.body).not.to.include('serverless-iot-dashboard');
  });

  it('accepts devices over MQTT on WebSocket (/mqtt on the dashboard port)', async () => {
    // Arrange
    const c = await client('?devices=browser-1');
    const browserDevice = await connectDevice(stack.urls.mqttWs, 'browser-1');

    try {
      // Act
      await browserDevice.publishAsync('devices/browser-1/telemetry', JSON.stringify({ ts: Date.now(), seq: 3 }));

      // Assert
      expect(await c.next(isTelemetry('browser-1', 3))).to.have.property('deviceId', 'browser-1');
    } finally {
      await browserDevice.endAsync();
    }
  });

  it('drops a malformed device payload with a log line, and the broker keeps going', async () => {
    // Arrange
    const c = await client('?devices=dev-3');
    const dropped = stack.iotStats.dropped;

    // Act
    await device.publishAsync('devices/dev-3/telemetry', 'not json {');
    await device.publishAsync('devices/dev-3/telemetry', JSON.stringify({ ts: Date.now(), seq: 4 }));

    // Assert
    expect(await c.next(isTelemetry('dev-3', 4))).to.have.property('deviceId', 'dev-3');
    expect(stack.iotStats.dropped).to.equal(dropped + 1);
    expect(stack.lines.some((line) => /payload is not JSON/.test(line))).to.equal(true);
  });

  it('invokes a function directly with invoke(), like sam local invoke', async () => {
    // Act
    const result = await stack.invoke('DefaultFunction', {
      requestContext: { routeKey: '$default', eventType: 'MESSAGE', connectionId: 'x', domainName: 'localhost', stage: 'production', apiId: 'a', requestTimeEpoch: Date.now() },
      body: '{"action":"dance"}',
      isBase64Encoded: false,
    });

    // Assert
    expect(result).to.have.property('statusCode', 400);
  });

  it('restarts the WebSocket side with stopGateway/startGateway, and clients can reconnect', async () => {
    // Arrange
    const c = await client();
    await waitFor(async () => (await connectionItems()).length === 1);

    // Act
    await stack.stopGateway();
    const { code } = await c.closed;
    const refused = await connectClient(stack.urls.websocket, { timeoutMs: 1000 }).then(
      () => false,
      () => true,
    );
    await stack.startGateway();
    const again = await client();

    // Assert
    expect(code).to.equal(1001);
    expect(refused).to.equal(true);
    expect((await again.request({ action: 'ping' }, (f) => f.type === 'pong')).type).to.equal('pong');
    await waitFor(async () => (await connectionItems()).length === 1, { message: 'only the new connection stored' });
  });
});
