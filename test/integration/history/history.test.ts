/**
 * The history and devices stores against dynalite, with the template's tables
 * and a week of generated readings (one every 2 minutes: a week of keys, in a
 * few seconds of writes): paginated reads, downsampling, TTL, and a latest
 * reading that a late, older one never replaces.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { createDevicesStore, createHistoryStore, streamHistory } from '@serverless-iot-dashboard/shared';
import { tableDefinitions } from '../../../scripts/template.js';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';

const DAY = 86_400_000;
const STEP = 120_000;

describe('history storage against dynalite, a week of readings', function () {
  this.timeout(120_000);
  let dynamo: TestDynamo;
  const tables: Record<string, string> = {};
  const end = Date.UTC(2026, 10, 25);
  const start = end - 7 * DAY;
  const count = (end - start) / STEP;

  const createTable = async (logicalId: string) => {
    const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === logicalId)!;
    const name = `${logicalId}-${process.pid}`;
    await dynamo.client.send(new CreateTableCommand({ ...(definition as object), TableName: name } as never));
    await waitUntilTableExists({ client: dynamo.client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: name });
    tables[logicalId] = name;
  };

  before(async () => {
    dynamo = await startDynamo();
    await createTable('HistoryTable');
    await createTable('DevicesTable');
    // Items in the HistoryRule's shape: the payload's fields, deviceId, receivedAt, expiresAt.
    const items = Array.from({ length: count }, (_, i) => {
      const ts = start + i * STEP;
      return { deviceId: 'dev-week', ts, receivedAt: ts + 50, expiresAt: Math.floor((ts + 7 * DAY) / 1000) + 60, seq: i, temperature: 20 + Math.sin(i / 50) * 5 + (i === 3000 ? 40 : 0) };
    });
    for (let i = 0; i < items.length; i += 25) {
      await dynamo.doc.send(new BatchWriteCommand({ RequestItems: { [tables.HistoryTable!]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    }
  });

  after(async () => {
    await dynamo?.stop();
  });

  it('reads a whole week in pages, sorted by ts, every reading once, none of the storage attributes in data', async () => {
    const history = createHistoryStore({ doc: dynamo.doc, tableName: tables.HistoryTable!, now: () => end });
    const tally = { requests: 0, readUnits: 0 };
    const seqs: number[] = [];
    let largestPage = 0;
    for await (const page of history.pages('dev-week', start, end, { pageSize: 1000, tally })) {
      largestPage = Math.max(largestPage, page.length);
      seqs.push(...page.map((p) => p.data.seq as number));
      for (const p of page) expect(p.data).to.have.keys('seq', 'temperature');
    }
    expect(seqs).to.deep.equal(Array.from({ length: count }, (_, i) => i));
    expect(largestPage).to.be.at.most(1000);
    expect(tally.requests).to.equal(Math.ceil(count / 1000) + (count % 1000 === 0 ? 1 : 0));
  });

  it('reads only the window asked for: a key range, not the device', async () => {
    const history = createHistoryStore({ doc: dynamo.doc, tableName: tables.HistoryTable!, now: () => end });
    const points = [];
    for await (const page of history.pages('dev-week', end - 5 * 60_000, end - 1)) points.push(...page);
    expect(points.map((p) => p.ts)).to.deep.equal([5, 4, 3, 2, 1].map((k) => end - k * STEP).filter((ts) => ts >= end - 5 * 60_000));
  });

  it('downsamples a week to 600 points in frames under 32 KB, keeping the spike', async () => {
    const history = createHistoryStore({ doc: dynamo.doc, tableName: tables.HistoryTable!, now: () => end });
    const frames: string[] = [];
    const stats = await streamHistory(history, { deviceId: 'dev-week', since: start, until: end, maxPoints: 600 }, async (f) => void frames.push(f));
    const points = frames.flatMap((f) => JSON.parse(f).points);
    expect(stats).to.include({ read: count, downsampled: true });
    expect(points.length).to.be.at.most(600);
    for (const f of frames) expect(Buffer.byteLength(f)).to.be.lessThan(32 * 1024);
    expect(Math.max(...points.map((p: { max: { temperature: number } }) => p.max.temperature))).to.be.greaterThan(55);
  });

  it('leaves out readings whose TTL has passed (DynamoDB deletes them late, dynalite never)', async () => {
    const history = createHistoryStore({ doc: dynamo.doc, tableName: tables.HistoryTable!, now: () => start + 7 * DAY + DAY });
    let n = 0;
    for await (const page of history.pages('dev-week', start, end)) n += page.length;
    expect(n).to.equal(count - DAY / STEP);
  });

  it('keeps the newest latest reading: a late, older one does not replace it, and sets the TTL', async () => {
    const devices = createDevicesStore({ doc: dynamo.doc, tableName: tables.DevicesTable!, retentionDays: 7 });
    const frame = (ts: number, seq: number) => ({ type: 'telemetry' as const, id: `id-${seq}`, deviceId: 'dev-late', ts, receivedAt: Date.now(), data: { seq } });
    expect(await devices.recordLatest(frame(2000, 2))).to.equal(true);
    expect(await devices.recordLatest(frame(1000, 1))).to.equal(false);
    expect(await devices.recordLatest(frame(2000, 2))).to.equal(false); // a retry of the same reading writes nothing new
    const [latest] = await devices.latest(['dev-late', 'dev-unknown']);
    expect(latest).to.deep.include({ deviceId: 'dev-late', ts: 2000, data: { seq: 2 } });
    expect(await devices.recordLatest(frame(3000, 3))).to.equal(true);
    expect((await devices.latest(['dev-late']))[0]!.ts).to.equal(3000);
    const { Item } = await dynamo.doc.send(new (await import('@aws-sdk/lib-dynamodb')).GetCommand({ TableName: tables.DevicesTable!, Key: { deviceId: 'dev-late' } }));
    expect(Item!.expiresAt).to.be.closeTo(Math.floor(Date.now() / 1000) + 7 * 86_400, 5);
  });

  it('lists every known device page by page, capped', async () => {
    const devices = createDevicesStore({ doc: dynamo.doc, tableName: tables.DevicesTable! });
    for (let i = 0; i < 230; i++) await devices.recordLatest({ type: 'telemetry', id: `x${i}`, deviceId: `fleet-${i}`, ts: i, receivedAt: Date.now(), data: { i } });
    const seen: string[] = [];
    for await (const page of devices.all(150)) seen.push(...page.map((d) => d.deviceId));
    expect(seen).to.have.length(150);
    expect(new Set(seen).size).to.equal(150);
    expect(devices.usage.requests).to.be.greaterThan(1);
    expect(await devices.latest(Array.from({ length: 230 }, (_, i) => `fleet-${i}`))).to.have.length(230);
  });
});
