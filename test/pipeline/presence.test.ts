/**
 * Presence through the local stack: an MQTT client connects -> the broker's lifecycle event -> the template's
 * presence rule -> PresenceFunction -> a `presence` frame to the dashboards that can see the device, and the
 * `devices` snapshot lists it (connected, not reported yet) with its presence.
 */
import { expect } from 'chai';
import mqtt, { type MqttClient } from 'mqtt';
import { type TestStack, startTestStack } from '../helpers/localStack.js';
import { type TestClient, connectClient } from '../helpers/wsClient.js';
import { signedToken } from '../helpers/tokens.js';

describe('local stack: presence from IoT Core lifecycle events', function () {
  this.timeout(90_000);
  let stack: TestStack;
  let all: TestClient;
  let scoped: TestClient;
  const devices: MqttClient[] = [];

  const connect = async (clientId: string, keepalive = 60) => {
    const client = await mqtt.connectAsync(stack.urls.mqtt, { clientId, keepalive, reconnectPeriod: 0, connectTimeout: 5000 });
    devices.push(client);
    return client;
  };

  before(async () => {
    stack = await startTestStack({ auth: true });
    all = await connectClient(`${stack.urls.websocket}?token=${encodeURIComponent(stack.devToken!)}`);
    const token = await signedToken({ secret: stack.devSecret!, devices: ['other-device'] });
    scoped = await connectClient(`${stack.urls.websocket}?token=${encodeURIComponent(token)}`);
  });

  after(async () => {
    for (const device of devices) await device.endAsync(true).catch(() => undefined);
    await all?.close();
    await scoped?.close();
    await stack?.stop();
  });

  it('sends online when a device connects, and offline with the reason when its socket is destroyed; not to a dashboard outside its scope', async () => {
    const device = await connect('press-1');
    const online = await all.next((f) => f.type === 'presence' && f.deviceId === 'press-1', 15_000);
    expect(online).to.include({ state: 'online' });
    expect(online.since).to.be.closeTo(Date.now(), 10_000);

    device.stream.destroy();
    const offline = await all.next((f) => f.type === 'presence' && f.deviceId === 'press-1' && f.state === 'offline', 15_000);
    expect(offline).to.include({ reason: 'CONNECTION_LOST' });
    expect(offline.since).to.be.at.least(online.since);

    await scoped.none((f) => f.type === 'presence', 300);
  });

  it('sends CLIENT_INITIATED_DISCONNECT on a clean disconnect, and lists a connected device that never reported in the snapshot', async () => {
    const device = await connect('press-2');
    await all.next((f) => f.type === 'presence' && f.deviceId === 'press-2' && f.state === 'online', 15_000);

    const snapshot = await all.request({ action: 'devices', requestId: 's1' }, (f) => f.type === 'snapshot' && f.requestId === 's1' && f.done, 15_000);
    expect(snapshot.devices.find((d: { deviceId: string }) => d.deviceId === 'press-2')).to.deep.equal({ deviceId: 'press-2', presence: { state: 'online', since: snapshot.devices.find((d: { deviceId: string }) => d.deviceId === 'press-2').presence.since } });

    await device.endAsync();
    const offline = await all.next((f) => f.type === 'presence' && f.deviceId === 'press-2' && f.state === 'offline', 15_000);
    expect(offline).to.include({ reason: 'CLIENT_INITIATED_DISCONNECT' });
  });
});
