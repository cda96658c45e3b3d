import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import {
  type BatchReading,
  MAX_FRAME_BYTES,
  type PostToConnection,
  type RecipientLookup,
  type SqsRecord,
  createTelemetryBatchHandler,
  groupByDevice,
  noopCounter,
  splitIntoFrames,
} from '@serverless-iot-dashboard/shared';
import { lambdaContext, loadEvent } from '../../helpers/events.js';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const awsError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

let seq = 0;
const record = (deviceId: string, data: Record<string, unknown> = {}, receivedAt = 1795597200000 + ++seq): SqsRecord => ({
  messageId: `m-${deviceId}-${receivedAt}`,
  body: JSON.stringify({ ts: receivedAt - 100, ...data, deviceId, receivedAt }),
});

/** A fake recipient lookup: who subscribes to what, answered per device (`*` subscribers get everything). */
const lookupFrom = (subscriptions: Record<string, string[]>) =>
  sinon.spy(async (deviceIds: readonly string[]): Promise<RecipientLookup> => {
    const recipients = new Map<string, string[]>();
    for (const d of deviceIds) {
      const ids = Object.entries(subscriptions)
        .filter(([, devices]) => devices.includes(d) || devices.includes('*'))
        .map(([id]) => id);
      recipients.set(d, ids);
    }
    return { recipients, requests: 1, readUnits: 2, refreshed: 0 };
  });

/** Records every frame each connection received, parsed. */
const recordingPost = (fail: (connectionId: string, attempt: number) => Error | undefined = () => undefined) => {
  const received = new Map<string, { type: string; readings: BatchReading[] }[]>();
  const attempts = new Map<string, number>();
  const post = sinon.spy(async (connectionId: string, body: string) => {
    const attempt = (attempts.get(connectionId) ?? 0) + 1;
    attempts.set(connectionId, attempt);
    const error = fail(connectionId, attempt);
    if (error) throw error;
    const list = received.get(connectionId) ?? [];
    list.push(JSON.parse(body));
    received.set(connectionId, list);
  });
  return { post: post as unknown as PostToConnection & sinon.SinonSpy, received };
};

const setup = (subscriptions: Record<string, string[]>, post: PostToConnection, extra: { maxFrameBytes?: number } = {}) => {
  const store = { removeConnection: sinon.stub().resolves() };
  const lookup = lookupFrom(subscriptions);
  const handler = createTelemetryBatchHandler({
    lookup,
    store,
    post,
    log: silentLog,
    counter: noopCounter,
    concurrency: 8,
    fanOutOptions: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 3, goneRecheckMs: 1 },
    ...extra,
  });
  return { handler, store, lookup };
};

const readingIds = (frames: { readings: BatchReading[] }[] | undefined) => (frames ?? []).flatMap((f) => f.readings.map((r) => r.id));

