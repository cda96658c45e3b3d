/**
 * A failed history write is dead-lettered, not lost and not retried (issue 24, defect 5): the sender's message
 * shape and its 256 KiB split, and the telemetry and batch functions' wiring, with fake clients.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import {
  type Counter,
  type DeadLetterClient,
  type HandOn,
  type TelemetryFrame,
  createHistoryDeadLetters,
  createHistoryWriter,
  createTelemetryBatchHandler,
  createTelemetryHandler,
  historyDeadLetterBodies,
  readHistoryDeadLetter,
} from '@serverless-iot-dashboard/shared';
import { lambdaContext, loadEvent } from '../../helpers/events.js';

const silentLog = () => ({ debug: sinon.spy(), info: sinon.spy(), warn: sinon.spy(), error: sinon.spy() });
const throttled = () => Object.assign(new Error('The level of configured provisioned throughput for the table was exceeded.'), { name: 'ProvisionedThroughputExceededException' });

const reading = (i: number, data: Record<string, unknown> = { temperature: 20 + i }): TelemetryFrame => ({
  type: 'telemetry',
  id: `r-${i}`,
  deviceId: `dev-${i % 3}`,
  ts: 1_764_057_600_000 + i,
  receivedAt: 1_764_057_600_050 + i,
  data,
});

/** A fake SQS: records each message body, or fails as told. */
const fakeQueue = (fail?: () => Error | undefined) => {
  const bodies: string[] = [];
  const client: DeadLetterClient & { calls: { QueueUrl: string; MessageBody: string }[] } = {
    calls: [],
    async sendMessage(input) {
      client.calls.push(input);
      const error = fail?.();
      if (error) throw error;
      bodies.push(input.MessageBody);
      return { MessageId: `m-${bodies.length}` };
    },
  };
  return { client, bodies, letters: () => bodies.map((b) => readHistoryDeadLetter(JSON.parse(b))) };
};

const countingCounter = () => {
  const counts: Record<string, number> = {};
  const counter: Counter = { count: (name, value) => void (counts[name] = (counts[name] ?? 0) + value) };
  return { counter, counts };
};

/** A hand-on that delivers to one recipient at once (the fan-out is not what these specs look at). */
const deliveredHandOn = () => ({ run: sinon.stub().resolves({ recipients: 1, delivered: 1, gone: 0, failed: 0, retried: 0 }) }) as unknown as HandOn & { run: sinon.SinonStub };

