/**
 * A history write that fails is not lost (issue 24, defect 5): with every request to the history table throttled,
 * the telemetry function (after the SDK's own retries) queues the readings in the dead-letter queue as a
 * `history-write` dead letter (DeadLetterQueueAlarm watches its depth) and still delivers them live; once the
 * throttle lifts, `npm run redrive -- --local` writes them through the history writer, and `history` serves them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { writeStackState } from '../../local/stack/stateFile.js';
import { runScript } from '../helpers/childProcess.js';
import { type TestStack, connectDevice, scanTable, startTestStack } from '../helpers/localStack.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';
import { waitFor } from '../helpers/waitFor.js';

describe('local stack: a throttled history write reaches the dead-letter queue, and npm run redrive stores it', function () {
  // A stack start, the SDK's own retries of the throttled writes, and redrive child processes: room for a loaded machine.
  this.timeout(120_000);
  let stack: TestStack;
  let device: MqttClient;
  let dashboard: TestClient | undefined;
  let dir: string;
  let stateFile: string;
  const t0 = Date.now() - 60_000;
  const deviceId = 'hist-dlq';
  let firstBodies: string[] = [];

  before(async function () {
    this.timeout(60_000);
    // Only the history table is throttled: the fan-out's lookups and the latest reading go through.
    stack = await startTestStack({ auth: true, faults: 'dynamodb@HistoryTable:throttle:1', faultsSeed: 24 });
    device = await connectDevice(stack.urls.mqtt, 'hist-dlq-device');
    dir = mkdtempSync(join(tmpdir(), 'sid-history-dlq-'));
    stateFile = join(dir, 'local-stack.json');
    writeStackState(
      { pid: process.pid, startedAt: new Date().toISOString(), urls: stack.urls, endpoints: stack.endpoints, queues: stack.queues, tableName: stack.tableName, tables: stack.tables },
      stateFile,
    );
  });

  after(async () => {
    await dashboard?.close();
    await device?.endAsync();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The dead-letter queue's history-write messages (left visible: VisibilityTimeout 0). */
  const historyLetters = async () => {
    const { Messages = [] } = await stack.sqs.receiveMessage({ QueueUrl: stack.queues.DeadLetterQueue as string, MaxNumberOfMessages: 10, VisibilityTimeout: 0 });
    return Messages.filter((m) => JSON.parse(m.Body).kind === 'history-write');
  };
  const readingsIn = (bodies: string[]) => bodies.flatMap((b) => JSON.parse(b).readings as Frame[]);
  const rawItems = async () => (await scanTable(stack.urls.dynamodb, stack.tables.HistoryTable!)).filter((item) => (item.pk as { S: string }).S === deviceId);

  const redriveLocal = async () => {
    const run = runScript('scripts/redrive.ts', ['--local'], { LOCAL_STACK_STATE_FILE: stateFile });
    const { code } = await run.exited;
    const out = run.stdout.join('\n');
    expect(code, `${out}\n${run.stderr.join('\n')}`).to.equal(0);
    return out;
  };

  it('delivers the readings live, and queues them with their ids as history-write dead letters instead of losing them', async () => {
    dashboard = await connectClient(`${stack.urls.websocket}?token=${stack.devToken}`);
    dashboard.send({ action: 'subscribe', devices: [deviceId] });
    await dashboard.next((f) => f.type === 'subscribed');
    for (let i = 1; i <= 3; i++) await device.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ts: t0 + i * 1000, seq: i, temperature: 20 + i }), { qos: 1 });

    const live: Frame[] = [];
    for (let i = 0; i < 3; i++) live.push(await dashboard.next((f) => f.type === 'telemetry' && f.deviceId === deviceId));
    const letters = await waitFor(
      async () => {
        const found = await historyLetters();
        return readingsIn(found.map((m) => m.Body)).length >= 3 ? found : undefined;
      },
      { timeoutMs: 60_000, message: 'three readings in history-write dead letters' },
    );
    await stack.settled();

    firstBodies = letters.map((m) => m.Body);
    const queued = readingsIn(firstBodies);
    expect(queued.map((r) => r.data.seq).sort()).to.deep.equal([1, 2, 3]);
    expect(queued.map((r) => r.id).sort(), 'the ids the dashboards received').to.deep.equal(live.map((f) => f.id).sort());
    for (const body of firstBodies) expect(JSON.parse(body).error).to.match(/ProvisionedThroughputExceededException/);
    expect(stack.faults!.stats()['dynamodb:throttle'] ?? 0, 'the history writes were throttled').to.be.greaterThan(0);
    expect(await rawItems()).to.have.length(0);
    // Delivered once each: the invocation succeeded, nothing was retried.
    expect(dashboard.frames.filter((f) => f.type === 'telemetry' && f.deviceId === deviceId)).to.have.length(3);
  });

  it('stores them on npm run redrive once the throttle lifts, empties the queue of them, and history serves them', async () => {
    stack.faults!.set('dynamodb@HistoryTable:throttle:0');
    const out = await redriveLocal();
    expect(out).to.match(/replayed history table: history write of 1 reading/);

    const items = await rawItems();
    expect(items).to.have.length(3);
    expect(await historyLetters()).to.have.length(0);

    dashboard!.send({ action: 'history', deviceId, since: t0, until: t0 + 10_000, requestId: 'after-redrive' });
    const frames: Frame[] = [];
    for (;;) {
      const frame = await dashboard!.next((f) => f.requestId === 'after-redrive' && (f.type === 'history' || f.type === 'error'));
      frames.push(frame);
      if (frame.type === 'error' || frame.done === true) break;
    }
    expect(frames.at(-1)).to.include({ type: 'history', done: true });
    expect(frames.flatMap((f) => f.points).map((p: Frame) => p.data.seq)).to.deep.equal([1, 2, 3]);
  });

  it('changes nothing when the same dead letters are replayed again (same reading id, same item; buckets recomputed)', async () => {
    const before = await scanTable(stack.urls.dynamodb, stack.tables.HistoryTable!);
    for (const body of firstBodies) await stack.sqs.sendMessage({ QueueUrl: stack.queues.DeadLetterQueue as string, MessageBody: body });

    await redriveLocal();

    const after = await scanTable(stack.urls.dynamodb, stack.tables.HistoryTable!);
    const key = (item: Record<string, unknown>) => `${(item.pk as { S: string }).S} ${(item.sk as { S: string }).S}`;
    expect(after.map(key).sort()).to.deep.equal(before.map(key).sort());
    const buckets = after.filter((item) => (item.pk as { S: string }).S === `${deviceId}#1m`);
    expect(buckets.length).to.be.at.least(1);
    expect(buckets.reduce((n, item) => n + Number((item.n as { N: string }).N), 0), 'each reading counted once').to.equal(3);
    expect(await historyLetters()).to.have.length(0);
  });
});

