/**
 * A device cannot speak for another: a reading published on devices/dev-1/telemetry whose payload says
 * `"deviceId": "other"` is dropped by every telemetry rule (their WHERE), so it is neither stored in the history
 * table nor delivered, under either name. The local rule engine runs the template's own SQL.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { type TestStack, connectDevice, scanTable, startTestStack } from '../helpers/localStack.js';
import { type TestClient, connectClient } from '../helpers/wsClient.js';
import { waitFor } from '../helpers/waitFor.js';

describe('local stack: a reading that claims another device id', function () {
  // Room for the stack to start on a loaded machine.
  this.timeout(60_000);
  let stack: TestStack;
  let device: MqttClient;
  let client: TestClient | undefined;

  before(async () => {
    stack = await startTestStack({ auth: true });
    device = await connectDevice(stack.urls.mqtt, 'dev-1');
  });
  after(async () => {
    await client?.close();
    await device?.endAsync();
    await stack?.stop();
  });

  it('is neither stored nor delivered, as "other" or as dev-1; the same device\'s honest readings are', async () => {
    client = await connectClient(`${stack.urls.websocket}?token=${encodeURIComponent(stack.devToken!)}&devices=dev-1,other`);
    const ts = Date.now();

    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ deviceId: 'other', ts, temperature: -99, spoof: true }));
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ deviceId: 'dev-1', ts: ts + 1, temperature: 21 }));
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ ts: ts + 2, temperature: 22 }));
    // Both honest readings through the rule (the spoof, had it passed, was published and queued first); the telemetry
    // function stores each in history after its fan-out.
    await waitFor(() => stack.iotStats.published >= 3 && stack.iotStats.invoked >= 2, { timeoutMs: 20_000, message: 'the honest readings invoked' });
    await stack.settled();
    await client.next((f) => f.type === 'telemetry' && f.data?.temperature === 22, 20_000);

    // Raw readings only (rollup buckets are keyed `device#level`).
    const raw = async () => (await scanTable(stack.urls.dynamodb, stack.tables.HistoryTable!)).filter((item) => !(item.pk as { S: string }).S.includes('#'));
    await waitFor(async () => (await raw()).length >= 2, { timeoutMs: 20_000, message: 'the honest readings stored' });
    const stored = await raw();
    expect(stored.map((item) => (item.pk as { S: string }).S).sort()).to.deep.equal(['dev-1', 'dev-1']);
    expect(JSON.stringify(stored)).to.not.include('spoof');
    const telemetry = client.frames.filter((f) => f.type === 'telemetry');
    expect(telemetry.map((f) => f.deviceId)).to.deep.equal(['dev-1', 'dev-1'].slice(0, telemetry.length));
    expect(telemetry.some((f) => f.data?.spoof === true || f.deviceId === 'other')).to.equal(false);
    // Matched: the two honest readings (TelemetryRule) and the device's own connect event (PresenceConnectedRule);
    // the spoof matched none.
    expect(stack.iotStats.matched).to.equal(3);
  });
});