describe('history dead letters: the message, and the sender', () => {
  it('queues a failed write as one history-write message that carries its readings and the error', async () => {
    const queue = fakeQueue();
    const sender = createHistoryDeadLetters({ client: queue.client, queueUrl: 'https://sqs.example/123/dlq', now: () => 42 });

    const sent = await sender.send([reading(1), reading(2)], throttled());

    expect(sent).to.equal(1);
    expect(queue.client.calls[0]!.QueueUrl).to.equal('https://sqs.example/123/dlq');
    expect(JSON.parse(queue.bodies[0]!)).to.deep.equal({
      kind: 'history-write',
      readings: [reading(1), reading(2)],
      error: 'ProvisionedThroughputExceededException: The level of configured provisioned throughput for the table was exceeded.',
      failedAt: 42,
    });
  });

  it('splits a batch past the SQS message size into messages that each fit, with every reading once and in order', () => {
    // 300 readings of about 2 KB: about 600 KB, so three messages at 256 KiB.
    const readings = Array.from({ length: 300 }, (_, i) => reading(i, { blob: 'x'.repeat(2000), i }));
    const bodies = historyDeadLetterBodies(readings, 'E: e', { failedAt: 1 });

    expect(bodies.length).to.equal(3);
    for (const body of bodies) expect(Buffer.byteLength(body)).to.be.at.most(256 * 1024);
    const back = bodies.flatMap((b) => (readHistoryDeadLetter(JSON.parse(b)) as { readings: TelemetryFrame[] }).readings);
    expect(back.map((r) => r.id)).to.deep.equal(readings.map((r) => r.id));
  });

  it('keeps a multi-byte reading whole at the boundary (the limit counts bytes, not characters)', () => {
    const readings = Array.from({ length: 10 }, (_, i) => reading(i, { text: '€'.repeat(300) }));
    const bodies = historyDeadLetterBodies(readings, 'E: e', { failedAt: 1, maxBytes: 3000 });

    expect(bodies.length).to.be.greaterThan(1);
    for (const body of bodies) expect(Buffer.byteLength(body)).to.be.at.most(3000);
    expect(bodies.flatMap((b) => JSON.parse(b).readings.map((r: TelemetryFrame) => r.id))).to.deep.equal(readings.map((r) => r.id));
  });

  it('rejects when a message could not be sent, saying how many were', async () => {
    let n = 0;
    const queue = fakeQueue(() => (++n === 2 ? Object.assign(new Error('denied'), { name: 'AccessDenied' }) : undefined));
    const sender = createHistoryDeadLetters({ client: queue.client, queueUrl: 'q', maxBytes: 400 });

    const error = await sender.send([reading(1), reading(2), reading(3)], throttled()).then(
      () => undefined,
      (e: Error) => e,
    );

    expect(error?.name).to.equal('DeadLetterNotSent');
    expect(error?.message).to.match(/1 of 3 dead letter\(s\) not sent: AccessDenied: denied/);
  });

  it("writes the fixture's message (events/dead-letter-history-write.json) for events/telemetry.json's reading", async () => {
    const fixture = loadEvent('dead-letter-history-write') as { readings: TelemetryFrame[]; error: string; failedAt: number };
    const queue = fakeQueue();
    const handler = createTelemetryHandler({
      handOn: deliveredHandOn(),
      log: silentLog(),
      counter: countingCounter().counter,
      history: { record: sinon.stub().rejects(throttled()) },
      historyDeadLetters: createHistoryDeadLetters({ client: queue.client, queueUrl: 'dlq', now: () => fixture.failedAt }),
    });

    await handler(loadEvent('telemetry'), lambdaContext());

    expect(JSON.parse(queue.bodies[0]!)).to.deep.equal({ ...fixture, error: `ProvisionedThroughputExceededException: ${throttled().message}` });
    expect(readHistoryDeadLetter(fixture)).to.deep.include({ kind: 'history-write', readings: fixture.readings });
  });

  it('reads only its own kind, and refuses one whose readings are not telemetry frames', () => {
    expect(readHistoryDeadLetter({ version: '1.0', requestContext: {} })).to.equal(undefined);
    expect(readHistoryDeadLetter({ kind: 'history-write', readings: [] })).to.have.property('invalid');
    expect(readHistoryDeadLetter({ kind: 'history-write', readings: [{ id: 'x' }] })).to.have.property('invalid');
  });
});

describe('history dead letters: the telemetry function (direct mode)', () => {
  it('queues the reading when the history write fails, counts HistoryWriteFailed, and still succeeds', async () => {
    const queue = fakeQueue();
    const { counter, counts } = countingCounter();
    const history = { record: sinon.stub().rejects(throttled()) };
    const handOn = deliveredHandOn();
    const handler = createTelemetryHandler({
      handOn,
      log: silentLog(),
      counter,
      history,
      historyDeadLetters: createHistoryDeadLetters({ client: queue.client, queueUrl: 'dlq' }),
    });

    const outcome = await handler(loadEvent('telemetry'), lambdaContext());

    expect(outcome.status).to.equal('delivered');
    expect(handOn.run.callCount, 'delivered once, not retried').to.equal(1);
    const [letter] = queue.letters();
    expect(letter).to.deep.include({ kind: 'history-write' });
    expect((letter as { readings: TelemetryFrame[] }).readings).to.deep.equal(history.record.firstCall.args[0]);
    expect((letter as { readings: TelemetryFrame[] }).readings[0]!.id).to.equal(outcome.id);
    expect(counts).to.include({ HistoryWriteFailed: 1, HistoryDeadLetters: 1 });
  });

  it('logs the reading ids and counts HistoryDeadLetterFailed when the dead-letter queue refuses too, and still succeeds', async () => {
    const queue = fakeQueue(() => Object.assign(new Error('down'), { name: 'ServiceUnavailable' }));
    const { counter, counts } = countingCounter();
    const log = silentLog();
    const handler = createTelemetryHandler({
      handOn: deliveredHandOn(),
      log,
      counter,
      history: { record: sinon.stub().rejects(throttled()) },
      historyDeadLetters: createHistoryDeadLetters({ client: queue.client, queueUrl: 'dlq' }),
    });

    const outcome = await handler(loadEvent('telemetry'), lambdaContext());

    expect(outcome.status).to.equal('delivered');
    expect(counts).to.include({ HistoryWriteFailed: 1, HistoryDeadLetterFailed: 1 });
    const logged = log.error.getCalls().find((c) => /nor queue them/.test(c.args[0] as string));
    expect(logged?.args[1]).to.deep.include({ ids: [outcome.id] });
  });

  it('queues nothing when the history write succeeds', async () => {
    const queue = fakeQueue();
    const { counter, counts } = countingCounter();
    const handler = createTelemetryHandler({
      handOn: deliveredHandOn(),
      log: silentLog(),
      counter,
      history: { record: sinon.stub().resolves({ readings: 1, buckets: 3, superseded: 0 }) },
      historyDeadLetters: createHistoryDeadLetters({ client: queue.client, queueUrl: 'dlq' }),
    });

    await handler(loadEvent('telemetry'), lambdaContext());

    expect(queue.client.calls).to.have.length(0);
    expect(counts.HistoryWriteFailed ?? 0).to.equal(0);
  });
});

