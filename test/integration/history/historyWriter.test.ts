/**
 * The history writer's minute buckets against dynalite (docs/decisions/018-local-capacity.md): readings in
 * order extend the stored minute without reading its raw readings; late, redelivered and concurrent
 * readings still end in the bucket a recompute from the raw readings gives, at every level.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { ROLLUP_LEVELS, type TelemetryFrame, createHistoryWriter, decodeFields, encodeFields, foldReadings, groupHistoryWrites, timeKey } from '@serverless-iot-dashboard/shared';
import { tableDefinitions } from '../../../scripts/template.js';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';

const MINUTE = 60_000;

describe('history writer: minute buckets extended in order', function () {
  this.timeout(120_000);
  let dynamo: TestDynamo;
  let tableName: string;
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
  const frame = (deviceId: string, ts: number, data: Record<string, unknown>, id = `${deviceId}-${ts}`): TelemetryFrame => ({ type: 'telemetry', id, deviceId, ts, receivedAt: ts + 50, data });

  const query = async (pk: string) => {
    const out = await dynamo.doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: true }));
    return out.Items ?? [];
  };
  /** Each stored minute of the device beside the minute recomputed from its raw readings, as stored text. */
  const minutesAgainstRaw = async (deviceId: string) => {
    const raw = await query(deviceId);
    const minutes = await query(`${deviceId}#1m`);
    return minutes.map((m) => {
      const sources = raw.filter((r) => (r.at as number) >= (m.start as number) && (r.at as number) < (m.start as number) + MINUTE);
      const recomputed = foldReadings(m.start as number, MINUTE, sources.map((r) => ({ key: r.sk as string, data: JSON.parse(r.d as string) as Record<string, unknown> })));
      return { stored: { n: m.n, f: encodeFields(decodeFields(m.f)) }, recomputed: { n: recomputed.count, f: encodeFields(recomputed.fields) } };
    });
  };

  before(async () => {
    dynamo = await startDynamo();
    const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === 'HistoryTable')!;
    tableName = `HistoryTable-${process.pid}-writer`;
    await dynamo.client.send(new CreateTableCommand({ ...(definition as object), TableName: tableName } as never));
    await waitUntilTableExists({ client: dynamo.client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: tableName });
  });

  after(async () => {
    await dynamo?.stop();
  });

  it('extends a minute by in-order readings without reading its raw readings, into the bucket they give', async () => {
    const writer = createHistoryWriter({ doc: dynamo.doc, tableName, retentionDays: 7 });
    // 300 readings in one minute, one per call: a Query of the minute per reading would read 150 items on average.
    for (let i = 0; i < 300; i++) await writer.record([frame('dev-order', hour + i * 200, { seq: i, v: Math.sin(i) * 1e3, ...(i % 7 === 0 ? { note: 'text' } : {}) })]);
    // At most a strongly consistent GetItem of the minute (once: the writer keeps the bucket it wrote) and a Query of each coarser level: a read unit each.
    expect(writer.usage.readUnits / 300).to.be.at.most(3.5);
    const [minute, ...others] = await minutesAgainstRaw('dev-order');
    expect(others).to.have.length(0);
    expect(minute!.stored).to.deep.equal(minute!.recomputed);
    expect(minute!.stored.n).to.equal(300);
    const [hourBucket] = await query(`dev-order#${ROLLUP_LEVELS[2]!.name}`);
    expect(hourBucket!.n).to.equal(300);
  });

  it('reads a minute it wrote last only when another writer has moved it on (the version it kept fails the condition)', async () => {
    const countingDoc = () => {
      const counts = { gets: 0, failedConditions: 0 };
      const doc = {
        send: async (command: { constructor: { name: string } }) => {
          if (command.constructor.name === 'GetCommand') counts.gets++;
          try {
            return await dynamo.doc.send(command as never);
          } catch (error) {
            if ((error as Error).name === 'ConditionalCheckFailedException') counts.failedConditions++;
            throw error;
          }
        },
      } as unknown as typeof dynamo.doc;
      return { doc, counts };
    };
    const a = countingDoc();
    const b = countingDoc();
    const writerA = createHistoryWriter({ doc: a.doc, tableName, retentionDays: 7 });
    const writerB = createHistoryWriter({ doc: b.doc, tableName, retentionDays: 7 });
    const base = hour + 30 * MINUTE;
    const reading = (i: number) => frame('dev-kept', base + i * 500, { v: i });
    for (let i = 0; i < 50; i++) await writerA.record([reading(i)]);
    expect(a.counts, 'A read the minute once, then folded onto the bucket it kept').to.deep.equal({ gets: 1, failedConditions: 0 });
    for (let i = 50; i < 60; i++) await writerB.record([reading(i)]);
    expect(b.counts.gets, 'B had no bucket of its own: it read the one A wrote').to.equal(1);
    for (let i = 60; i < 70; i++) await writerA.record([reading(i)]);
    expect(a.counts, "A's kept version failed once, and it read B's bucket").to.deep.equal({ gets: 2, failedConditions: 1 });
    const [minute, ...others] = await minutesAgainstRaw('dev-kept');
    expect(others).to.have.length(0);
    expect(minute!.stored).to.deep.equal(minute!.recomputed);
    expect(minute!.stored.n).to.equal(70);
    expect((await query(`dev-kept#${ROLLUP_LEVELS[2]!.name}`))[0]!.n).to.equal(70);
    // keptMinutes: 0 reads before every write.
    const c = countingDoc();
    const writerC = createHistoryWriter({ doc: c.doc, tableName, retentionDays: 7, keptMinutes: 0 });
    for (let i = 70; i < 75; i++) await writerC.record([reading(i)]);
    expect(c.counts.gets).to.equal(5);
  });

  it('ends with the recomputed buckets when late, redelivered and in-order readings race from four writers', async () => {
    const writers = Array.from({ length: 4 }, () => createHistoryWriter({ doc: dynamo.doc, tableName, retentionDays: 7 }));
    const base = hour + 10 * MINUTE;
    // Three minutes of readings, a few of them repeated, in an order where each minute also gets late ones.
    const readings = Array.from({ length: 90 }, (_, i) => frame('dev-race', base + ((i * 37) % 90) * 2000, { v: (i * 37) % 90 }));
    const sent = [...readings, ...readings.filter((_, i) => i % 9 === 0)];
    const sendShare = async (w: number) => {
      for (let i = w; i < sent.length; i += writers.length) await writers[w]!.record([sent[i]!]);
    };
    await Promise.all(writers.map((_, w) => sendShare(w)));
    const minutes = await minutesAgainstRaw('dev-race');
    expect(minutes).to.have.length(3);
    for (const { stored, recomputed } of minutes) expect(stored).to.deep.equal(recomputed);
    expect(minutes.reduce((n, m) => n + (m.stored.n as number), 0)).to.equal(90);
    const [tenMinutes] = await query(`dev-race#${ROLLUP_LEVELS[1]!.name}`);
    expect(tenMinutes!.sk).to.equal(timeKey(base));
    expect(tenMinutes!.n).to.equal(90);
    expect((await query(`dev-race#${ROLLUP_LEVELS[2]!.name}`))[0]!.n).to.equal(90);
  });

  it('grouped across sixteen concurrent callers (the telemetry function locally), ends with the recomputed buckets of every device, in fewer requests', async () => {
    const inner = createHistoryWriter({ doc: dynamo.doc, tableName, retentionDays: 7 });
    const grouped = groupHistoryWrites(inner);
    const base = hour + 20 * MINUTE;
    const devices = ['dev-g1', 'dev-g2', 'dev-g3'];
    // Two minutes of three devices' readings, some repeated and some late, one reading per call, 16 calls in flight.
    const readings = Array.from({ length: 120 }, (_, i) => frame(devices[i % 3]!, base + ((i * 53) % 120) * 1000, { v: (i * 53) % 120 }));
    const sent = [...readings, ...readings.filter((_, i) => i % 11 === 0)];
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < sent.length) await grouped.record([sent[next++]!]);
    }));
    for (const deviceId of devices) {
      const minutes = await minutesAgainstRaw(deviceId);
      expect(minutes, deviceId).to.have.length(2);
      for (const { stored, recomputed } of minutes) expect(stored, deviceId).to.deep.equal(recomputed);
      expect(minutes.reduce((n, m) => n + (m.stored.n as number), 0), deviceId).to.equal(40);
      expect((await query(`${deviceId}#${ROLLUP_LEVELS[2]!.name}`))[0]!.n, deviceId).to.equal(40);
    }
    // One call per reading would make at least 7 requests per reading (docs/decisions/018-local-capacity.md).
    expect(inner.usage.requests / sent.length).to.be.below(7);
  });
});
