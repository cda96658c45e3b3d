/**
 * Every route function's real handler module (functions/<name>/handler.ts),
 * driven by its events/ fixture, with the AWS SDK clients mocked at the send()
 * level. The fan-out functions (message, telemetry) post over raw HTTP, so
 * their specs run against real servers: test/integration/fanOutHandlers.test.ts.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { signToken } from '@serverless-iot-dashboard/shared';
import { lambdaContext, loadEvent } from '../../helpers/events.js';

import type { AwsStub } from 'aws-sdk-client-mock';

// Installed for this file only: the integration specs run in the same process against real servers.
let ddb: AwsStub<any, any, any>;
let api: AwsStub<any, any, any>;
const SECRET = 'unit-test-secret-of-enough-length-0123456789';

process.env.TABLE_NAME = 'connections-test';
process.env.WEBSOCKET_ENDPOINT = 'https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/production';
process.env.AUTH_SECRET = SECRET;
process.env.DEVICES_TABLE_NAME = 'devices-test';
process.env.AWS_REGION ??= 'us-east-1';

type Handler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<any>;
const load = async (name: string): Promise<Handler> => (await import(`../../../functions/${name}/handler.ts`)).handler;

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
  before(() => {
    ddb = mockClient(DynamoDBDocumentClient);
    api = mockClient(ApiGatewayManagementApiClient);
  });

  after(() => {
    ddb.restore();
    api.restore();
  });

  beforeEach(() => {
    ddb.reset();
    api.reset();
    ddb.on(BatchWriteCommand).resolves({});
    // The holder's connection slots (MaxConnectionsPerUser): none taken.
    ddb.on(QueryCommand).resolves({ Items: [] });
  });

  describe('ConnectFunction', () => {
    it('stores the connection and the devices asked for in ?devices=', async () => {
      const handler = await load('connect');

      const result = await handler(loadEvent('connect'), lambdaContext());

      expect(result.statusCode).to.equal(200);
      const [slot, put] = ddb.commandCalls(PutCommand).map((call) => call.args[0].input);
      expect(slot!.Item).to.include({ pk: 'holder#alice', connectionId: 'L0SM9cOFvHcCIhw=' });
      expect(put!.Item).to.include({ pk: 'conn#L0SM9cOFvHcCIhw=', sub: 'alice', publish: true, holderSlot: Number(String(slot!.Item!.sk).slice('slot#'.length)) });
      const subs = ddb.commandCalls(BatchWriteCommand)[0]!.args[0].input.RequestItems!['connections-test']!;
      expect(subs.map((r) => r.PutRequest!.Item!.pk)).to.deep.equal(['dev#dev-1', 'dev#dev-2']);
    });

    it("refuses a connect past the holder's 20 live connections with 403 and stores nothing", async () => {
      const handler = await load('connect');
      const live = Math.floor(Date.now() / 1000) + 3600;
      ddb.on(QueryCommand).resolves({ Items: Array.from({ length: 20 }, (_, n) => ({ pk: 'holder#alice', sk: `slot#${n}`, connectionId: `c${n}`, expiresAt: live })) });

      const result = await handler(loadEvent('connect'), lambdaContext());

      expect(result.statusCode).to.equal(403);
      expect(result.body).to.match(/at most 20 connections/);
      expect(ddb.commandCalls(PutCommand)).to.have.length(0);
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
      // (The other writes are the subscription versions for the fan-out's recipient cache.)
      const deleted = ddb.commandCalls(BatchWriteCommand).flatMap((c) => c.args[0].input.RequestItems!['connections-test']!.flatMap((r) => (r.DeleteRequest ? [r.DeleteRequest.Key] : [])));
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

  describe('AuthorizerFunction', () => {
    it('allows a valid token and passes its claims as context', async () => {
      const handler = await load('authorizer');
      const event = loadEvent('authorizer');
      event.queryStringParameters.token = await signToken({ secret: SECRET, sub: 'alice', devices: ['dev-1'], publish: false, ttlSeconds: 60 });

      const result = await handler(event, lambdaContext());

      expect(result.policyDocument.Statement[0]).to.include({ Effect: 'Allow', Resource: event.methodArn });
      expect(result.context).to.deep.equal({ sub: 'alice', devices: 'dev-1', publish: 'false', exp: result.context.exp });
      expect(Number(result.context.exp) - Date.now() / 1000).to.be.within(55, 61);
    });

    it('rejects the fixture token (bad signature) with Unauthorized', async () => {
      const handler = await load('authorizer');

      let error: unknown;
      await handler(loadEvent('authorizer'), lambdaContext()).catch((e) => (error = e));

      expect((error as Error)?.message).to.equal('Unauthorized');
    });
  });
});