describe('history dead letters: the batch function (coalesced mode)', () => {
  const setup = (history: { record: sinon.SinonStub }, queue: ReturnType<typeof fakeQueue>, counter: Counter) =>
    createTelemetryBatchHandler({
      lookup: async (deviceIds) => ({ recipients: new Map(deviceIds.map((d) => [d, ['c1']])), requests: 1, readUnits: 1, refreshed: 0 }),
      store: { removeConnection: sinon.stub().resolves() },
      post: sinon.stub().resolves() as never,
      log: silentLog(),
      counter,
      history,
      historyDeadLetters: createHistoryDeadLetters({ client: queue.client, queueUrl: 'dlq' }),
    });

  it('queues every reading of the batch when its history write fails, and reports no item failure (no redelivery)', async () => {
    const queue = fakeQueue();
    const { counter, counts } = countingCounter();
    const history = { record: sinon.stub().rejects(throttled()) };
    const handler = setup(history, queue, counter);
    const event = loadEvent('telemetry-batch');

    const response = await handler(event, lambdaContext());

    expect(response).to.deep.equal({ batchItemFailures: [] });
    const queued = queue.letters().flatMap((l) => (l as { readings: TelemetryFrame[] }).readings);
    expect(queued).to.deep.equal(history.record.firstCall.args[0]);
    expect(queued.map((r) => r.deviceId).sort()).to.deep.equal(['dev-1', 'dev-1', 'dev-2']);
    expect(counts).to.include({ HistoryWriteFailed: 1 });
  });

  it('still succeeds when the dead-letter queue refuses too', async () => {
    const queue = fakeQueue(() => new Error('down'));
    const { counter, counts } = countingCounter();
    const handler = setup({ record: sinon.stub().rejects(throttled()) }, queue, counter);

    const response = await handler(loadEvent('telemetry-batch'), lambdaContext());

    expect(response).to.deep.equal({ batchItemFailures: [] });
    expect(counts).to.include({ HistoryWriteFailed: 1, HistoryDeadLetterFailed: 1 });
  });
});

describe('history writer: unprocessed raw readings go through the shared batch loop', () => {
  it('sends back what BatchWriteItem left unprocessed, then rejects after maxBatchAttempts calls', async () => {
    const sent: number[] = [];
    const doc = {
      send: sinon.spy(async (command: { constructor: { name: string }; input: any }) => {
        if (command.constructor.name !== 'BatchWriteCommand') throw new Error('not reached');
        const requests = command.input.RequestItems.history as unknown[];
        sent.push(requests.length);
        // Leaves one request unprocessed every time.
        return { UnprocessedItems: { history: requests.slice(0, 1) }, ConsumedCapacity: [{ CapacityUnits: requests.length - 1 }] };
      }),
    };
    const writer = createHistoryWriter({ doc: doc as never, tableName: 'history', retentionDays: 7, maxBatchAttempts: 3 });

    const error = await writer.record([reading(1), reading(2)]).then(
      () => undefined,
      (e: Error) => e,
    );

    expect(sent).to.deep.equal([2, 1, 1]);
    expect(error?.message).to.match(/left 1 items unprocessed after 3 attempts/);
    expect(writer.usage.writeUnits).to.equal(1);
  });
});
