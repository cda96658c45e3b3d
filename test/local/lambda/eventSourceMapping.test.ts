/**
 * Lambda's SQS event source mapping, locally, against the in-process queue
 * (local/sqs) and a fake function, checked against what the Lambda developer
 * guide documents: batching, the batching window, visibility timeout and
 * retries, partial batch responses, and redrive to a dead-letter queue.
 */
import { expect } from 'chai';
import {
  type SqsEventRecord,
  type SqsEventSourceMapping,
  type SqsEventSourceMappingSpec,
  messagesToDelete,
  startSqsEventSourceMapping,
  validateSqsMapping,
} from '../../../local/lambda/eventSourceMapping.js';
import { type Sqs, createSqs } from '../../../local/sqs/queue.js';
import { parameterOverridesFromArgs, parameterOverridesFromEnv, parseParameterOverrides } from '../../../local/template/parameterOverrides.js';
import { buildStackModel } from '../../../local/template/stackModel.js';
import { sleep, waitFor } from '../../helpers/waitFor.js';

const baseSpec = (queueUrl: string, overrides: Partial<SqsEventSourceMappingSpec> = {}): SqsEventSourceMappingSpec => ({
  logicalId: 'Mapping',
  functionId: 'Fn',
  queueUrl,
  queueArn: 'arn:aws:sqs:us-east-1:000000000000:source',
  batchSize: 10,
  maximumBatchingWindowInSeconds: 0,
  reportBatchItemFailures: true,
  enabled: true,
  ...overrides,
});

