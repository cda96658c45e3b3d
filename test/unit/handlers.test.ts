/**
 * Every function's real handler module (functions/<name>/handler.ts), driven
 * by its events/ fixture, with the AWS SDK clients mocked at the send() level.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { signToken } from '@serverless-iot-dashboard/shared';
import { lambdaContext, loadEvent } from '../helpers/events.js';

const ddb = mockClient(DynamoDBDocumentClient);
const api = mockClient(ApiGatewayManagementApiClient);
const SECRET = 'unit-test-secret-of-enough-length-0123456789';

process.env.TABLE_NAME = 'connections-test';
process.env.WEBSOCKET_ENDPOINT = 'https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/production';
process.env.AUTH_SECRET = SECRET;

type Handler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<any>;
const load = async (name: string): Promise<Handler> => (await import(`../../functions/${name}/handler.ts`)).handler;

const connectionItem = (overrides: Record<string, unknown> = {}) => ({
  pk: 'conn#L0SM9cOFvHcCIhw=',
  sk: 'meta',
  connectionId: 'L0SM9cOFvHcCIhw=',
  sub: 'alice',
  scope: '*',
  publish: true,
  devices: new Set(['*']),
  connectedAt: Date.now(),
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
  ...overrides,
});

const frame = (result: { body?: string }) => JSON.parse(result.body ?? 'null');

describe('handlers, driven by the events/ fixtures', () => {
  beforeEach(() => {
    ddb.reset();
    api.reset();
    ddb.on(BatchWriteCommand).resolves({});
  });

  describe('ConnectFunction', () => {
    it('stores the connection and the devices asked for in ?devices=', async () => {
      const handler = await load('connect');

      const result = await handler(loadEvent('connect'), lambdaContext());

      expect(result.statusCode).to.equal(200);
      const put = ddb.commandCalls(PutCommand)[0]!.args[0].input;
      expect(put.Item).to.include({ pk: 'conn#L0SM9cOFvHcCIhw=', sub: 'alice', publish: true });
      const subs = ddb.commandCalls(BatchWriteCommand)[0]!.args[0].input.RequestItems!['connections-test']!;
      expect(subs.map((r) => r.PutRequest!.Item!.pk)).to.deep.equal(['dev#dev-1', 'dev#dev-2']);
    });

    it('refuses devices outside the token scope with 403 and stores nothing', async () => {
      const handler = await load('connect');
      const event = loadEvent('connect');
      event.requestContext.authorizer.devices = 'dev-1';

      const result = await handler(event, lambdaContext());

      expect(result.statusCode).to.equal(403);
      expect(ddb.commandCalls(PutCommand)).to.have.length(0);
    });

    it('refuses a connect that has no authorizer context with 401', async () => {
      const handler = await load('connect');
      const event = loadEvent('connect');
      delete event.requestContext.authorizer;

      const result = await handler(event, lambdaContext());

      expect(result.statusCode).to.equal(401);
    });
  });

  describe('DisconnectFunction', () => {
    it('removes the connection and each subscription it lists', async () => {
      ddb.on(GetCommand).resolves({ Item: connectionItem({ devices: new Set(['dev-1', 'dev-2']) }) });
      const handler = await load('disconnect');

      const result = await handler(loadEvent('disconnect'), lambdaContext());

      expect(result.statusCode).to.equal(200);
      const deleted = ddb.commandCalls(BatchWriteCommand).flatMap((c) => c.args[0].input.RequestItems!['connections-test']!.map((r) => r.DeleteRequest!.Key));
      expect(deleted).to.deep.include.members([
        { pk: 'dev#dev-1', sk: 'L0SM9cOFvHcCIhw=' },
        { pk: 'dev#dev-2', sk: 'L0SM9cOFvHcCIhw=' },
        { pk: 'conn#L0SM9cOFvHcCIhw=', sk: 'meta' },
      ]);
    });
  });

  describe('DefaultFunction', () => {
    it('answers an unknown action with an error frame that lists the valid actions', async () => {
      const handler = await load('default');

      const result = await handler(loadEvent('default'), lambdaContext());

      expect(frame(result)).to.deep.include({ type: 'error', code: 'bad_request' });
      expect(frame(result).message).to.match(/valid actions: subscribe, unsubscribe, message, ping/);
    });

    it('answers malformed JSON with an error frame, not a crash', async () => {
      const handler = await load('default');
      const event = loadEvent('default');
      event.body = '{not json';

      const result = await handler(event, lambdaContext());

      expect(frame(result)).to.deep.include({ type: 'error', code: 'bad_request' });
      expect(frame(result).message).to.match(/malformed JSON/);
    });
  });

  describe('SubscribeFunction', () => {
    it('subscribes within scope and replies with a subscribed frame', async () => {
      ddb.on(GetCommand).resolves({ Item: connectionItem({ devices: new Set(['dev-2']) }) });
      ddb.on(UpdateCommand).resolves({});
      const handler = await load('subscribe');

      const result = await handler(loadEvent('subscribe'), lambdaContext());

      expect(frame(result)).to.deep.equal({ type: 'subscribed', devices: ['dev-1', 'dev-3'], subscriptions: ['dev-1', 'dev-2', 'dev-3'] });
    });

    it('answers forbidden, and stores nothing, for a device outside the token scope', async () => {
      ddb.on(GetCommand).resolves({ Item: connectionItem({ scope: ['dev-1'] }) });
      const handler = await load('subscribe');

      const result = await handler(loadEvent('subscribe'), lambdaContext());

      expect(frame(result)).to.deep.include({ type: 'error', code: 'forbidden' });
      expect(ddb.commandCalls(UpdateCommand)).to.have.length(0);
      expect(ddb.commandCalls(BatchWriteCommand)).to.have.length(0);
    });

    it('answers not_found when the connection is no longer registered', async () => {
      ddb.on(GetCommand).resolves({});
      const handler = await load('subscribe');

      const result = await handler(loadEvent('subscribe'), lambdaContext());

      expect(frame(result)).to.deep.include({ type: 'error', code: 'not_found' });
    });

    it('answers a wrong-typed frame with bad_request', async () => {
      const handler = await load('subscribe');
      const event = loadEvent('subscribe');
      event.body = '{"action":"subscribe","devices":{"id":"dev-1"}}';

      const result = await handler(event, lambdaContext());

      expect(frame(result)).to.deep.include({ type: 'error', code: 'bad_request' });
    });
  });

  describe('UnsubscribeFunction', () => {
    it('removes the subscription and replies with what is left', async () => {
      ddb.on(GetCommand).resolves({ Item: connectionItem({ devices: new Set(['dev-1', 'dev-3']) }) });
      ddb.on(UpdateCommand).resolves({});
      const handler = await load('unsubscribe');

      const result = await handler(loadEvent('unsubscribe'), lambdaContext());

      expect(frame(result)).to.deep.equal({ type: 'unsubscribed', devices: ['dev-3'], subscriptions: ['dev-1'] });
    });
  });

  describe('PingFunction', () => {
    it('extends the TTL and answers pong', async () => {
      ddb.on(UpdateCommand).resolves({});
      const handler = await load('ping');

      const result = await handler(loadEvent('ping'), lambdaContext());

      expect(frame(result).type).to.equal('pong');
      expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input.UpdateExpression).to.equal('SET expiresAt = :e');
    });
  });

  describe('MessageFunction', () => {
    it('broadcasts to subscribers of every device except the sender', async () => {
      ddb.on(GetCommand).resolves({ Item: connectionItem() });
      ddb.on(QueryCommand).resolves({ Items: [{ sk: 'L0SM9cOFvHcCIhw=' }, { sk: 'other-1' }, { sk: 'other-2' }] });
      api.on(PostToConnectionCommand).resolves({});
      const handler = await load('message');

      const result = await handler(loadEvent('message'), lambdaContext());

      expect(frame(result)).to.include({ type: 'sent', recipients: 2, delivered: 2 });
      const posted = api.commandCalls(PostToConnectionCommand).map((c) => c.args[0].input.ConnectionId).sort();
      expect(posted).to.deep.equal(['other-1', 'other-2']);
      expect(JSON.parse(String(api.commandCalls(PostToConnectionCommand)[0]!.args[0].input.Data))).to.include({ type: 'message', from: 'alice' });
    });

    it('answers forbidden to a token without publish', async () => {
      ddb.on(GetCommand).resolves({ Item: connectionItem({ publish: false }) });
      const handler = await load('message');

      const result = await handler(loadEvent('message'), lambdaContext());

      expect(frame(result)).to.deep.include({ type: 'error', code: 'forbidden' });
      expect(api.commandCalls(PostToConnectionCommand)).to.have.length(0);
    });
  });

  describe('TelemetryFunction', () => {
    it('fans the IoT rule payload out to the device and "*" subscribers as a telemetry envelope', async () => {
      ddb.on(QueryCommand).callsFake((input) => ({ Items: input.ExpressionAttributeValues[':pk'] === 'dev#dev-1' ? [{ sk: 'c1' }, { sk: 'c2' }] : [{ sk: 'c2' }, { sk: 'c3' }] }));
      api.on(PostToConnectionCommand).resolves({});
      const handler = await load('telemetry');

      const result = await handler(loadEvent('telemetry'), lambdaContext());

      expect(result).to.include({ status: 'delivered', recipients: 3, delivered: 3 });
      const keys = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input.ExpressionAttributeValues![':pk']);
      expect(keys).to.deep.equal(['dev#dev-1', 'dev#*']);
      const sent = JSON.parse(String(api.commandCalls(PostToConnectionCommand)[0]!.args[0].input.Data));
      expect(sent).to.include({ type: 'telemetry', deviceId: 'dev-1' });
      expect(sent.data).to.include({ temperature: 21.5 });
    });

    it('drops telemetry without a valid device id instead of failing the invocation', async () => {
      const handler = await load('telemetry');
      const event = loadEvent('telemetry');
      event.deviceId = 'dev/+';

      const result = await handler(event, lambdaContext());

      expect(result.status).to.equal('rejected');
      expect(ddb.commandCalls(QueryCommand)).to.have.length(0);
    });

    it('fails the invocation when the recipient lookup fails, so Lambda retries it', async () => {
      ddb.on(QueryCommand).rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
      const handler = await load('telemetry');

      let error: unknown;
      await handler(loadEvent('telemetry'), lambdaContext()).catch((e) => (error = e));

      expect((error as Error)?.name).to.equal('ProvisionedThroughputExceededException');
    });
  });

  describe('AuthorizerFunction', () => {
    it('allows a valid token and passes its claims as context', async () => {
      const handler = await load('authorizer');
      const event = loadEvent('authorizer');
      event.queryStringParameters.token = await signToken({ secret: SECRET, sub: 'alice', devices: ['dev-1'], publish: false, ttlSeconds: 60 });

      const result = await handler(event, lambdaContext());

      expect(result.policyDocument.Statement[0]).to.include({ Effect: 'Allow', Resource: event.methodArn });
      expect(result.context).to.deep.equal({ sub: 'alice', devices: 'dev-1', publish: 'false' });
    });

    it('rejects the fixture token (bad signature) with Unauthorized', async () => {
      const handler = await load('authorizer');

      let error: unknown;
      await handler(loadEvent('authorizer'), lambdaContext()).catch((e) => (error = e));

      expect((error as Error)?.message).to.equal('Unauthorized');
    });
  });
});
