/**
 * The local API Gateway on its own, with a recording stub in place of the
 * functions: event shapes, route selection, the authorizer contract, quotas
 * and the @connections API. Real sockets on 127.0.0.1; no worker threads.
 */
import { request } from 'node:http';
import { expect } from 'chai';
import { type Gateway, type GatewayLimits, type ManagementFault, createGateway, policyAllows, selectRoute, selectionPath } from '../../../local/apigateway/gateway.js';
import { buildStackModel } from '../../../local/template/stackModel.js';
import { type TestClient, connectClient, upgradeStatus } from '../../helpers/wsClient.js';
import { waitFor } from '../../helpers/waitFor.js';

type Call = { functionId: string; event: any };

const model = buildStackModel();
const api = model.api!;
const allow = (context: Record<string, string> = { sub: 'alice', devices: '*', publish: 'true' }) => ({
  principalId: 'alice',
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `arn:aws:execute-api:us-east-1:000000000000:${api.apiId}/${api.stage}/$connect` }] },
  context,
});

const httpCall = (method: string, url: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, any>; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });

describe('local gateway: API Gateway WebSocket behaviour', function () {
  this.timeout(10_000);
  let gateway: Gateway;
  let port: number;
  let calls: Call[];
  let respond: (call: Call) => unknown;
  let fault: ((call: { method: string; connectionId: string }) => ManagementFault | undefined) | undefined;
  const clients: TestClient[] = [];

  const start = async ({ auth = true, limits = {} as Partial<GatewayLimits> } = {}) => {
    gateway = createGateway({
      api,
      region: model.region,
      accountId: model.accountId,
      auth,
      limits,
      log: () => undefined,
      hooks: { management: (call) => fault?.(call) },
      invoke: async (functionId, event) => {
        const call = { functionId, event };
        calls.push(call);
        return respond(call);
      },
    });
    port = await gateway.listen(0, '127.0.0.1');
  };
  const url = (query = '') => `ws://127.0.0.1:${port}${query}`;
  const client = async (query = '?token=t') => {
    const c = await connectClient(url(query));
    clients.push(c);
    return c;
  };
  const callsTo = (functionId: string) => calls.filter((c) => c.functionId === functionId);

  beforeEach(() => {
    calls = [];
    fault = undefined;
    respond = ({ functionId, event }) => {
      if (functionId === 'AuthorizerFunction') return allow();
      const routeKey = event.requestContext.routeKey;
      return { statusCode: 200, body: routeKey.startsWith('$') && routeKey !== '$default' ? undefined : JSON.stringify({ echo: routeKey, body: event.body }) };
    };
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await gateway?.close();
  });

  describe('route selection (pure)', () => {
    const keys = new Set(['$connect', '$default', 'subscribe', 'ping']);
    it('selects the route named by $request.body.action', () => {
      expect(selectRoute('{"action":"subscribe"}', selectionPath('$request.body.action'), keys)).to.equal('subscribe');
    });
    it('sends non-JSON, unmatched, non-string and $-prefixed actions to $default', () => {
      const path = selectionPath('${request.body.action}');
      for (const body of ['nope', '{"action":"dance"}', '{"action":{"x":1}}', '{"action":"$connect"}', '[1]', '{}']) {
        expect(selectRoute(body, path, keys), body).to.equal('$default');
      }
    });
    it('evaluates authorizer policies: an explicit Deny wins, wildcards match, nothing matching denies', () => {
      const arn = 'arn:aws:execute-api:us-east-1:000000000000:abc/production/$connect';
      const policy = (...Statement: object[]) => ({ policyDocument: { Statement } });
      expect(policyAllows(policy({ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: 'arn:aws:execute-api:*:*:abc/*' }), arn)).to.equal(true);
      expect(policyAllows(policy({ Effect: 'Allow', Action: '*', Resource: '*' }, { Effect: 'Deny', Action: 'execute-api:Invoke', Resource: arn }), arn)).to.equal(false);
      expect(policyAllows(policy({ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: 'arn:aws:execute-api:us-east-1:000000000000:other/*' }), arn)).to.equal(false);
      expect(policyAllows({}, arn)).to.equal(false);
    });
  });

  describe('$connect', () => {
    it('runs the authorizer with a REQUEST event, then $connect with its context as requestContext.authorizer', async () => {
      // Arrange
      await start();

      // Act
      await client('?token=abc&devices=dev-1');

      // Assert
      const [auth] = callsTo('AuthorizerFunction');
      expect(auth!.event).to.include({ type: 'REQUEST', methodArn: `arn:aws:execute-api:us-east-1:000000000000:${api.apiId}/production/$connect` });
      expect(auth!.event.queryStringParameters).to.deep.equal({ token: 'abc', devices: 'dev-1' });
      const [connect] = callsTo('ConnectFunction');
      const ctx = connect!.event.requestContext;
      expect(ctx).to.include({ routeKey: '$connect', eventType: 'CONNECT', stage: 'production', apiId: api.apiId, messageDirection: 'IN' });
      expect(ctx.connectionId).to.match(/^[A-Za-z0-9]{15}=$/);
      expect(ctx.requestTime).to.match(/^\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
      expect(ctx.identity).to.deep.equal({ sourceIp: '127.0.0.1', userAgent: '' });
      expect(ctx.authorizer).to.deep.equal({ sub: 'alice', devices: '*', publish: 'true', principalId: 'alice' });
      expect(connect!.event.headers).to.include({ 'X-Forwarded-For': '127.0.0.1', 'Sec-WebSocket-Version': '13' });
      expect(connect!.event.multiValueHeaders.Host).to.have.length(1);
      expect(connect!.event.isBase64Encoded).to.equal(false);
    });

    it('answers 401 without calling the authorizer when the token is missing', async () => {
      await start();
      expect((await upgradeStatus(url())).status).to.equal(401);
      expect(calls).to.deep.equal([]);
    });

    it('answers 401 when the authorizer throws Unauthorized, 403 on a Deny policy, 500 on any other failure', async () => {
      // Arrange
      await start();
      const answers: Record<string, () => unknown> = {
        unauthorized: () => {
          throw new Error('Unauthorized');
        },
        deny: () => ({ principalId: 'x', policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: '*' }] } }),
        broken: () => {
          throw new TypeError('secret fetch failed');
        },
      };
      respond = ({ functionId, event }) => (functionId === 'AuthorizerFunction' ? answers[event.queryStringParameters.token]!() : { statusCode: 200 });

      // Act
      const statuses = await Promise.all(Object.keys(answers).map(async (token) => (await upgradeStatus(url(`?token=${token}`))).status));

      // Assert
      expect(statuses).to.deep.equal([401, 403, 500]);
      expect(callsTo('ConnectFunction')).to.have.length(0);
    });

    it('fails the upgrade with the status a $connect handler returns', async () => {
      await start();
      respond = ({ functionId }) => (functionId === 'AuthorizerFunction' ? allow() : { statusCode: 403, body: '{"message":"out of scope"}' });
      expect(await upgradeStatus(url('?token=t'))).to.deep.equal({ status: 403, body: '{"message":"out of scope"}' });
    });

    it('skips the authorizer when auth is off', async () => {
      await start({ auth: false });
      await client('');
      expect(callsTo('AuthorizerFunction')).to.have.length(0);
      expect(callsTo('ConnectFunction')[0]!.event.requestContext).not.to.have.property('authorizer');
    });

    it('accepts the stage path and refuses other paths with 404', async () => {
      await start({ auth: false });
      await client('/production');
      expect((await upgradeStatus(`ws://127.0.0.1:${port}/elsewhere`)).status).to.equal(404);
    });
  });

  describe('messages', () => {
    it('sends MESSAGE events with a messageId, and returns a two-way route body to the sender', async () => {
      // Arrange
      await start();
      const c = await client();

      // Act
      const reply = await c.request({ action: 'subscribe', devices: ['d'] }, (f) => f.echo === 'subscribe');

      // Assert
      expect(reply.body).to.equal('{"action":"subscribe","devices":["d"]}');
      const ctx = callsTo('SubscribeFunction')[0]!.event.requestContext;
      expect(ctx).to.include({ eventType: 'MESSAGE', routeKey: 'subscribe' });
      expect(ctx.messageId).to.match(/=$/);
      expect(ctx.authorizer.principalId).to.equal('alice');
    });

    it('routes binary frames to $default, base64-encoded', async () => {
      await start();
      const c = await client();
      c.ws.send(Buffer.from([1, 2, 3]));
      await c.next((f) => f.echo === '$default');
      const event = callsTo('DefaultFunction')[0]!.event;
      expect(event).to.include({ body: 'AQID', isBase64Encoded: true });
    });

    it('tells the sender "Internal server error" when a two-way integration fails', async () => {
      await start();
      const c = await client();
      respond = () => {
        throw new Error('boom');
      };
      const frame = await c.request({ action: 'ping' }, (f) => f.message === 'Internal server error');
      expect(frame.connectionId).to.be.a('string');
    });

    it('closes a message over 128 KB with 1009 and fires $disconnect with that code', async () => {
      await start();
      const c = await client();
      c.send('x'.repeat(128 * 1024 + 1));
      expect((await c.closed).code).to.equal(1009);
      const [disconnect] = await waitFor(() => (callsTo('DisconnectFunction').length > 0 ? callsTo('DisconnectFunction') : undefined));
      expect(disconnect!.event.requestContext).to.include({ eventType: 'DISCONNECT', routeKey: '$disconnect', disconnectStatusCode: 1009 });
    });
  });

  describe('quotas and disconnects', () => {
    it('closes an idle connection (1001) and reports the idle timeout in $disconnect', async () => {
      await start({ limits: { idleTimeoutMs: 300 } });
      const c = await client();
      expect((await c.closed).code).to.equal(1001);
      const [disconnect] = await waitFor(() => (callsTo('DisconnectFunction').length > 0 ? callsTo('DisconnectFunction') : undefined));
      expect(disconnect!.event.requestContext.disconnectReason).to.equal('Connection Idle Timeout');
    });

    it('keeps a connection that sends frames past the idle timeout, and ends it at the maximum duration', async () => {
      // Frames every 100 ms against a 600 ms idle timeout: a loaded machine that stalls the pinger fivefold still keeps it.
      await start({ limits: { idleTimeoutMs: 600, maxConnectionMs: 1500 } });
      const c = await client();
      const started = Date.now();
      const pinger = setInterval(() => c.send({ action: 'ping' }), 100);
      const { code } = await c.closed;
      clearInterval(pinger);
      expect(code).to.equal(1001);
      // Which limit ended it is in $disconnect's reason; the time is a lower bound only (a slow machine closes later, never sooner).
      const [disconnect] = await waitFor(() => (callsTo('DisconnectFunction').length > 0 ? callsTo('DisconnectFunction') : undefined));
      expect(disconnect!.event.requestContext.disconnectReason).to.equal('Connection exceeded maximum duration');
      expect(Date.now() - started).to.be.at.least(1400);
    });

    it('fires $disconnect with 1006 for a socket dropped without a close frame', async () => {
      await start();
      const c = await client();
      c.kill();
      const [disconnect] = await waitFor(() => (callsTo('DisconnectFunction').length > 0 ? callsTo('DisconnectFunction') : undefined));
      expect(disconnect!.event.requestContext.disconnectStatusCode).to.equal(1006);
      expect(disconnect!.event.headers).to.have.property('Host');
    });

    it('terminates a peer that stops answering pings', async () => {
      await start({ limits: { heartbeatMs: 100 } });
      const c = await client();
      // A peer whose pong never arrives: stop ws from answering pings automatically.
      (c.ws as any)._receiver.removeAllListeners('ping');
      (c.ws as any).pong = () => undefined;
      const { code } = await c.closed;
      expect(code).to.equal(1006);
    });

    it('closes every connection with 1001 on close(), each with its $disconnect', async () => {
      await start();
      const cs = await Promise.all([client(), client(), client()]);
      await gateway.close();
      expect((await Promise.all(cs.map((c) => c.closed))).map((x) => x.code)).to.deep.equal([1001, 1001, 1001]);
      expect(callsTo('DisconnectFunction')).to.have.length(3);
    });
  });

  describe('@connections management API', () => {
    it('posts to, describes and deletes a connection', async () => {
      // Arrange
      await start();
      const c = await client();
      const id = gateway.connections()[0]!.connectionId;
      const base = `http://127.0.0.1:${port}/production/@connections/${encodeURIComponent(id)}`;

      // Act
      const posted = await httpCall('POST', base, '{"hello":1}');
      const described = await httpCall('GET', base);
      const deleted = await httpCall('DELETE', base);

      // Assert
      expect(posted.status).to.equal(200);
      expect(await c.next((f) => f.hello === 1)).to.deep.equal({ hello: 1 });
      expect(JSON.parse(described.body)).to.have.keys('connectedAt', 'identity', 'lastActiveAt');
      expect(deleted.status).to.equal(204);
      await c.closed;
      await waitFor(() => callsTo('DisconnectFunction').length === 1);
    });

    it('answers 410 GoneException for an unknown id, 413 PayloadTooLargeException past 128 KB, 403 for another stage', async () => {
      await start();
      await client();
      const id = gateway.connections()[0]!.connectionId;
      const gone = await httpCall('POST', `http://127.0.0.1:${port}/production/@connections/nobody`, 'x');
      const large = await httpCall('POST', `http://127.0.0.1:${port}/production/@connections/${id}`, Buffer.alloc(128 * 1024 + 1, 'a'));
      const stage = await httpCall('POST', `http://127.0.0.1:${port}/other/@connections/${id}`, 'x');
      expect(gone.status).to.equal(410);
      expect(gone.headers['x-amzn-errortype']).to.equal('GoneException');
      expect(JSON.parse(gone.body)).to.have.property('message');
      expect(large.status).to.equal(413);
      expect(large.headers['x-amzn-errortype']).to.equal('PayloadTooLargeException');
      expect(stage.status).to.equal(403);
    });

    it('lets a management hook answer instead (the fault-injection seam)', async () => {
      await start();
      await client();
      const id = gateway.connections()[0]!.connectionId;
      fault = ({ method }) => (method === 'POST' ? { status: 429, errorType: 'LimitExceededException' } : undefined);
      const throttled = await httpCall('POST', `http://127.0.0.1:${port}/production/@connections/${id}`, 'x');
      expect(throttled.status).to.equal(429);
      expect(throttled.headers['x-amzn-errortype']).to.equal('LimitExceededException');
    });
  });
});
