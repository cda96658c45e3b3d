/**
 * npx tsx bench/historyWriter.ts [--devices 10] [--rate 10] [--seconds 60] [--concurrent 16] [--before]
 *
 * The direct mode's history write per reading (docs/decisions/018-local-capacity.md), alone against
 * dynalite in this process: devices at `rate` readings/s for `seconds` of device time, one reading per
 * call (as the telemetry function does), up to `concurrent` calls at once (16: npm start's async concurrency; 1: one container,
 * as on AWS). Prints
 * CPU ms per reading (writer and dynalite together: the process's user + system time), requests and
 * read units per reading. Device time is generated, so a minute fills as fast as the writer goes; the
 * figure is CPU, which a busy machine inflates less than wall time. Figures only.
 */
import { parseArgs } from 'node:util';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { type TelemetryFrame, createHistoryWriter } from '@serverless-iot-dashboard/shared';
import { tableDefinitions } from '../scripts/template.js';
import { startDynamo } from '../test/helpers/dynamo.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values } = parseArgs({ options: { devices: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, concurrent: { type: 'string' }, before: { type: 'boolean' } } });
const devices = Number(values.devices ?? 10);
const rate = Number(values.rate ?? 10);
const seconds = Number(values.seconds ?? 60);
const CONCURRENT = Number(values.concurrent ?? 16);

const dynamo = await startDynamo();
const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === 'HistoryTable')!;
const tableName = `HistoryTable-bench-${process.pid}`;
await dynamo.client.send(new CreateTableCommand({ ...(definition as object), TableName: tableName } as never));
await waitUntilTableExists({ client: dynamo.client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: tableName });

// The writer before decision 018 is not in the tree: --before needs it restored beside the current one first,
// git show 5af2e13:layers/shared/src/history/historyWriter.ts > layers/shared/src/history/historyWriterBefore.ts
const BEFORE: string = '../layers/shared/src/history/historyWriterBefore.js';
const create = values.before
  ? ((await import(BEFORE)) as { createHistoryWriter: typeof createHistoryWriter }).createHistoryWriter
  : createHistoryWriter;
const writer = create({ doc: dynamo.doc, tableName, retentionDays: 7 });

const t0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
const readings: TelemetryFrame[] = [];
for (let i = 0; i < seconds * rate; i++) {
  for (let d = 0; d < devices; d++) {
    const ts = t0 + Math.round((i * 1000) / rate);
    readings.push({ type: 'telemetry', id: `dev-${d}-${i}`, deviceId: `dev-${d}`, ts, receivedAt: ts + 20, data: { seq: i, temperature: 20 + Math.sin(i / 30) } });
  }
}

const cpu0 = process.cpuUsage();
const wall0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENT }, async () => {
    for (let i = next++; i < readings.length; i = next++) await writer.record([readings[i]!]);
  }),
);
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - wall0;
const n = readings.length;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
console.log(
  `historyWriter ${JSON.stringify({
    writer: values.before ? 'before' : 'after',
    readings: n,
    concurrent: CONCURRENT,
    cpuMsPerReading: round((cpu.user + cpu.system) / 1000 / n),
    wallMsPerReading: round(wallMs / n),
    requestsPerReading: round(writer.usage.requests / n),
    readUnitsPerReading: round(writer.usage.readUnits / n),
    writeUnitsPerReading: round(writer.usage.writeUnits / n),
  })}`,
);
await dynamo.stop();
