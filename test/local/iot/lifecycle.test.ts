/**
 * The local broker's lifecycle events against IoT Core's documented fields
 * (https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html): on connect, on a clean
 * disconnect, on a dropped socket (keep-alive timeout) and on a client id taken over, both to MQTT
 * subscribers of $aws/events/presence/# and through the template's presence rules.
 */
import { expect } from 'chai';
import mqtt, { type MqttClient } from 'mqtt';
import { type IotCore, startIotCore } from '../../../local/iot/iotCore.js';
import { createAsyncInvoker } from '../../../local/lambda/asyncInvoke.js';
import { buildStackModel } from '../../../local/template/stackModel.js';
import { waitFor } from '../../helpers/waitFor.js';

type Event = Record<string, unknown>;

const CONNECTED_FIELDS = ['clientId', 'timestamp', 'eventType', 'sessionIdentifier', 'principalIdentifier', 'versionNumber', 'ipAddress'];
const DISCONNECTED_FIELDS = [...CONNECTED_FIELDS, 'clientInitiatedDisconnect', 'disconnectReason'];

describe('local IoT Core: lifecycle events', function () {
  this.timeout(20_000);
  let iot: IotCore;
  let url: string;
  let invoked: { functionId: string; event: Event; rule: string }[];
  let watcher: MqttClient;
  let seen: { topic: string; event: Event }[];
  const clients: MqttClient[] = [];

  const presenceRules = () => buildStackModel().rules.filter((r) => r.logicalId.startsWith('Presence'));

  before(async () => {
    invoked = [];
    iot = await startIotCore({
      rules: presenceRules(),
      asyncInvoker: createAsyncInvoker({ retryDelaysMs: [10, 20] }),
      log: () => undefined,
      invoke: async (functionId, event, meta) => {
        invoked.push({ functionId, event: event as Event, rule: meta.rule });
        return { ok: true };
      },
    });
    url = `mqtt://127.0.0.1:${await iot.listen(0, '127.0.0.1')}`;
    seen = [];
    watcher = await mqtt.connectAsync(url, { clientId: 'watcher', reconnectPeriod: 0 });
    await watcher.subscribeAsync('$aws/events/presence/#');
    watcher.on('message', (topic, payload) => seen.push({ topic, event: JSON.parse(String(payload)) }));
  });

  after(async () => {
    for (const client of clients) await client.endAsync(true).catch(() => undefined);
    await watcher?.endAsync(true).catch(() => undefined);
    await iot?.close();
  });

  const device = async (clientId: string, keepalive = 60) => {
    const client = await mqtt.connectAsync(url, { clientId, keepalive, reconnectPeriod: 0 });
    clients.push(client);
    return client;
  };
  const eventOf = (topic: string, nth = 0) =>
    waitFor(() => seen.filter((s) => s.topic === topic)[nth]?.event, { timeoutMs: 10_000, message: `event ${nth} on ${topic}` });

  it('publishes a connected event with the documented fields, and runs the template’s presence rule on it', async () => {
    await device('meter-1');
    const event = await eventOf('$aws/events/presence/connected/meter-1');

    expect(Object.keys(event).sort()).to.deep.equal([...CONNECTED_FIELDS].sort());
    expect(event).to.include({ clientId: 'meter-1', eventType: 'connected', versionNumber: 0 });
    expect(event.timestamp as number).to.be.closeTo(Date.now(), 5_000);
    expect(event.sessionIdentifier).to.match(/^[0-9a-f-]{36}$/);
    expect(event.principalIdentifier).to.match(/^[0-9a-f]{64}$/);
    await waitFor(() => invoked.find((i) => i.rule === 'PresenceConnectedRule' && i.event.clientId === 'meter-1'), { timeoutMs: 10_000 });
    const call = invoked.find((i) => i.rule === 'PresenceConnectedRule' && i.event.clientId === 'meter-1')!;
    expect(call.functionId).to.equal('PresenceFunction');
    expect(call.event).to.deep.equal(event);
  });

  it('a clean disconnect: CLIENT_INITIATED_DISCONNECT, clientInitiatedDisconnect true, the connect’s versionNumber and session', async () => {
    const client = await device('meter-2');
    const connected = await eventOf('$aws/events/presence/connected/meter-2');
    await client.endAsync();

    const event = await eventOf('$aws/events/presence/disconnected/meter-2');
    expect(Object.keys(event).sort()).to.deep.equal([...DISCONNECTED_FIELDS].sort());
    expect(event).to.include({ clientId: 'meter-2', eventType: 'disconnected', clientInitiatedDisconnect: true, disconnectReason: 'CLIENT_INITIATED_DISCONNECT' });
    expect(event).to.include({ versionNumber: connected.versionNumber, sessionIdentifier: connected.sessionIdentifier, principalIdentifier: connected.principalIdentifier });
    await waitFor(() => invoked.find((i) => i.rule === 'PresenceDisconnectedRule' && i.event.clientId === 'meter-2'), { timeoutMs: 10_000 });
  });

  it('a dropped socket: MQTT_KEEP_ALIVE_TIMEOUT after 1.5 x the keep-alive, not initiated by the client; the next connection has a higher versionNumber', async () => {
    const client = await device('meter-3', 1);
    const first = await eventOf('$aws/events/presence/connected/meter-3');
    // The socket stops talking without closing: no DISCONNECT, no FIN, as a device that lost power behind a NAT.
    client.stream.pause();
    // The client's own keep-alive check is stopped too: on a loaded machine it would otherwise give up first and
    // close the socket (the broker then sees CONNECTION_LOST, not a keep-alive timeout).
    const internals = client as unknown as { pingTimer?: { clear(): void }; keepaliveManager?: { destroy(): void } | null };
    internals.pingTimer?.clear?.();
    internals.keepaliveManager?.destroy();
    internals.keepaliveManager = null;
    client.options.keepalive = 0;
    const startedAt = Date.now();
    (client.stream as unknown as { write: () => boolean }).write = () => true;

    const event = await eventOf('$aws/events/presence/disconnected/meter-3');
    expect(event).to.include({ clientInitiatedDisconnect: false, disconnectReason: 'MQTT_KEEP_ALIVE_TIMEOUT', versionNumber: first.versionNumber });
    // Not before the keep-alive (1 s; the broker waits 1.5 times it); the reason above says which check ended it.
    expect(Date.now() - startedAt).to.be.at.least(1_000);
    client.stream.destroy();

    await device('meter-3');
    const second = await eventOf('$aws/events/presence/connected/meter-3', 1);
    expect(second.versionNumber as number).to.be.greaterThan(first.versionNumber as number);
    expect(second.sessionIdentifier).to.not.equal(first.sessionIdentifier);
  });

  it('a socket destroyed without DISCONNECT: CONNECTION_LOST', async () => {
    const client = await device('meter-4');
    await eventOf('$aws/events/presence/connected/meter-4');
    client.stream.destroy();
    const event = await eventOf('$aws/events/presence/disconnected/meter-4');
    expect(event).to.include({ clientInitiatedDisconnect: false, disconnectReason: 'CONNECTION_LOST' });
  });

  it('a client id taken over by a second connection: DUPLICATE_CLIENTID for the first', async () => {
    await device('meter-5');
    await eventOf('$aws/events/presence/connected/meter-5');
    await device('meter-5');
    const event = await eventOf('$aws/events/presence/disconnected/meter-5');
    expect(event).to.include({ disconnectReason: 'DUPLICATE_CLIENTID', clientInitiatedDisconnect: false });
  });
});
