/**
 * Presence in DevicesTable against dynalite (the template's table): events kept in order whatever order they
 * arrive in, a reading and a presence on one item never overwrite each other, a connected device that never
 * reported appears in the snapshot, and `devices` pages through any number of devices with a cursor.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { expect } from 'chai';
import {
  type PresenceRecord,
  createDevicesStore,
  createPresenceStore,
  snapshotEntry,
  snapshotPage,
} from '@serverless-iot-dashboard/shared';
import { tableDefinitions } from '../../../scripts/template.js';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';

const T0 = Date.now() - 60_000;
const event = (eventType: 'connected' | 'disconnected', versionNumber: number, since: number, reason?: string): PresenceRecord => ({
  state: eventType === 'connected' ? 'online' : 'offline',
  eventType,
  versionNumber,
  since,
  ...(reason ? { reason } : {}),
});

describe('presence in DevicesTable against dynalite', function () {
  this.timeout(60_000);
  let dynamo: TestDynamo;
  let tableName: string;

  before(async () => {
    dynamo = await startDynamo();
    const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === 'DevicesTable')!;
    tableName = `DevicesTable-presence-${process.pid}`;
    await dynamo.client.send(new CreateTableCommand({ ...(definition as object), TableName: tableName } as never));
    await waitUntilTableExists({ client: dynamo.client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: tableName });
  });

  after(async () => {
    await dynamo?.stop();
  });

  it('keeps the newest event: a late connect and a duplicate change nothing, concurrent writers one winner', async () => {
    const presence = createPresenceStore({ doc: dynamo.doc, tableName });
    expect(await presence.record('pump-1', event('connected', 2, T0))).to.equal(true);
    expect(await presence.record('pump-1', event('disconnected', 2, T0 + 1000, 'MQTT_KEEP_ALIVE_TIMEOUT'))).to.equal(true);
    expect(await presence.record('pump-1', event('connected', 2, T0))).to.equal(false);
    expect(await presence.record('pump-1', event('disconnected', 2, T0 + 1000, 'MQTT_KEEP_ALIVE_TIMEOUT'))).to.equal(false);

    // Two invocations with the next connection's two events at once: whatever the interleaving, the disconnect ends up kept.
    await Promise.all([presence.record('pump-1', event('connected', 3, T0 + 5000)), presence.record('pump-1', event('disconnected', 3, T0 + 6000, 'CLIENT_INITIATED_DISCONNECT'))]);

    const devices = createDevicesStore({ doc: dynamo.doc, tableName });
    const [pump] = await devices.latest(['pump-1']);
    expect(pump.presence).to.deep.equal({ state: 'offline', since: T0 + 6000, reason: 'CLIENT_INITIATED_DISCONNECT' });
  });

  it('keeps a device’s presence when a reading lands, and its reading when a presence lands', async () => {
    const presence = createPresenceStore({ doc: dynamo.doc, tableName });
    const devices = createDevicesStore({ doc: dynamo.doc, tableName });
    await presence.record('fan-2', event('connected', 0, T0));
    await devices.recordLatest({ type: 'telemetry', id: 'r1', deviceId: 'fan-2', ts: T0 + 10, receivedAt: T0 + 20, data: { rpm: 900 } });
    await presence.record('fan-2', event('disconnected', 0, T0 + 30, 'CONNECTION_LOST'));

    const [fan] = await devices.latest(['fan-2']);
    expect(fan).to.deep.include({ deviceId: 'fan-2', ts: T0 + 10, data: { rpm: 900 } });
    expect(fan.presence).to.deep.equal({ state: 'offline', since: T0 + 30, reason: 'CONNECTION_LOST' });
  });

  it('lists a device that connected but never reported, as presence only', async () => {
    const presence = createPresenceStore({ doc: dynamo.doc, tableName });
    const devices = createDevicesStore({ doc: dynamo.doc, tableName });
    await presence.record('quiet-3', event('connected', 0, T0));

    const [quiet] = await devices.latest(['quiet-3']);
    expect(snapshotEntry(quiet)).to.deep.equal({ deviceId: 'quiet-3', presence: { state: 'online', since: T0 } });
  });

  it('pages through every device with a cursor, each device exactly once, for every device and for a scope list', async () => {
    const devices = createDevicesStore({ doc: dynamo.doc, tableName });
    const ids = Array.from({ length: 1234 }, (_, i) => `fleet-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((deviceId, j) => devices.recordLatest({ type: 'telemetry', id: `x${i + j}`, deviceId, ts: T0, receivedAt: T0, data: { n: i + j } })));
    }

    const walk = async (scope: '*' | string[], limit: number) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await snapshotPage(devices, scope, '*', { cursor, limit });
        seen.push(...page.readings.map((r) => r.deviceId));
        cursor = page.cursor;
        if (!cursor) return { seen, pages: pages + 1 };
      }
      throw new Error('more than 100 pages');
    };

    const all = await walk('*', 300);
    expect(all.seen.filter((id) => id.startsWith('fleet-')).sort()).to.deep.equal(ids);
    expect(new Set(all.seen).size).to.equal(all.seen.length);
    expect(all.pages).to.be.greaterThan(4);

    const scoped = await walk(ids.slice(100, 700), 250);
    expect(scoped.seen).to.deep.equal(ids.slice(100, 700));
    expect(scoped.pages).to.equal(3);
  });

  it('refuses a cursor it never gave', async () => {
    const devices = createDevicesStore({ doc: dynamo.doc, tableName });
    for (const cursor of ['not-base64-json', Buffer.from('{"deviceId":1}').toString('base64url'), Buffer.from('{"offset":1}').toString('base64url')]) {
      const error = await snapshotPage(devices, '*', '*', { cursor }).then(() => undefined, (e: Error) => e);
      expect(error?.name, cursor).to.equal('BadRequest');
    }
  });
});
