/**
 * Every hostile input of the security issue, sent through the real local
 * stack with auth on: each gets a clear error frame, nothing is stored, and
 * the same socket keeps working afterwards.
 */
import { expect } from 'chai';
import { type TestStack, scanTable, startTestStack } from '../helpers/localStack.js';
import { signedToken } from '../helpers/tokens.js';
import { type TestClient, connectClient } from '../helpers/wsClient.js';

const isError = (f: Record<string, unknown>) => f.type === 'error';

describe('local stack: hostile input (auth on)', function () {
  this.timeout(30_000);
  let stack: TestStack;
  let client: TestClient;

  before(async () => {
    stack = await startTestStack({ auth: true });
    const token = await signedToken({ secret: stack.devSecret!, sub: 'mallory', devices: ['dev-1'], publish: false });
    client = await connectClient(`${stack.urls.websocket}?token=${token}`);
  });

  after(async () => {
    await client?.close();
    await stack?.stop();
  });

  const cases: [string, string | Buffer, RegExp, string][] = [
    ['malformed JSON', '{"action":"subscribe"', /malformed JSON/, 'bad_request'],
    ['a body that is not an object', '[{"action":"ping"}]', /must be a JSON object, got array/, 'bad_request'],
    ['a wrong type', '{"action":"subscribe","devices":42}', /array of device ids/, 'bad_request'],
    ['an unknown field', '{"action":"ping","admin":true}', /unknown field "admin"/, 'bad_request'],
    ['an MQTT wildcard in a device id', '{"action":"subscribe","devices":["dev/#"]}', /no MQTT wildcards/, 'bad_request'],
    ['a plus wildcard', '{"action":"subscribe","devices":["+"]}', /no MQTT wildcards/, 'bad_request'],
    ['a control character', '{"action":"subscribe","devices":["dev\\u0000"]}', /control characters/, 'bad_request'],
    ['a device id over 128 characters', JSON.stringify({ action: 'subscribe', devices: ['d'.repeat(129)] }), /1 to 128 characters/, 'bad_request'],
    ['a huge devices array', JSON.stringify({ action: 'subscribe', devices: Array.from({ length: 5000 }, (_, i) => `d${i}`) }), /at most 50 per frame/, 'bad_request'],
    ['a binary frame', Buffer.from([0xde, 0xad, 0xbe, 0xef]), /binary frames are not supported/, 'bad_request'],
    ['a device outside the token scope', '{"action":"subscribe","devices":["dev-2"]}', /does not cover "dev-2"/, 'forbidden'],
    ['a broadcast without the publish claim', '{"action":"message","data":{"text":"spam"}}', /does not allow publishing/, 'forbidden'],
    ['an unknown action', '{"action":"drop_table"}', /valid actions/, 'bad_request'],
  ];

  for (const [name, frame, message, code] of cases) {
    it(`answers ${name} with a ${code} error frame and keeps the socket usable`, async () => {
      client.ws.send(frame);
      const error = await client.next(isError);
      const pong = await client.request({ action: 'ping' }, (f) => f.type === 'pong');

      expect(error.code).to.equal(code);
      expect(error.message).to.match(message);
      expect(pong.type).to.equal('pong');
    });
  }

  it('stored none of the refused subscriptions', async () => {
    const items = await scanTable(stack.urls.dynamodb, stack.tableName);
    const subscriptionKeys = items.map((i) => (i.pk as { S: string }).S).filter((pk) => pk.startsWith('dev#'));

    expect(subscriptionKeys).to.deep.equal(['dev#dev-1']);
  });
});
