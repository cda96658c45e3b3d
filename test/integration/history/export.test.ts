/**
 * Export against dynalite: the CSV core (raw up to the limit, rollup rows past it, the first
 * column says which, RFC 4180 quoting, any field name), and `npm run export` itself against a
 * local stack's state file, CSV on stdout and progress on stderr.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { expect } from 'chai';
import { type TelemetryFrame, createHistoryStore, createHistoryWriter } from '@serverless-iot-dashboard/shared';
import { tableDefinitions } from '../../../scripts/template.js';
import { exportHistory } from '../../../scripts/historyExport.js';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';
import { runScript } from '../../helpers/childProcess.js';

describe('history export: CSV, raw or rollups', function () {
  this.timeout(60_000);
  let dynamo: TestDynamo;
  let tableName: string;
  const end = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const start = end - 3 * 3_600_000;
  const frame = (ts: number, data: Record<string, unknown>, id: string): TelemetryFrame => ({ type: 'telemetry', id, deviceId: 'dev-csv', ts, receivedAt: ts, data });

  before(async () => {
    dynamo = await startDynamo();
    const { logicalId: _id, ...definition } = tableDefinitions().find((t) => t.logicalId === 'HistoryTable')!;
    tableName = `HistoryTable-export-${process.pid}`;
    await dynamo.client.send(new CreateTableCommand({ ...(definition as object), TableName: tableName } as never));
    await waitUntilTableExists({ client: dynamo.client, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 } as never, { TableName: tableName });
    const writer = createHistoryWriter({ doc: dynamo.doc, tableName, retentionDays: 7 });
    // 3 hours, one reading a minute; one with awkward text and field names.
    const readings = Array.from({ length: 180 }, (_, i) => frame(start + i * 60_000, { x: i, y: -i, label: i === 5 ? 'a, "quoted"\nline' : 'ok' }, `r${i}`));
    readings.push(frame(start + 5 * 60_000 + 1, JSON.parse('{"x": 1000, "__proto__": 7, "time": 3}'), 'odd'));
    await writer.record(readings);
  });

  after(async () => {
    await dynamo?.stop();
  });

  const run = async (since: number, until: number, maxRawReadings?: number) => {
    let csv = '';
    const progress: string[] = [];
    const outcome = await exportHistory({
      history: createHistoryStore({ doc: dynamo.doc, tableName }),
      deviceId: 'dev-csv',
      since,
      until,
      write: async (chunk) => void (csv += chunk),
      progress: (line) => progress.push(line),
      ...(maxRawReadings ? { maxRawReadings } : {}),
    });
    return { csv, outcome, progress, lines: csv.split('\r\n').slice(0, -1) };
  };

  it('exports raw readings when the window holds at most the limit: a header first, resolution raw, quoted text, any field name', async () => {
    const { outcome, lines, csv } = await run(start, end - 1);
    expect(outcome).to.deep.equal({ resolution: 'raw', rows: 181, readings: 181 });
    // A field named like a fixed column gets its own: data.time.
    expect(lines[0]).to.equal('resolution,time,ts,id,x,y,label,__proto__,data.time,other');
    expect(lines[1]).to.equal(`raw,${new Date(start).toISOString()},${start},r0,0,0,ok,,,`);
    expect(csv).to.include(`r5,5,-5,"a, ""quoted""\nline",,,`);
    expect(csv).to.include(`odd,1000,,,7,3,\r\n`);
  });

  it('exports rollup rows (min, max, mean, last, count per field) past the limit, and says so in every row', async () => {
    // Two hours: 121 readings, over a limit of 120; 120 minute rows are within it.
    const { outcome, lines, progress } = await run(start, start + 2 * 3_600_000 - 1, 120);
    expect(outcome).to.deep.include({ resolution: '1m', rows: 120, readings: 121 });
    expect(lines[0]!.split(',').slice(0, 4)).to.deep.equal(['resolution', 'time', 'ts', 'count']);
    expect(lines[0]).to.include('x_min,x_max,x_mean,x_last');
    expect(lines[0]).to.include('__proto___min');
    const header = lines[0]!.split(',');
    const minute5 = lines.find((l) => l.includes(`,${start + 5 * 60_000},`))!.split(',');
    const at = (name: string) => minute5[header.indexOf(name)];
    expect(at('resolution')).to.equal('1m');
    expect(at('count')).to.equal('2');
    expect([at('x_min'), at('x_max'), at('x_mean'), at('x_last')]).to.deep.equal(['5', '1000', '502.5', '1000']);
    expect(progress.join('\n')).to.include('exporting 1m rollups');
  });

  it('runs as npm run export against the local stack in .local-stack.json: CSV on stdout, progress on stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'export-'));
    try {
      const stateFile = join(dir, 'state.json');
      const state = { pid: process.pid, startedAt: new Date().toISOString(), urls: {}, endpoints: { dynamodb: dynamo.endpoint, management: '', websocket: '', mqtt: '' }, tableName: 'x', tables: { HistoryTable: tableName } };
      await writeFile(stateFile, JSON.stringify(state));
      const script = runScript('scripts/export.ts', ['--device', 'dev-csv', '--from', new Date(start).toISOString(), '--to', new Date(end - 1).toISOString()], { LOCAL_STACK_STATE_FILE: stateFile });
      const { code } = await script.exited;
      expect(code, script.stderr.join('\n')).to.equal(0);
      expect(script.stdout[0]).to.equal('resolution,time,ts,id,x,y,label,__proto__,data.time,other\r');
      expect(script.stdout.filter((l) => l.startsWith('raw,'))).to.have.length(181);
      expect(script.stderr.join('\n')).to.match(/export: 181 readings in/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
