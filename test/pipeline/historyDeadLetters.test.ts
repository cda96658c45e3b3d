/**
 * A history write that fails is not lost: HistoryRule's error action republishes the error (with the original
 * payload) to the errors rule, which queues it in the dead-letter queue (DeadLetterQueueAlarm watches its depth);
 * `npm run redrive -- --local` then puts the reading into the history table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { writeStackState } from '../../local/stack/stateFile.js';
import { runScript } from '../helpers/childProcess.js';
import { type TestStack, connectDevice, scanTable, startTestStack } from '../helpers/localStack.js';
import { waitFor } from '../helpers/waitFor.js';

describe('local stack: a throttled history write reaches the dead-letter queue, and npm run redrive stores it', function () {
  // A stack start, the SDK's own retries of the throttled write, and a redrive child process: room for a loaded machine.
  this.timeout(90_000);
  let stack: TestStack;
  let device: MqttClient;
  let dir: string;
  let stateFile: string;
  const ts = 1_764_057_600_000;

  before(async () => {
    // The DynamoDB edge wired with no faults yet (seeded: the same draws every run).
    stack = await startTestStack({ auth: false, faults: 'dynamodb:throttle:0', faultsSeed: 24 });
    device = await connectDevice(stack.urls.mqtt, 'hist-dlq');
    dir = mkdtempSync(join(tmpdir(), 'sid-history-dlq-'));
    stateFile = join(dir, 'local-stack.json');
    writeStackState(
      { pid: process.pid, startedAt: new Date().toISOString(), urls: stack.urls, endpoints: stack.endpoints, queues: stack.queues, tableName: stack.tableName, tables: stack.tables },
      stateFile,
    );
  });

  after(async () => {
    await device?.endAsync();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The dead-letter queue's messages that are HistoryRule's failed writes (a failed telemetry invocation may sit beside them). */
  const historyErrors = async () => {
    const { Messages = [] } = await stack.sqs.receiveMessage({ QueueUrl: stack.queues.DeadLetterQueue as string, MaxNumberOfMessages: 10, VisibilityTimeout: 0 });
    return Messages.map((m) => JSON.parse(m.Body)).filter((doc) => doc.failures?.some((f: { failedAction?: string }) => f.failedAction === 'DynamoDBv2Action'));
  };

  it("queues the failed write with the original payload, through HistoryRule's error action", async () => {
    stack.faults!.set('dynamodb:throttle:1');
    await device.publishAsync('devices/hist-dlq/telemetry', JSON.stringify({ ts, temperature: 21.5, seq: 1 }));
    await waitFor(() => stack.iotStats.errorActions >= 1, { timeoutMs: 30_000, message: "HistoryRule's error action" });
    stack.faults!.set('dynamodb:throttle:0');
    await stack.settled();

    const [doc, ...more] = await waitFor(async () => {
      const docs = await historyErrors();
      return docs.length > 0 ? docs : undefined;
    }, { timeoutMs: 10_000, message: 'the failed write in the dead-letter queue' });
    expect(more).to.have.length(0);
    expect(doc.topic).to.equal('devices/hist-dlq/telemetry');
    expect(JSON.parse(Buffer.from(doc.base64OriginalPayload, 'base64').toString('utf8'))).to.deep.equal({ ts, temperature: 21.5, seq: 1 });
    expect(doc.failures[0].failedResource).to.equal(stack.tables.HistoryTable);
    expect(await scanTable(stack.urls.dynamodb, stack.tables.HistoryTable!)).to.have.length(0);
  });

  it('puts the reading into the history table on npm run redrive, and empties the queue of it', async () => {
    const run = runScript('scripts/redrive.ts', ['--local'], { LOCAL_STACK_STATE_FILE: stateFile });
    const { code } = await run.exited;
    const out = run.stdout.join('\n');
    expect(code, `${out}\n${run.stderr.join('\n')}`).to.equal(0);
    expect(out).to.match(/replayed .*failed write of .* on devices\/hist-dlq\/telemetry/);

    const items = await scanTable(stack.urls.dynamodb, stack.tables.HistoryTable!);
    expect(items).to.have.length(1);
    expect(items[0]).to.deep.include({ deviceId: { S: 'hist-dlq' }, ts: { N: String(ts) }, seq: { N: '1' } });
    expect(await historyErrors()).to.have.length(0);
  });
});
