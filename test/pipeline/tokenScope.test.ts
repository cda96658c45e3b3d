/**
 * The scope limit end to end: a token for more devices than one frame may name
 * connects and receives, through the template's authorizer on the local stack.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION } from '@serverless-iot-dashboard/shared';
import { type TestStack, connectDevice, startTestStack } from '../helpers/localStack.js';
import { signedToken } from '../helpers/tokens.js';
import { type TestClient, connectClient, upgradeStatus } from '../helpers/wsClient.js';

describe('local stack: a token scoped to more devices than a frame may name', function () {
  this.timeout(30_000);
  let stack: TestStack;
  let device: MqttClient;
  const clients: TestClient[] = [];
  const fleet = (n: number) => Array.from({ length: n }, (_, i) => `dev-${i + 1}`);
  const url = (token: string, extra = '') => `${stack.urls.websocket}?token=${encodeURIComponent(token)}${extra}`;

  before(async () => {
    stack = await startTestStack({ auth: true });
    device = await connectDevice(stack.urls.mqtt, 'scope-test-device');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await device?.endAsync();
    await stack?.stop();
  });

  it('connects with a 51-device token and receives its 51st device', async () => {
    // Arrange
    const token = await signedToken({ secret: stack.devSecret!, sub: 'fleet-51', devices: fleet(51) });

    // Act
    const client = await connectClient(url(token));
    clients.push(client);
    await device.publishAsync('devices/dev-51/telemetry', JSON.stringify({ ts: Date.now(), seq: 51 }));

    // Assert
    expect((await client.next((f) => f.type === 'telemetry')).deviceId).to.equal('dev-51');
  });

  it(`refuses a connect without ?devices= whose token lists more than ${MAX_SUBSCRIPTIONS_PER_CONNECTION} devices, and takes one that names them`, async () => {
    // 250 short ids: about as many as a token in the query string can carry within API Gateway's 4,096-character URL.
    const token = await signedToken({ secret: stack.devSecret!, sub: 'fleet-250', devices: fleet(250) });

    const refused = await upgradeStatus(url(token));
    const named = await connectClient(url(token, '&devices=dev-250'));
    clients.push(named);

    expect(url(token).length).to.be.below(4096);
    expect(refused.status).to.equal(400);
    expect((await named.request({ action: 'subscribe', devices: ['dev-249'] }, (f) => f.type === 'subscribed')).subscriptions).to.deep.equal(['dev-249', 'dev-250']);
  });
});
