import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import sinon from 'sinon';
import { type PresenceDelivery, type PresenceRecord, type PresenceStore, createPresenceHandler, noopCounter, supersedes } from '@serverless-iot-dashboard/shared';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../../events/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

/** A presence store in memory, with the real ordering rule. */
const memoryPresence = (): PresenceStore & { held: Map<string, PresenceRecord> } => {
  const held = new Map<string, PresenceRecord>();
  return {
    held,
    async record(deviceId, record) {
      if (!supersedes(record, held.get(deviceId))) return false;
      held.set(deviceId, record);
      return true;
    },
  };
};

const setup = () => {
  const presence = memoryPresence();
  const recipientPages = sinon.stub().callsFake(async function* () {
    yield ['conn-a', 'conn-b'];
  });
  const deliver = sinon.stub<Parameters<PresenceDelivery['deliver']>, ReturnType<PresenceDelivery['deliver']>>().resolves({ recipients: 2, delivered: 2, gone: 0, failed: 0, retried: 0 });
  const handler = createPresenceHandler({ presence, store: { recipientPages }, fanOut: { deliver }, log: silentLog, counter: noopCounter });
  return { presence, recipientPages, deliver, handler };
};

describe('presence function (the lifecycle rules’ target)', () => {
  it('fans a presence frame out to the device’s viewers on connect, then on disconnect with the reason', async () => {
    const { handler, deliver, recipientPages } = setup();

    expect(await handler(fixture('presence-connected'))).to.include({ status: 'fanned-out', deviceId: 'sim-1', state: 'online', delivered: 2 });
    expect(await handler(fixture('presence-disconnected'))).to.include({ status: 'fanned-out', state: 'offline' });

    expect(recipientPages.args.map((a) => a[0])).to.deep.equal(['sim-1', 'sim-1']);
    expect(deliver.args.map((a) => JSON.parse(a[1]))).to.deep.equal([
      { type: 'presence', deviceId: 'sim-1', state: 'online', since: 1764057600000 },
      { type: 'presence', deviceId: 'sim-1', state: 'offline', since: 1764057660000, reason: 'MQTT_KEEP_ALIVE_TIMEOUT' },
    ]);
  });

  it('sends nothing for a duplicate, or for a connect that arrives after its own disconnect', async () => {
    const { handler, deliver, presence } = setup();
    await handler(fixture('presence-disconnected'));

    expect(await handler(fixture('presence-disconnected'))).to.include({ status: 'stale' });
    expect(await handler(fixture('presence-connected'))).to.include({ status: 'stale' });

    expect(deliver.callCount).to.equal(1);
    expect(presence.held.get('sim-1')).to.include({ state: 'offline' });
  });

  it('drops an event whose client id is not a device id, without a retry', async () => {
    const { handler, deliver } = setup();
    const outcome = await handler({ ...fixture('presence-connected'), clientId: 'a+b' });
    expect(outcome).to.deep.equal({ status: 'rejected' });
    expect(deliver.called).to.equal(false);
  });

  it('fails the invocation when the store fails, so Lambda retries it', async () => {
    const { deliver } = setup();
    const handler = createPresenceHandler({
      presence: { record: async () => Promise.reject(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' })) },
      store: { recipientPages: async function* () {} },
      fanOut: { deliver },
      log: silentLog,
      counter: noopCounter,
    });
    const error = await handler(fixture('presence-connected')).then(() => undefined, (e: Error) => e);
    expect(error?.name).to.equal('ProvisionedThroughputExceededException');
  });
});
