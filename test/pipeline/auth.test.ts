/**
 * The $connect authorizer in the local stack: the template's AuthorizerFunction
 * verifies ?token= with the development secret, and the token's scope decides
 * what a dashboard may receive.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { type TestStack, connectDevice, startTestStack } from '../helpers/localStack.js';
import { signedToken, tamperedToken, unsignedToken } from '../helpers/tokens.js';
import { type TestClient, connectClient, httpGet, upgradeStatus } from '../helpers/wsClient.js';

describe('local stack: the token authorizer (auth on)', function () {
  this.timeout(30_000);
  let stack: TestStack;
  let device: MqttClient;
  const clients: TestClient[] = [];
  const withToken = (token: string, extra = '') => `${stack.urls.websocket}?token=${encodeURIComponent(token)}${extra}`;
  const client = async (token: string, extra = '') => {
    const c = await connectClient(withToken(token, extra));
    clients.push(c);
    return c;
  };

  before(async () => {
    stack = await startTestStack({ auth: true });
    device = await connectDevice(stack.urls.mqtt, 'auth-test-device');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await device?.endAsync();
    await stack?.stop();
  });

  it('refuses a connection without a token with 401', async () => {
    expect((await upgradeStatus(stack.urls.websocket)).status).to.equal(401);
  });

  it('refuses forged, expired, wrong-audience and alg-none tokens with 401', async () => {
    // Arrange
    const secret = stack.devSecret!;
    const valid = await signedToken({ secret, devices: '*' });
    const tokens = {
      badSignature: await signedToken({ secret: 'not-the-secret', devices: '*' }),
      expired: await signedToken({ secret, expiresAt: Math.floor(Date.now() / 1000) - 600 }),
      wrongAudience: await signedToken({ secret, audience: 'someone-else' }),
      wrongIssuer: await signedToken({ secret, issuer: 'someone-else' }),
      algNone: unsignedToken(),
      tampered: tamperedToken(await signedToken({ secret, devices: ['dev-1'] }), { devices: '*' }),
      garbage: 'not.a.jwt',
    };

    // Act
    const statuses = Object.fromEntries(await Promise.all(Object.entries(tokens).map(async ([name, token]) => [name, (await upgradeStatus(withToken(token))).status])));
    const accepted = await client(valid);

    // Assert
    expect(statuses).to.deep.equal({ badSignature: 401, expired: 401, wrongAudience: 401, wrongIssuer: 401, algNone: 401, tampered: 401, garbage: 401 });
    expect((await accepted.request({ action: 'ping' }, (f) => f.type === 'pong')).type).to.equal('pong');
  });

  it('never delivers dev-2 telemetry to a dev-1-scoped token, and refuses its subscription to dev-2 or *', async () => {
    // Arrange
    const scoped = await client(await signedToken({ secret: stack.devSecret!, sub: 'bob', devices: ['dev-1'] }));
    const everything = await client(stack.devToken!);

    // Act
    const toDev2 = await scoped.request({ action: 'subscribe', devices: ['dev-2'] }, (f) => f.type === 'error');
    const toAll = await scoped.request({ action: 'subscribe', devices: '*' }, (f) => f.type === 'error');
    await device.publishAsync('devices/dev-2/telemetry', JSON.stringify({ ts: Date.now(), seq: 2 }));
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ ts: Date.now(), seq: 1 }));

    // Assert
    expect(toDev2.code).to.equal('forbidden');
    expect(toAll.code).to.equal('forbidden');
    await everything.next((f) => f.type === 'telemetry' && f.deviceId === 'dev-2');
    expect((await scoped.next((f) => f.type === 'telemetry')).deviceId).to.equal('dev-1');
    await scoped.none((f) => f.type === 'telemetry' && f.deviceId === 'dev-2', 300);
  });

  it('refuses with 403 a ?devices= request outside the token scope', async () => {
    const token = await signedToken({ secret: stack.devSecret!, devices: ['dev-1'] });
    expect((await upgradeStatus(withToken(token, '&devices=dev-2'))).status).to.equal(403);
  });

  it('refuses message broadcasts to a token without publish', async () => {
    const reader = await client(await signedToken({ secret: stack.devSecret!, devices: '*', publish: false }));
    const refused = await reader.request({ action: 'message', data: { x: 1 } }, (f) => f.type === 'error');
    expect(refused.code).to.equal('forbidden');
  });

  it('hands the dev token to the dashboard in /config.json, and no log line carries a token', async () => {
    const config = JSON.parse((await httpGet(`${stack.urls.dashboard}config.json`)).body);
    expect(config.token).to.equal(stack.devToken);
    expect(stack.lines.join('\n')).not.to.include(stack.devToken!.split('.')[2]);
  });
});
