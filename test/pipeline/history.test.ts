/**
 * History through the local stack: MQTT readings → the telemetry function's history
 * writer (readings and rollups, docs/decisions/008-rollups.md) → the history route's
 * frames; its latest-reading write → the snapshot on subscribe and on `devices`.
 * With the readings that used to be lost or break a reply (issue 21): no ts, two with
 * the same ts, a ts in microseconds, an integer past 2^53, a 54 KB reading.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { type TestStack, connectDevice, scanTable, startTestStack } from '../helpers/localStack.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';
import { signedToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/waitFor.js';

describe('local stack: history and last-known state', function () {
  this.timeout(30_000);
  let stack: TestStack;
  let device: MqttClient;
  const clients: TestClient[] = [];
  const t0 = Date.now() - 60_000;

  const client = async (query = '') => {
    const c = await connectClient(`${stack.urls.websocket}?token=${stack.devToken}${query ? `&${query}` : ''}`);
    clients.push(c);
    return c;
  };
  /** Every frame of one reply, up to the one with done: true. */
  const reply = async (c: TestClient, type: string, requestId: string): Promise<Frame[]> => {
    const frames: Frame[] = [];
    for (;;) {
      const frame = await c.next((f) => f.requestId === requestId && (f.type === type || f.type === 'error'));
      frames.push(frame);
      if (frame.type === 'error' || frame.done === true) return frames;
    }
  };

  before(async function () {
    // A stack start, 21 readings through both rules, and their writes: room for a loaded machine.
    this.timeout(90_000);
    stack = await startTestStack({ auth: true });
    device = await connectDevice(stack.urls.mqtt, 'hist-device');
    for (let i = 0; i < 20; i++) await device.publishAsync('devices/hist-1/telemetry', JSON.stringify({ ts: t0 + i * 1000, seq: i, temperature: 20 + i }));
    // A late reading, older than the newest: history keeps it, the latest reading stays seq 19.
    await device.publishAsync('devices/hist-1/telemetry', JSON.stringify({ ts: t0 - 5000, seq: -1, temperature: 99 }));
    // The readings of issue 21, one device each.
    const publish = (deviceId: string, payload: unknown) => device.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(payload), { qos: 1 });
    await publish('hist-nots', { seq: 1, v: 5 });
    await publish('hist-tie', { ts: t0, seq: 1 });
    await publish('hist-tie', { ts: t0, seq: 2 });
    await publish('hist-micro', { ts: Date.now() * 1000, seq: 1 });
    // A second later by the device's clock (the first reading is stored at IoT Core's time, within ms of this).
    await publish('hist-micro', { ts: Date.now() + 1000, seq: 2 });
    await publish('hist-big', { ts: t0, seq: 1, big: 12345678901234567890 });
    await publish('hist-large', { ts: t0, v: 1, blob: 'x'.repeat(54 * 1024) });
    await waitFor(() => stack.iotStats.invoked >= 28, { timeoutMs: 20_000 });
    await stack.settled();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  after(async () => {
    await device?.endAsync();
    await stack?.stop();
  });

  it('stores every reading under its device with a TTL, and its minute, ten-minute and hour buckets', async () => {
    const items = await scanTable(stack.urls.dynamodb, stack.tables.HistoryTable!);
    const pk = (item: Record<string, unknown>) => (item.pk as { S: string }).S;
    const raw = items.filter((item) => pk(item) === 'hist-1');
    expect(raw).to.have.length(21);
    const nowSeconds = Date.now() / 1000;
    for (const item of raw) {
      const expiresAt = Number((item.expiresAt as { N: string }).N);
      expect(expiresAt).to.be.within(nowSeconds + 7 * 86_400 - 60, nowSeconds + 7 * 86_400 + 60);
    }
    for (const level of ['1m', '10m', '1h']) {
      const buckets = items.filter((item) => pk(item) === `hist-1#${level}`);
      expect(buckets.length, level).to.be.within(1, 2);
      expect(buckets.reduce((n, item) => n + Number((item.n as { N: string }).N), 0), level).to.equal(21);
    }
  });

  /** The whole reply to a history request for one device over the last hour and a half. */
  const historyOf = async (deviceId: string, requestId: string, extra: Record<string, unknown> = {}) => {
    const c = await client();
    c.send({ action: 'history', deviceId, since: Date.now() - 90 * 60_000, requestId, ...extra });
    const frames = await reply(c, 'history', requestId);
    for (const f of frames) expect(JSON.stringify(f).length).to.be.lessThan(32 * 1024);
    return { frames, points: frames.flatMap((f) => f.points ?? []) };
  };

  it('stores a reading without a numeric ts and serves it at its receivedAt', async () => {
    const { frames, points } = await historyOf('hist-nots', 'nots');
    expect(frames.at(-1)).to.include({ type: 'history', done: true });
    expect(points).to.have.length(1);
    expect(points[0].data).to.deep.equal({ seq: 1, v: 5 });
    expect(points[0].ts).to.be.within(t0, Date.now());
  });

  it('keeps two readings with the same ts', async () => {
    const { points } = await historyOf('hist-tie', 'tie');
    expect(points.map((p: Frame) => p.data.seq).sort()).to.deep.equal([1, 2]);
    expect(points.map((p: Frame) => p.ts)).to.deep.equal([t0, t0]);
  });

  it('does not let a ts in microseconds freeze the latest reading: it is stored at its receivedAt, the next reading replaces it', async () => {
    const c = await client('devices=none-yet');
    c.send({ action: 'subscribe', devices: ['hist-micro'] });
    const snapshot = await c.next((f) => f.type === 'snapshot');
    expect(snapshot.devices[0].data).to.deep.equal({ seq: 2 });
    // Until a minute ahead: the second reading's ts is a second past its publish (a request right after it would
    // otherwise end before that reading's time).
    const { points } = await historyOf('hist-micro', 'micro', { until: Date.now() + 60_000 });
    expect(points.map((p: Frame) => p.data.seq)).to.deep.equal([1, 2]);
    expect(points[0].deviceTs).to.be.greaterThan(1e15);
    expect(points[0].ts).to.be.lessThan(Date.now());
  });

  it('answers devices, history and the subscribe snapshot for a device that sent an integer past 2^53', async () => {
    const { frames, points } = await historyOf('hist-big', 'big');
    expect(frames.at(-1)).to.include({ type: 'history', done: true });
    expect(points[0].data.big).to.equal(12345678901234567890);
    const c = await client('devices=none-yet');
    c.send({ action: 'subscribe', devices: ['hist-big'] });
    const snapshot = await c.next((f) => f.type === 'snapshot' || f.type === 'error');
    expect(snapshot.type).to.equal('snapshot');
    expect(snapshot.devices[0].data.big).to.equal(12345678901234567890);
    await c.next((f) => f.type === 'subscribed');
    c.send({ action: 'devices', requestId: 'big-d' });
    const devices = (await reply(c, 'snapshot', 'big-d')).flatMap((f) => f.devices);
    expect(devices.map((d: Frame) => d.data.big)).to.deep.equal([12345678901234567890]);
  });

  it('answers history and the snapshot for a 54 KB reading in frames under 32 KB, the reading reduced to its numbers', async () => {
    const { frames, points } = await historyOf('hist-large', 'large');
    expect(frames.at(-1)).to.include({ type: 'history', done: true });
    expect(points).to.deep.equal([{ ts: t0, id: points[0].id, data: { v: 1 }, reduced: true }]);
    const c = await client('devices=none-yet');
    c.send({ action: 'subscribe', devices: ['hist-large'] });
    const snapshot = await c.next((f) => f.type === 'snapshot' || f.type === 'error');
    expect(snapshot.devices[0]).to.deep.include({ data: { v: 1 }, reduced: true });
  });

  it('answers history with the window, sorted, in frames that end with done', async () => {
    const c = await client();
    c.send({ action: 'history', deviceId: 'hist-1', since: t0, until: t0 + 9_999, requestId: 'r1' });
    const frames = await reply(c, 'history', 'r1');
    const points = frames.flatMap((f) => f.points);
    expect(points.map((p: Frame) => p.data.seq)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(frames.at(-1)).to.include({ done: true, downsampled: false, resolution: 'raw', deviceId: 'hist-1' });
  });

  it('answers from rollups over maxPoints, keeping min and max per bucket', async () => {
    const c = await client();
    c.send({ action: 'history', deviceId: 'hist-1', since: t0 - 10_000, until: t0 + 19_999, maxPoints: 3, requestId: 'r2' });
    const frames = await reply(c, 'history', 'r2');
    const points = frames.flatMap((f) => f.points);
    expect(frames[0]).to.include({ downsampled: true, resolution: '1m' });
    expect(points.length).to.be.at.most(3);
    expect(Math.max(...points.map((p: Frame) => p.max.temperature))).to.equal(99);
    expect(Math.min(...points.map((p: Frame) => p.min.temperature))).to.equal(20);
  });

  it('answers subscribe with a snapshot of the latest reading, which a late older reading did not replace', async () => {
    const c = await client('devices=none-yet');
    c.send({ action: 'subscribe', devices: ['hist-1', 'unknown-device'] });
    const snapshot = await c.next((f) => f.type === 'snapshot');
    expect(snapshot.devices).to.have.length(1);
    expect(snapshot.devices[0]).to.deep.include({ deviceId: 'hist-1', ts: t0 + 19_000 });
    expect(snapshot.devices[0].data).to.include({ seq: 19 });
    await c.next((f) => f.type === 'subscribed');
  });

  it('answers devices with a snapshot of every subscribed device, echoing the requestId', async () => {
    const c = await client();
    c.send({ action: 'devices', requestId: 'd1' });
    const frames = await reply(c, 'snapshot', 'd1');
    const devices: Frame[] = frames.flatMap((f) => f.devices);
    // Every device this file's specs published to that the connection subscribes to; hist-1 among them.
    expect(devices.filter((d) => d.ts !== undefined).map((d) => d.deviceId)).to.include('hist-1');
    // The publishing MQTT client is a device too (its client id): connected, never reported, listed with its presence only.
    for (const d of devices.filter((d) => d.ts === undefined)) expect(Object.keys(d).sort(), d.deviceId).to.deep.equal(['deviceId', 'presence']);
  });

  for (const [what, frame, code] of [
    ['a wildcard device id', { deviceId: '*', since: t0 }, 'bad_request'],
    ['an MQTT wildcard in the device id', { deviceId: 'dev-+', since: t0 }, 'bad_request'],
    ['since after until', { deviceId: 'hist-1', since: t0 + 10, until: t0 }, 'bad_request'],
    ['a since that is not a number', { deviceId: 'hist-1', since: 'yesterday' }, 'bad_request'],
    ['a window longer than the retention', { deviceId: 'hist-1', since: t0 - 8 * 86_400_000, until: t0 }, 'bad_request'],
    ['maxPoints over 5000', { deviceId: 'hist-1', since: t0, maxPoints: 5001 }, 'bad_request'],
    ['maxPoints of 0', { deviceId: 'hist-1', since: t0, maxPoints: 0 }, 'bad_request'],
  ] as const) {
    it(`answers ${what} with one ${code} error frame that echoes the requestId, and nothing else`, async () => {
      const c = await client();
      c.send({ action: 'history', ...frame, requestId: 'bad' });
      const error = await c.next((f) => f.requestId === 'bad');
      expect(error).to.include({ type: 'error', code });
      await c.none((f) => f.type === 'history', 300);
    });
  }

  it('answers history for a device outside the token scope with forbidden, and a snapshot leaves it out', async () => {
    const token = await signedToken({ secret: stack.devSecret!, sub: 'alice', devices: ['dev-1'] });
    const c = await connectClient(`${stack.urls.websocket}?token=${token}`);
    clients.push(c);
    c.send({ action: 'history', deviceId: 'hist-1', since: t0, requestId: 'f1' });
    expect(await c.next((f) => f.requestId === 'f1')).to.include({ type: 'error', code: 'forbidden' });
    c.send({ action: 'devices', requestId: 'f2' });
    expect((await reply(c, 'snapshot', 'f2')).flatMap((f) => f.devices)).to.deep.equal([]);
  });
});