describe('local stack, FanoutMode=coalesced: the batch function dead-letters a throttled history write too', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let device: MqttClient;
  let dir: string;
  let stateFile: string;
  const t0 = Date.now() - 60_000;
  const deviceId = 'hist-dlq-batch';

  before(async function () {
    this.timeout(60_000);
    stack = await startTestStack({
      auth: false,
      parameterOverrides: { FanoutMode: 'coalesced', MaximumBatchingWindowInSeconds: '1' },
      faults: 'dynamodb@HistoryTable:throttle:1',
      faultsSeed: 24,
    });
    device = await connectDevice(stack.urls.mqtt, 'hist-dlq-batch-device');
    dir = mkdtempSync(join(tmpdir(), 'sid-history-dlq-batch-'));
    stateFile = join(dir, 'local-stack.json');
    writeStackState(
      { pid: process.pid, startedAt: new Date().toISOString(), urls: stack.urls, endpoints: stack.endpoints, queues: stack.queues, tableName: stack.tableName, tables: stack.tables },
      stateFile,
    );
  });

  after(async () => {
    await device?.endAsync();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('queues the batch\'s readings, leaves nothing for redelivery, and npm run redrive stores them', async () => {
    for (let i = 1; i <= 3; i++) await device.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ts: t0 + i * 1000, seq: i }), { qos: 1 });
    const bodies = await waitFor(
      async () => {
        const { Messages = [] } = await stack.sqs.receiveMessage({ QueueUrl: stack.queues.DeadLetterQueue as string, MaxNumberOfMessages: 10, VisibilityTimeout: 0 });
        const found = Messages.map((m) => m.Body).filter((b) => JSON.parse(b).kind === 'history-write');
        return found.flatMap((b) => JSON.parse(b).readings).length >= 3 ? found : undefined;
      },
      { timeoutMs: 60_000, message: "the batch's readings in history-write dead letters" },
    );
    await stack.settled();
    // The event source mapping deletes the batch once its function has returned, which settled() does not wait for.
    await waitFor(() => stack.sqs.counts(stack.queues.TelemetryQueue as string).inFlight === 0, { message: 'the batch deleted from the telemetry queue' });
    expect(bodies.flatMap((b) => JSON.parse(b).readings.map((r: Frame) => r.data.seq)).sort()).to.deep.equal([1, 2, 3]);
    // The batch succeeded: no reading went back to the telemetry queue, or on to its dead-letter queue.
    expect(stack.sqs.counts(stack.queues.TelemetryQueue as string)).to.deep.include({ visible: 0, inFlight: 0 });
    expect(stack.sqs.counts(stack.queues.TelemetryDeadLetterQueue as string)).to.deep.include({ visible: 0 });

    stack.faults!.set('dynamodb@HistoryTable:throttle:0');
    const run = runScript('scripts/redrive.ts', ['--local'], { LOCAL_STACK_STATE_FILE: stateFile });
    const { code } = await run.exited;
    expect(code, `${run.stdout.join('\n')}\n${run.stderr.join('\n')}`).to.equal(0);
    const raw = (await scanTable(stack.urls.dynamodb, stack.tables.HistoryTable!)).filter((item) => (item.pk as { S: string }).S === deviceId);
    expect(raw).to.have.length(3);
  });
});