describe('telemetry batch (coalesced fan-out)', () => {
  it('looks the recipients up once per batch for all its devices, and sends a * subscriber one frame with every reading', async () => {
    const event = loadEvent('telemetry-batch');
    const { post, received } = recordingPost();
    const { handler, lookup } = setup({ wildcard: ['*'] }, post);

    const response = await handler(event, lambdaContext());

    expect(response).to.deep.equal({ batchItemFailures: [] });
    expect(lookup.callCount).to.equal(1);
    expect([...lookup.firstCall.args[0]].sort()).to.deep.equal(['dev-1', 'dev-2']);
    const frames = received.get('wildcard')!;
    expect(frames).to.have.length(1);
    expect(frames[0]!.type).to.equal('telemetry-batch');
    expect(frames[0]!.readings.map((r) => [r.deviceId, r.receivedAt])).to.deep.equal([
      ['dev-1', 1795597200187],
      ['dev-2', 1795597200240],
      ['dev-1', 1795597200288],
    ]);
    expect(frames[0]!.readings[0]).to.deep.include({ deviceId: 'dev-1', ts: 1795597200000, data: { temperature: 21.5, humidity: 40.2, seq: 42 } });
    expect(frames[0]!.readings[0]!.id).to.be.a('string').with.length.greaterThan(10);
  });

  it('gives each connection only the readings of the devices it subscribes to', async () => {
    const { post, received } = recordingPost();
    const { handler } = setup({ one: ['dev-1'], two: ['dev-2'], both: ['dev-1', 'dev-2'] }, post);

    await handler({ Records: [record('dev-1'), record('dev-2'), record('dev-3'), record('dev-1')] });

    expect(received.get('one')![0]!.readings.map((r) => r.deviceId)).to.deep.equal(['dev-1', 'dev-1']);
    expect(received.get('two')![0]!.readings.map((r) => r.deviceId)).to.deep.equal(['dev-2']);
    expect(received.get('both')![0]!.readings.map((r) => r.deviceId)).to.deep.equal(['dev-1', 'dev-2', 'dev-1']);
    expect(post.callCount).to.equal(3);
  });

  it('derives the same ids when the same messages come again, and sends a repeated reading once', async () => {
    const records = [record('dev-1', { v: 1 }), record('dev-1', { v: 2 })];
    const first = recordingPost();
    const second = recordingPost();

    await setup({ c: ['*'] }, first.post).handler({ Records: records });
    await setup({ c: ['*'] }, second.post).handler({ Records: [...records, { ...records[0]!, messageId: 'a-duplicate-delivery' }] });

    expect(readingIds(second.received.get('c'))).to.deep.equal(readingIds(first.received.get('c')));
    expect(readingIds(second.received.get('c'))).to.have.length(2);
  });

  it('reports only the readings whose delivery failed as batch item failures', async () => {
    const records = [record('dev-1'), record('dev-1'), record('dev-2')];
    const { post, received } = recordingPost((id) => (id === 'broken' ? awsError('InternalServerErrorException', 500) : undefined));
    const { handler } = setup({ broken: ['dev-1'], fine: ['*'] }, post);

    const response = await handler({ Records: records });

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).to.deep.equal([records[0]!.messageId, records[1]!.messageId].sort());
    expect(readingIds(received.get('fine'))).to.have.length(3);
    expect(post.args.filter((a) => a[0] === 'broken')).to.have.length(3); // maxAttempts
  });

  it('retries a throttled post inside the invocation and then reports nothing', async () => {
    const { post, received } = recordingPost((id, attempt) => (attempt === 1 ? awsError('LimitExceededException', 429) : undefined));
    const { handler } = setup({ a: ['*'], b: ['*'] }, post);

    const response = await handler({ Records: [record('dev-1'), record('dev-2')] });

    expect(response.batchItemFailures).to.deep.equal([]);
    expect(readingIds(received.get('a'))).to.have.length(2);
    expect(readingIds(received.get('b'))).to.have.length(2);
  });

  it('removes a gone connection once per batch and sends it none of the later frames', async () => {
    const records = Array.from({ length: 30 }, (_, i) => record('dev-1', { pad: 'x'.repeat(200), i }));
    const { post, received } = recordingPost((id) => (id === 'gone' ? awsError('GoneException', 410) : undefined));
    const { handler, store } = setup({ gone: ['*'], live: ['*'] }, post, { maxFrameBytes: 2048 });

    const response = await handler({ Records: records });

    const liveFrames = received.get('live')!;
    expect(liveFrames.length).to.be.greaterThan(2);
    expect(readingIds(liveFrames)).to.have.length(30);
    expect(store.removeConnection.callCount).to.equal(1);
    expect(store.removeConnection.firstCall.args[0]).to.equal('gone');
    expect(post.args.filter((a) => a[0] === 'gone')).to.have.length(2); // the first frame, and its recheck a moment later
    expect(response.batchItemFailures).to.deep.equal([]);
  });

  it('leaves messages that are not telemetry on the queue, for the dead-letter queue, and delivers the rest', async () => {
    const good = record('dev-1');
    const { post, received } = recordingPost();
    const { handler } = setup({ c: ['*'] }, post);

    const response = await handler({
      Records: [good, { messageId: 'not-json', body: '{oops' }, { messageId: 'no-device', body: JSON.stringify({ ts: 1, temperature: 3 }) }],
    });

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).to.deep.equal(['no-device', 'not-json']);
    expect(readingIds(received.get('c'))).to.have.length(1);
  });

  it('fails the whole batch when the recipients cannot be looked up (Lambda then retries every message)', async () => {
    const handler = createTelemetryBatchHandler({
      lookup: async () => {
        throw awsError('ProvisionedThroughputExceededException', 400);
      },
      store: { removeConnection: sinon.stub().resolves() },
      post: sinon.stub().resolves(),
      log: silentLog,
      counter: noopCounter,
    });

    let error: Error | undefined;
    await handler({ Records: [record('dev-1')] }).catch((e: Error) => (error = e));

    expect(error?.name).to.equal('ProvisionedThroughputExceededException');
  });

  it('hands back the readings it had no time to deliver', async () => {
    const { post } = recordingPost();
    const records = [record('dev-1'), record('dev-2')];
    const handler = createTelemetryBatchHandler({
      lookup: lookupFrom({ a: ['*'] }),
      store: { removeConnection: sinon.stub().resolves() },
      post,
      log: silentLog,
      counter: noopCounter,
      deadline: () => Date.now() - 1,
    });

    const response = await handler({ Records: records });

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).to.deep.equal(records.map((r) => r.messageId).sort());
    expect(post.callCount).to.equal(0);
  });

  describe('frames under 32 KB', () => {
    const reading = fc.record({
      id: fc.string({ minLength: 1, maxLength: 22 }),
      deviceId: fc.stringMatching(/^[a-z0-9-]{1,20}$/),
      ts: fc.integer({ min: 0, max: 2 ** 42 }),
      receivedAt: fc.integer({ min: 0, max: 2 ** 42 }),
      // ASCII and multi-byte text: the limit is in bytes, not characters.
      data: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 3000, unit: 'grapheme' }))),
    });

    it('keeps every frame within the limit, unless one reading alone is bigger; loses, repeats and reorders nothing; packs greedily', () => {
      fc.assert(
        fc.property(fc.array(reading, { maxLength: 80 }), fc.integer({ min: 200, max: MAX_FRAME_BYTES }), (readings, limit) => {
          const frames = splitIntoFrames(readings, limit);
          const parsed = frames.map((f) => JSON.parse(f) as { type: string; readings: BatchReading[] });
          for (const [i, frame] of frames.entries()) {
            expect(parsed[i]!.type).to.equal('telemetry-batch');
            expect(parsed[i]!.readings.length).to.be.greaterThan(0);
            if (parsed[i]!.readings.length > 1) expect(byteLength(frame)).to.be.at.most(limit);
          }
          expect(parsed.flatMap((p) => p.readings)).to.deep.equal(JSON.parse(JSON.stringify(readings)));
          // Greedy: the next frame's first reading would not have fitted into this one.
          for (let i = 0; i + 1 < parsed.length; i++) {
            const merged = JSON.stringify({ type: 'telemetry-batch', readings: [...parsed[i]!.readings, parsed[i + 1]!.readings[0]] });
            expect(byteLength(merged)).to.be.greaterThan(limit);
          }
        }),
        { numRuns: 200 },
      );
    });

    it('sends a batch bigger than 32 KB to each connection as several frames, each at most 32 KB', async () => {
      const records = Array.from({ length: 400 }, (_, i) => record(`dev-${i % 7}`, { pad: 'é'.repeat(120), i }));
      const bodies: string[] = [];
      const post: PostToConnection = async (_id, body) => {
        bodies.push(body);
      };
      const { handler } = setup({ c: ['*'] }, post);

      await handler({ Records: records });

      expect(bodies.length).to.be.greaterThan(2);
      for (const body of bodies) expect(byteLength(body)).to.be.at.most(MAX_FRAME_BYTES);
      expect(bodies.flatMap((b) => JSON.parse(b).readings)).to.have.length(400);
    });
  });

  it("stores each device's newest reading of the batch once, as its latest (the snapshot frame)", async () => {
    const recordLatest = sinon.stub().resolves(true);
    const { post } = recordingPost();
    const handler = createTelemetryBatchHandler({ lookup: lookupFrom({ c: ['*'] }), store: { removeConnection: sinon.stub().resolves() }, post, log: silentLog, counter: noopCounter, devices: { recordLatest } });

    await handler({ Records: [record('dev-1', { v: 1 }, 100), record('dev-1', { v: 2 }, 300), record('dev-1', { v: 3 }, 200), record('dev-2', { v: 9 }, 150)] });

    expect(recordLatest.callCount).to.equal(2);
    const byDevice = Object.fromEntries(recordLatest.args.map(([frame]) => [frame.deviceId, frame]));
    expect(byDevice['dev-1']).to.deep.include({ type: 'telemetry', ts: 200, data: { v: 2 } });
    expect(byDevice['dev-2']).to.deep.include({ type: 'telemetry', data: { v: 9 } });
  });

  it('hands every reading of the batch, each once, to the history writer after the fan-out; a failed write is logged, the batch not retried', async () => {
    const order: string[] = [];
    const write = sinon.stub().callsFake(async () => (order.push('history'), { readings: 3, buckets: 3, superseded: 0 }));
    const { post } = recordingPost();
    const posting = async (...args: Parameters<typeof post>) => (order.push('post'), post(...args));
    const handler = createTelemetryBatchHandler({ lookup: lookupFrom({ c: ['*'] }), store: { removeConnection: sinon.stub().resolves() }, post: posting, log: silentLog, counter: noopCounter, history: { record: write } });
    const records = [record('dev-1', { v: 1 }, 100), record('dev-1', { v: 2 }, 300), record('dev-2', { v: 9 }, 150)];

    const result = await handler({ Records: [...records, records[0]!] });

    expect(write.callCount).to.equal(1);
    expect(write.firstCall.args[0].map((r: { data: { v: number } }) => r.data.v).sort()).to.deep.equal([1, 2, 9]);
    expect(order.indexOf('history')).to.be.greaterThan(order.lastIndexOf('post'));
    write.rejects(new Error('throttled'));
    const failed = await handler({ Records: records });
    expect(failed.batchItemFailures).to.deep.equal([]);
    expect(result.batchItemFailures).to.deep.equal([]);
  });

  it('groups the readings by device, each once, in receive order', () => {
    const records = [record('b', {}, 30), record('a', {}, 20), record('b', {}, 10)];
    const { devices, invalid } = groupByDevice([...records, records[0]!]);

    expect(invalid).to.deep.equal([]);
    expect([...devices.keys()].sort()).to.deep.equal(['a', 'b']);
    expect(devices.get('b')!.map((p) => p.reading.receivedAt)).to.deep.equal([10, 30]);
    expect(devices.get('b')!.find((p) => p.reading.receivedAt === 30)!.messageIds).to.have.length(2);
  });
});
