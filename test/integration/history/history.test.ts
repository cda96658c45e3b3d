/**
 * The history writer, the history store and the devices store against dynalite, with the
 * template's tables: two days of readings written through the writer (readings and rollups),
 * read back raw and as rollups; redelivered, late and concurrent readings; TTL; and a latest
 * reading that neither a late reading nor an implausible ts can freeze.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { type TelemetryFrame, createDevicesStore, createHistoryStore, createHistoryWriter, decodeFields, streamHistory } from '@serverless-iot-dashboard/shared';
import { tableDefinitions } from '../../../scripts/template.js';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';

const DAY = 86_400_000;
const STEP = 120_000;

describe('history storage against dynalite: readings and rollups', function () {
  this.timeout(120_000);
  let dynamo: TestDynamo;
  const tables: Record<string, string> = {};
  const end = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const start = end - 2 * DAY;
  const count = (end - start) / STEP;
  const frame = (deviceId: string, ts: number, data: Record<string, unknown>, id = `${deviceId}-${ts}`): TelemetryFrame => ({ type: 'telemetry', id, deviceId, ts, receivedAt: ts + 50, data });

  const createTable = async (logicalId: string, suffix = '') => {
    const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === logicalId)!;
    const name = `${logicalId}-${process.pid}${suffix}`;
    await dynamo.client.send(new CreateTableCommand({ ...(definition as object), TableName: name } as never));
    await waitUntilTableExists({ client: dynamo.client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: name });
    return name;
  };
  const buckets = async (pk: string) => {
    const out = await dynamo.doc.send(new QueryCommand({ TableName: tables.HistoryTable!, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: true }));
    return (out.Items ?? []).map((item) => ({ start: item.start as number, n: item.n as number, fields: decodeFields(item.f) }));
  };

  before(async () => {
    dynamo = await startDynamo();
    tables.HistoryTable = await createTable('HistoryTable');
    tables.DevicesTable = await createTable('DevicesTable');
    const writer = createHistoryWriter({ doc: dynamo.doc, tableName: tables.HistoryTable, retentionDays: 7 });
    const readings = Array.from({ length: count }, (_, i) => frame('dev-days', start + i * STEP, { seq: i, temperature: 20 + Math.sin(i / 50) * 5 + (i === 1000 ? 40 : 0) }));
    // In batches of 30 (an hour): what the coalesced mode's batch function does.
    for (let i = 0; i < readings.length; i += 30) await writer.record(readings.slice(i, i + 30));
  });

  after(async () => {
    await dynamo?.stop();
  });

  it('reads two days of raw readings in pages, oldest first, every reading once, data as written', async () => {
    const history = createHistoryStore({ doc: dynamo.doc, tableName: tables.HistoryTable!, now: () => end });
    const seqs: number[] = [];
    for await (const page of history.raw('dev-days', start, end)) {
      seqs.push(...page.map((p) => p.data.seq as number));
      for (const p of page) expect(p.data).to.have.keys('seq', 'temperature');
    }
    expect(seqs).to.deep.equal(Array.from({ length: count }, (_, i) => i));
  });

  it('reads only the window asked for, and no more than the limit', async () => {
    const history = createHistoryStore({ doc: dynamo.doc, tableName: tables.HistoryTable!, now: () => end });
    const points = [];
    for await (const page of history.raw('dev-days', end - 10 * 60_000, end - 1)) points.push(...page);
    expect(points.map((p) => p.ts)).to.deep.equal([5, 4, 3, 2, 1].map((k) => end - k * STEP));
    const limited = [];
    for await (const page of history.raw('dev-days', start, end, { limit: 7 })) limited.push(...page);
    expect(limited).to.have.length(7);
  });

  it('keeps buckets at three levels whose counts add up to every reading', async () => {
    for (const level of ['1m', '10m', '1h']) {
      const list = await buckets(`dev-days#${level}`);
      expect(list.reduce((n, b) => n + b.n, 0), level).to.equal(count);
    }
    expect(await buckets('dev-days#1h')).to.have.length(48);
  });

  it('answers two days at 600 points from minute buckets, a few read units, the spike kept, frames under 32 KB', async () => {
    const history = createHistoryStore({ doc: dynamo.doc, tableName: tables.HistoryTable!, now: () => end });
    const frames: string[] = [];
    const tally = { requests: 0, readUnits: 0 };
    const stats = await streamHistory(history, { deviceId: 'dev-days', since: start, until: end - 1, maxPoints: 600 }, async (f) => void frames.push(f), { tally });
    const points = frames.flatMap((f) => JSON.parse(f).points);
    expect(stats).to.include({ resolution: '1m', truncated: false });
    expect(points.length).to.be.at.most(600);
    for (const f of frames) expect(Buffer.byteLength(f)).to.be.lessThan(32 * 1024);
    expect(Math.max(...points.map((p: { max: { temperature: number } }) => p.max.temperature))).to.be.greaterThan(55);
    expect(points.reduce((n: number, p: { count: number }) => n + p.count, 0)).to.equal(count);
    expect(tally.readUnits).to.be.below(100);
  });

  it('counts a redelivered reading once, and puts a late, out-of-order reading in its own bucket at every level', async () => {
    const writer = createHistoryWriter({ doc: dynamo.doc, tableName: tables.HistoryTable!, retentionDays: 7 });
    const t = end - 30 * 60_000;
    await writer.record([frame('dev-late', t + 5000, { v: 2 }), frame('dev-late', t + 1000, { v: 1 })]);
    await writer.record([frame('dev-late', t + 5000, { v: 2 })]); // redelivered: same id
    await writer.record([frame('dev-late', t - 3 * 3_600_000, { v: -7 })]); // three hours late
    const minutes = await buckets('dev-late#1m');
    expect(minutes.map((b) => b.n)).to.deep.equal([1, 2]);
    const [late, recent] = minutes;
    expect(late!.fields.get('v')).to.include({ min: -7, max: -7, count: 1 });
    expect(recent!.fields.get('v')).to.include({ min: 1, max: 2, sum: 3, count: 2, last: 2 });
    expect((await buckets('dev-late#1h')).map((b) => b.n)).to.deep.equal([1, 2]);
  });

  it('ends with the full bucket when writers recompute the same minute at once', async () => {
    const writers = Array.from({ length: 4 }, () => createHistoryWriter({ doc: dynamo.doc, tableName: tables.HistoryTable!, retentionDays: 7 }));
    const t = end - 20 * 60_000;
    await Promise.all(Array.from({ length: 24 }, (_, i) => writers[i % 4]!.record([frame('dev-race', t + i * 1000, { v: i })])));
    const [minute] = await buckets('dev-race#1m');
    expect(minute!.n).to.equal(24);
    expect(minute!.fields.get('v')).to.include({ min: 0, max: 23, count: 24 });
    expect((await buckets('dev-race#1h'))[0]!.n).to.equal(24);
  });

  it('leaves out readings whose TTL has passed (DynamoDB deletes them late, dynalite never)', async () => {
    // Readings expire retention after receivedAt: a day past the first one's expiry, a day of them is gone.
    const history = createHistoryStore({ doc: dynamo.doc, tableName: tables.HistoryTable!, now: () => start + 7 * DAY + DAY });
    let n = 0;
    for await (const page of history.raw('dev-days', start, end)) n += page.length;
    // expiresAt = floor(receivedAt / 1000) + 7 days; an item is live while expiresAt > now.
    const live = Array.from({ length: count }, (_, i) => Math.floor((start + i * STEP + 50) / 1000) + 7 * 86_400).filter((e) => e > (start + 8 * DAY) / 1000).length;
    expect(live).to.equal(count - DAY / STEP - 1);
    expect(n).to.equal(live);
  });

  it('keeps the newest latest reading: a late, older one does not replace it, and sets the TTL', async () => {
    const devices = createDevicesStore({ doc: dynamo.doc, tableName: tables.DevicesTable!, retentionDays: 7 });
    const now = Date.now();
    const latest = (ts: number, seq: number) => ({ type: 'telemetry' as const, id: `id-${seq}`, deviceId: 'dev-late', ts, receivedAt: now, data: { seq } });
    expect(await devices.recordLatest(latest(now - 2000, 2))).to.equal(true);
    expect(await devices.recordLatest(latest(now - 3000, 1))).to.equal(false);
    expect(await devices.recordLatest(latest(now - 2000, 2))).to.equal(false); // a retry of the same reading writes nothing new
    const [first] = await devices.latest(['dev-late', 'dev-unknown']);
    expect(first).to.deep.include({ deviceId: 'dev-late', ts: now - 2000, data: { seq: 2 } });
    expect(await devices.recordLatest(latest(now - 1000, 3))).to.equal(true);
    expect((await devices.latest(['dev-late']))[0]!.ts).to.equal(now - 1000);
    const { Item } = await dynamo.doc.send(new GetCommand({ TableName: tables.DevicesTable!, Key: { deviceId: 'dev-late' } }));
    expect(Item!.expiresAt).to.be.closeTo(Math.floor(now / 1000) + 7 * 86_400, 5);
  });

  it('does not let a ts in microseconds, or one older than the retention, freeze the latest reading', async () => {
    const devices = createDevicesStore({ doc: dynamo.doc, tableName: tables.DevicesTable!, retentionDays: 7 });
    const now = Date.now();
    const at = (ts: number, receivedAt: number, seq: number) => ({ type: 'telemetry' as const, id: `m-${seq}`, deviceId: 'dev-micro', ts, receivedAt, data: { seq } });
    expect(await devices.recordLatest(at(now * 1000, now, 1))).to.equal(true);
    expect(await devices.recordLatest(at(now + 1000, now + 1000, 2))).to.equal(true);
    expect(await devices.recordLatest(at(12, now + 2000, 3))).to.equal(true); // a clock that restarted at 0
    expect((await devices.latest(['dev-micro']))[0]).to.deep.include({ ts: now + 2000, data: { seq: 3 } });
  });

  it('reads back a latest reading with an integer past 2^53 and a field named __proto__', async () => {
    const devices = createDevicesStore({ doc: dynamo.doc, tableName: tables.DevicesTable!, retentionDays: 7 });
    const data = JSON.parse('{"big":12345678901234567890,"__proto__":1,"x":2}');
    await devices.recordLatest({ type: 'telemetry', id: 'b', deviceId: 'dev-big', ts: Date.now(), receivedAt: Date.now(), data });
    const [read] = await devices.latest(['dev-big']);
    expect(JSON.stringify(read!.data)).to.equal('{"big":12345678901234567000,"__proto__":1,"x":2}');
  });

  it('lists every known device page by page, capped', async () => {
    const devices = createDevicesStore({ doc: dynamo.doc, tableName: tables.DevicesTable! });
    for (let i = 0; i < 230; i++) await devices.recordLatest({ type: 'telemetry', id: `x${i}`, deviceId: `fleet-${i}`, ts: Date.now(), receivedAt: Date.now(), data: { i } });
    const seen: string[] = [];
    for await (const page of devices.all(150)) seen.push(...page.map((d) => d.deviceId));
    expect(seen).to.have.length(150);
    expect(new Set(seen).size).to.equal(150);
    expect(devices.usage.requests).to.be.greaterThan(1);
    expect(await devices.latest(Array.from({ length: 230 }, (_, i) => `fleet-${i}`))).to.have.length(230);
  });
});
