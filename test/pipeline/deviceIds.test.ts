/**
 * Frame ids are keyed by device: a device that reuses another device's ids
 * cannot hide that device's frames on a dashboard that sees both.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { DashboardModel } from '../../dashboard/src/model.js';
import { type TestStack, connectDevice, startTestStack } from '../helpers/localStack.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';

describe('local stack: telemetry ids keyed by device', function () {
  // Room for the stack to start on a loaded machine (twenty publishes and two devices besides).
  this.timeout(60_000);
  let stack: TestStack;
  let attacker: MqttClient;
  let victim: MqttClient;
  let client: TestClient | undefined;

  before(async () => {
    stack = await startTestStack({ auth: true });
    attacker = await connectDevice(stack.urls.mqtt, 'attacker');
    victim = await connectDevice(stack.urls.mqtt, 'victim');
  });
  after(async () => {
    await client?.close();
    await attacker?.endAsync();
    await victim?.endAsync();
    await stack?.stop();
  });

  it("delivers, and the dashboard keeps, every victim frame after another device published the victim's ids first", async () => {
    // Arrange
    client = await connectClient(`${stack.urls.websocket}?token=${encodeURIComponent(stack.devToken!)}&devices=attacker,victim`);
    const ids = Array.from({ length: 10 }, (_, i) => `seq-${100 + i}`);

    // Act: the attacker's ten first, then the victim's ten with the same ids.
    for (const id of ids) await attacker.publishAsync('devices/attacker/telemetry', JSON.stringify({ id, ts: Date.now(), temperature: -99 }));
    const fromAttacker: Frame[] = [];
    for (let i = 0; i < ids.length; i++) fromAttacker.push(await client.next((f) => f.type === 'telemetry' && f.deviceId === 'attacker'));
    for (const id of ids) await victim.publishAsync('devices/victim/telemetry', JSON.stringify({ id, ts: Date.now(), temperature: 21 }));
    const fromVictim: Frame[] = [];
    for (let i = 0; i < ids.length; i++) fromVictim.push(await client.next((f) => f.type === 'telemetry' && f.deviceId === 'victim'));
    const model = new DashboardModel({ scope: '*' });
    const outcomes = [...fromAttacker, ...fromVictim].map((frame, i) => model.receive(JSON.stringify(frame), Date.now() + i));

    // Assert
    expect(new Set([...fromAttacker, ...fromVictim].map((f) => f.id)).size).to.equal(20);
    // Rule invocations are asynchronous, so frames may arrive in any order; every one of them must.
    expect(fromVictim.map((f) => f.id)).to.have.members(ids.map((id) => `victim/${id}`));
    expect(outcomes.filter((o) => o.kind === 'duplicate')).to.have.length(0);
    expect(model.store.device('victim')!.messages).to.equal(10);
  });
});