describe('local Lambda: SQS event source mapping', function () {
  this.timeout(30_000);
  let sqs: Sqs;
  let mapping: SqsEventSourceMapping | undefined;
  let source: string;
  let deadLetters: string;
  let batches: { records: SqsEventRecord[]; at: number }[];

  const send = (count: number, prefix = 'm') => {
    for (let i = 0; i < count; i++) sqs.sendMessage({ QueueUrl: source, MessageBody: `${prefix}-${i}` });
  };

  const start = (overrides: Partial<SqsEventSourceMappingSpec>, respond: (records: SqsEventRecord[]) => unknown = () => ({ batchItemFailures: [] }), concurrency = 1) => {
    mapping = startSqsEventSourceMapping({
      spec: baseSpec(source, overrides),
      queue: sqs,
      region: 'us-east-1',
      log: () => undefined,
      concurrency,
      invoke: async ({ Records }) => {
        batches.push({ records: Records, at: performance.now() });
        return respond(Records);
      },
    });
  };

  beforeEach(() => {
    sqs = createSqs();
    deadLetters = sqs.createQueue({ QueueName: 'dead-letters' }).QueueUrl;
    source = sqs.createQueue({
      QueueName: 'source',
      Attributes: { VisibilityTimeout: '1', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:dead-letters', maxReceiveCount: 2 }) },
    }).QueueUrl;
    batches = [];
  });

  afterEach(async () => {
    const stopping = mapping?.stop();
    sqs.close();
    await stopping;
    await mapping?.finished();
    mapping = undefined;
  });

  it('refuses what CreateEventSourceMapping refuses: BatchSize over 10 without a window, out-of-range values', () => {
    expect(() => validateSqsMapping(baseSpec('q', { batchSize: 11 }))).to.throw(/at least 1/);
    expect(() => validateSqsMapping(baseSpec('q', { batchSize: 10_001, maximumBatchingWindowInSeconds: 1 }))).to.throw(/BatchSize/);
    expect(() => validateSqsMapping(baseSpec('q', { maximumBatchingWindowInSeconds: 301 }))).to.throw(/MaximumBatchingWindowInSeconds/);
    expect(() => validateSqsMapping(baseSpec('q', { batchSize: 10_000, maximumBatchingWindowInSeconds: 1 }))).not.to.throw();
  });

  it('invokes at once with at most BatchSize records when there is no batching window, in the SQS event shape', async () => {
    send(25);
    start({ batchSize: 10 });

    await waitFor(() => batches.reduce((n, b) => n + b.records.length, 0) === 25, { message: 'every message delivered' });

    expect(batches.every((b) => b.records.length <= 10)).to.equal(true);
    const [record] = batches[0]!.records;
    expect(record).to.include({ eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:source', awsRegion: 'us-east-1' });
    expect(record!.attributes.ApproximateReceiveCount).to.equal('1');
    expect(record!.receiptHandle).to.be.a('string');
    await waitFor(() => sqs.counts(source).inFlight === 0, { message: 'the batches deleted' });
    expect(sqs.counts(source)).to.deep.include({ visible: 0, inFlight: 0 });
  });

  it('gathers records for the batching window, then invokes with all of them in one batch', async () => {
    // Longer than the window, as AWS asks: else the first records come back while the batch is still gathering.
    sqs.setQueueAttributes({ QueueUrl: source, Attributes: { VisibilityTimeout: '10' } });
    // A 3 s window for six waves 100 ms apart: a loaded machine that stretches the waves fivefold still fits them in it.
    start({ batchSize: 1000, maximumBatchingWindowInSeconds: 3 });
    const first = performance.now();

    for (let i = 0; i < 6; i++) {
      send(5, `wave-${i}`);
      await sleep(100);
    }
    // Every record in one batch: an event, not a wait (a second batch would hold the rest, and fail the length).
    await waitFor(() => batches.reduce((n, b) => n + b.records.length, 0) === 30, { timeoutMs: 15_000, message: 'every record in a batch' });

    expect(batches).to.have.length(1);
    expect(batches[0]!.records).to.have.length(30);
    // The window, counted from the first record: a lower bound only (a slow machine may invoke later, never sooner).
    expect(batches[0]!.at - first).to.be.at.least(2900);
  });

  it('invokes as soon as BatchSize records are gathered, before the window ends', async () => {
    sqs.setQueueAttributes({ QueueUrl: source, Attributes: { VisibilityTimeout: '10' } });
    // A 20 s window: two full batches within 15 s can only have been sent for their size, however slow the machine.
    start({ batchSize: 20, maximumBatchingWindowInSeconds: 20 });
    const first = performance.now();
    send(50);

    await waitFor(() => batches.length >= 2, { timeoutMs: 15_000, message: 'two full batches, well before the 20 s window ends' });

    expect(batches[0]!.records).to.have.length(20);
    expect(batches[1]!.records).to.have.length(20);
    expect(batches[1]!.at - first).to.be.lessThan(20_000);
  });

  it('fills one batch at a time, so a steady stream closes it at BatchSize and not the window (two slots)', async () => {
    sqs.setQueueAttributes({ QueueUrl: source, Attributes: { VisibilityTimeout: '30' } });
    start({ batchSize: 20, maximumBatchingWindowInSeconds: 30 }, undefined, 2);
    // Four waves of 5: two pollers gathering at once would each take a share and wait out the 30 s window.
    for (let i = 0; i < 4; i++) {
      send(5, `wave-${i}`);
      await sleep(50);
    }

    await waitFor(() => batches.length === 1, { timeoutMs: 15_000, message: 'a full batch of 20, long before the 30 s window' });
    expect(batches[0]!.records).to.have.length(20);
  });

  it('gathers the next batch while one is invoked, with at most `concurrency` batches in flight', async () => {
    sqs.setQueueAttributes({ QueueUrl: source, Attributes: { VisibilityTimeout: '30' } });
    const release: (() => void)[] = [];
    let held = 0;
    let most = 0;
    send(30);
    const respond = async () => {
      most = Math.max(most, ++held);
      await new Promise<void>((resolve) => release.push(resolve));
      held--;
      return { batchItemFailures: [] };
    };
    start({ batchSize: 10 }, respond, 2);
    try {
      await waitFor(() => batches.length === 2, { message: 'two batches invoked at once' });
      // Both slots are held: the third batch stays on the queue, not gathered and held (its visibility timeout running).
      await waitFor(() => sqs.counts(source).inFlight === 20 && sqs.counts(source).visible === 10, { message: 'the rest left on the queue' });
      expect(batches).to.have.length(2);

      release.shift()!();
      await waitFor(() => batches.length === 3, { message: 'the third batch once a slot is free' });
    } finally {
      while (release.length > 0) release.shift()!();
    }
    await waitFor(() => sqs.counts(source).inFlight === 0 && sqs.counts(source).visible === 0, { message: 'every batch deleted' });
    expect(most).to.equal(2);
    expect(batches.map((b) => b.records.length)).to.deep.equal([10, 10, 10]);
  });

  it('deletes nothing when the function fails: the batch comes back after the visibility timeout, one receive higher', async () => {
    let calls = 0;
    send(3);
    start({}, () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('boom'), { name: 'Error' });
      return null;
    });

    await waitFor(() => batches.length === 2, { timeoutMs: 5000, message: 'the retry' });

    expect(batches[1]!.at - batches[0]!.at).to.be.at.least(900); // VisibilityTimeout 1 s
    expect(batches[1]!.records.map((r) => r.attributes.ApproximateReceiveCount)).to.deep.equal(['2', '2', '2']);
    expect(batches[1]!.records.map((r) => r.messageId).sort()).to.deep.equal(batches[0]!.records.map((r) => r.messageId).sort());
  });

  it('keeps only the reported batch item failures on the queue', async () => {
    send(4);
    start({}, (records) => (batches.length === 1 ? { batchItemFailures: [{ itemIdentifier: records[1]!.messageId }] } : { batchItemFailures: [] }));

    await waitFor(() => batches.length === 2, { timeoutMs: 5000, message: 'the retry of the failed item' });

    expect(batches[1]!.records.map((r) => r.messageId)).to.deep.equal([batches[0]!.records[1]!.messageId]);
    expect(batches[1]!.records[0]!.body).to.equal(batches[0]!.records[1]!.body);
  });

  it('moves a message that keeps failing to the dead-letter queue after maxReceiveCount receives', async () => {
    send(1, 'poison');
    start({}, (records) => ({ batchItemFailures: records.map((r) => ({ itemIdentifier: r.messageId })) }));

    await waitFor(() => sqs.counts(deadLetters).visible === 1, { timeoutMs: 8000, message: 'the message in the dead-letter queue' });

    expect(batches).to.have.length(2); // maxReceiveCount: 2
    const [dead] = (await sqs.receiveMessage({ QueueUrl: deadLetters })).Messages ?? [];
    expect(dead!.Body).to.equal('poison-0');
  });

  it('decides what to delete from a partial batch response exactly as Lambda documents', () => {
    const ids = ['a', 'b', 'c'];
    const all = new Set(ids);
    // Complete success
    for (const response of [null, undefined, '', {}, { batchItemFailures: [] }, { batchItemFailures: null }]) expect(messagesToDelete(response, ids, true).delete).to.deep.equal(all);
    // Partial
    expect(messagesToDelete({ batchItemFailures: [{ itemIdentifier: 'b' }] }, ids, true).delete).to.deep.equal(new Set(['a', 'c']));
    // Complete failure
    for (const response of [
      'not an object',
      [1],
      { batchItemFailures: 'b' },
      { batchItemFailures: [{ itemIdentifier: '' }] },
      { batchItemFailures: [{ itemIdentifier: null }] },
      { batchItemFailures: [{ itemIdentifer: 'b' }] },
      { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] },
    ]) {
      const decided = messagesToDelete(response, ids, true);
      expect(decided.delete.size, JSON.stringify(response)).to.equal(0);
      expect(decided.invalid, JSON.stringify(response)).to.be.a('string');
    }
    // Without ReportBatchItemFailures the response is ignored: a returned invocation is a success.
    expect(messagesToDelete({ batchItemFailures: [{ itemIdentifier: 'b' }] }, ids, false).delete).to.deep.equal(all);
  });
});

