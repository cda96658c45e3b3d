/**
 * Nothing lost silently, locally: a reading whose invocation fails every
 * attempt (FAULTS=invoke:crash:1) lands in the dead-letter queue as Lambda's
 * invocation record; `npm run redrive -- --local` replays it through the
 * telemetry function, and the dashboard, which drops repeats by id, shows it
 * exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { RecentIds } from '../../dashboard/src/dedup.js';
import { writeStackState } from '../../local/stack/stateFile.js';
import { runScript } from '../helpers/childProcess.js';
import { type TestStack, connectDevice, startTestStack } from '../helpers/localStack.js';
import { type TestClient, connectClient } from '../helpers/wsClient.js';
import { waitFor } from '../helpers/waitFor.js';

describe('local stack: a failed reading goes to the dead-letter queue, and npm run redrive delivers it exactly once', function () {
  this.timeout(60_000);
  let stack: TestStack;
  let client: TestClient;
  let device: MqttClient;
  let dir: string;
  let stateFile: string;

  before(async () => {
    // The invoke edge wired with no faults yet: the client connects first.
    stack = await startTestStack({ auth: false, faults: 'invoke:crash:0', faultsSeed: 12 });
    client = await connectClient(`${stack.urls.websocket}?devices=dev-r`);
    await waitFor(() => stack.connections().length === 1, { message: 'the client connected' });
    device = await connectDevice(stack.urls.mqtt, 'redrive-device');
    dir = mkdtempSync(join(tmpdir(), 'sid-redrive-'));
    stateFile = join(dir, 'local-stack.json');
    writeStackState(
      { pid: process.pid, startedAt: new Date().toISOString(), urls: stack.urls, endpoints: stack.endpoints, queues: stack.queues, tableName: stack.tableName, tables: stack.tables },
      stateFile,
    );
  });

  after(async () => {
    await device?.endAsync();
    await client?.close();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const deadLetters = () => stack.sqs.counts(stack.queues.DeadLetterQueue as string);
  const redrive = async (...args: string[]) => {
    const run = runScript('scripts/redrive.ts', ['--local', ...args], { LOCAL_STACK_STATE_FILE: stateFile });
    const { code } = await run.exited;
    return { code, out: run.stdout.join('\n'), err: run.stderr.join('\n') };
  };
  const telemetry = () => client.frames.filter((frame) => frame.type === 'telemetry' && frame.deviceId === 'dev-r');

  it('puts the invocation record in the queue once Lambda has given up (three attempts)', async () => {
    stack.faults!.set('invoke:crash:1');
    await device.publishAsync('devices/dev-r/telemetry', JSON.stringify({ ts: 1764057600000, temperature: 21.5, seq: 1 }));
    await waitFor(() => deadLetters().visible === 1, { timeoutMs: 15_000, message: 'a dead letter' });
    await stack.settled();
    stack.faults!.set('invoke:crash:0');

    const [message] = (await stack.sqs.receiveMessage({ QueueUrl: stack.queues.DeadLetterQueue as string, VisibilityTimeout: 0 })).Messages ?? [];
    const record = JSON.parse(message!.Body);
    expect(record.requestContext).to.include({ condition: 'RetriesExhausted', approximateInvokeCount: 3 });
    expect(record.requestContext.functionArn).to.match(/:function:[\w-]*TelemetryFunction:\$LATEST$/);
    expect(record.requestPayload).to.include({ deviceId: 'dev-r', seq: 1, temperature: 21.5 });
    expect(record.responsePayload.errorType).to.be.a('string');
    expect(stack.lines.some((line) => /TelemetryFunction: failed 3 times; its event is in/.test(line))).to.equal(true);
  });

  it('lists what it would replay on --dry-run, and leaves the queue as it was', async () => {
    const { code, out } = await redrive('--dry-run');
    expect(code, out).to.equal(0);
    expect(out).to.match(/would replay .*TelemetryFunction: invocation record \(3 attempts/);
    expect(out).to.match(/redrive \(dry run\): 1 message\(s\) read, would replay 1/);
    expect(deadLetters()).to.deep.equal({ visible: 1, inFlight: 0, delayed: 0 });
  });

  it('replays it through the telemetry function, empties the queue, and the client shows the reading exactly once', async () => {
    const before = telemetry().length;
    const { code, out } = await redrive();
    expect(code, out).to.equal(0);
    expect(out).to.match(/replayed 1 \(local-TelemetryFunction 1\), 0 failed again/);
    expect(deadLetters()).to.deep.equal({ visible: 0, inFlight: 0, delayed: 0 });

    await waitFor(() => telemetry().length > before, { message: 'the redriven reading reached the client' });
    await client.none((frame) => frame.type === 'telemetry' && telemetry().length > before + 1, 300);
    const frames = telemetry();
    // A crash may have come after a delivery: every copy has the same id, so the dashboard keeps one.
    expect(new Set(frames.map((frame) => frame.id)).size).to.equal(1);
    const seen = new RecentIds();
    expect(frames.filter((frame) => seen.admit(frame.id)).map((frame) => frame.data.seq)).to.deep.equal([1]);
  });

  it('finds nothing to do on a second run', async () => {
    const { code, out } = await redrive();
    expect(code, out).to.equal(0);
    expect(out).to.match(/0 message\(s\) read, replayed 0/);
  });
});