describe('local template: parameter overrides', () => {
  it('reads PARAM_<Name> from the environment and --parameter-overrides as sam spells it', () => {
    expect(parameterOverridesFromEnv({ PARAM_FanoutMode: 'coalesced', PARAM_: 'x', OTHER: 'y', PARAM_BatchSize: '50' })).to.deep.equal({ FanoutMode: 'coalesced', BatchSize: '50' });
    expect(parseParameterOverrides(['FanoutMode=coalesced BatchSize="50"', 'ParameterKey=Tracing,ParameterValue=PassThrough'])).to.deep.equal({
      FanoutMode: 'coalesced',
      BatchSize: '50',
      Tracing: 'PassThrough',
    });
    const args = ['TelemetryFunction', '--parameter-overrides', 'FanoutMode=coalesced', 'Tracing=PassThrough', '--timeout-ms', '5'];
    expect(parameterOverridesFromArgs(args)).to.deep.equal({ FanoutMode: 'coalesced', Tracing: 'PassThrough' });
    expect(args).to.deep.equal(['TelemetryFunction', '--timeout-ms', '5']);
    expect(() => parseParameterOverrides(['novalue'])).to.throw(/Name=value/);
  });

  it('builds the coalesced stack from the template with FanoutMode=coalesced, and the direct one by default', () => {
    const direct = buildStackModel();
    const coalesced = buildStackModel({ parameterOverrides: { FanoutMode: 'coalesced', BatchSize: '500' } });

    // The asynchronous functions' dead-letter queue is there in both modes.
    expect(direct.queues.map((q) => q.logicalId)).to.deep.equal(['DeadLetterQueue']);
    expect(direct.rules[0]!.functionIds).to.deep.equal(['TelemetryFunction']);
    expect(coalesced.functions.has('TelemetryFunction')).to.equal(false);
    expect(coalesced.rules[0]!.functionIds).to.deep.equal([]);
    expect(coalesced.rules[0]!.queueIds).to.deep.equal(['TelemetryQueue']);
    // Dead-letter queues first: CreateQueue needs its redrive target to exist.
    expect(coalesced.queues.map((q) => q.logicalId)).to.have.members(['DeadLetterQueue', 'TelemetryDeadLetterQueue', 'TelemetryQueue']);
    expect(coalesced.queues.at(-1)!.logicalId).to.equal('TelemetryQueue');
    const queue = coalesced.queues.find((q) => q.logicalId === 'TelemetryQueue')!;
    const deadLetters = coalesced.queues.find((q) => q.logicalId === 'TelemetryDeadLetterQueue')!;
    expect(JSON.parse(queue.attributes.RedrivePolicy!)).to.deep.equal({ deadLetterTargetArn: deadLetters.arn, maxReceiveCount: 5 });
    expect(queue.attributes).to.include({ VisibilityTimeout: '360', SqsManagedSseEnabled: 'true' });
    expect(coalesced.eventSourceMappings).to.deep.equal([
      { logicalId: 'TelemetryBatchEventSource', functionId: 'TelemetryBatchFunction', queueId: 'TelemetryQueue', batchSize: 500, maximumBatchingWindowInSeconds: 1, reportBatchItemFailures: true, enabled: true },
    ]);
  });
});
