/**
 * FanoutMode=coalesced on the local stack, from template.yaml: the topic rule
 * queues readings in SQS, the event source mapping hands batches to
 * TelemetryBatchFunction, and clients get telemetry-batch frames.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { type TestStack, connectDevice, startTestStack } from '../helpers/localStack.js';
import { quiescent } from '../helpers/quiescence.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';
import { sleep, waitFor } from '../helpers/waitFor.js';

// Visibility above the window plus a batch's run time, as AWS asks, or a slow batch would come back while it runs.
const COALESCED = { FanoutMode: 'coalesced', MaximumBatchingWindowInSeconds: '1', QueueVisibilityTimeout: '8', MaxReceiveCount: '2' };
const DEVICES = 10;

/** Every reading a client received, in telemetry-batch frames (and telemetry frames, which must not come). */
const readingsOf = (frames: Frame[]) => frames.flatMap((f) => (f.type === 'telemetry-batch' ? (f.readings as Frame[]) : f.type === 'telemetry' ? [f] : []));

describe('local stack: coalesced fan-out (PARAM_FanoutMode=coalesced)', function () {
  this.timeout(120_000);
  let stack: TestStack | undefined;
  let device: MqttClient | undefined;
  let clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    await device?.endAsync();
    device = undefined;
    await stack?.stop();
    stack = undefined;
  });

  const publish = async (count: number, pauseEvery = 50, pauseMs = 5) => {
    for (let seq = 0; seq < count; seq++) {
      await device!.publishAsync(`devices/dev-${seq % DEVICES}/telemetry`, JSON.stringify({ ts: Date.now(), seq }));
      if (seq % pauseEvery === pauseEvery - 1) await sleep(pauseMs);
    }
  };

  /** What each client should have: the readings of its devices, by seq. */
  const expectedFor = (devices: string, count: number) =>
    Array.from({ length: count }, (_, seq) => seq).filter((seq) => devices === '*' || devices.split(',').includes(`dev-${seq % DEVICES}`));

  const start = async (extra: Parameters<typeof startTestStack>[0] = {}): Promise<TestStack> => {
    const started = await startTestStack({ auth: false, parameterOverrides: COALESCED, ...extra });
    stack = started;
    expect(started.model.functions.has('TelemetryBatchFunction')).to.equal(true);
    expect(started.model.functions.has('TelemetryFunction')).to.equal(false);
    return started;
  };

  it('delivers 1,000 readings to 50 clients in telemetry-batch frames, none lost and none duplicated', async () => {
    // Arrange
    stack = await start();
    const subscriptions = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? '*' : `dev-${i % DEVICES},dev-${(i + 3) % DEVICES}`));
    clients = await Promise.all(subscriptions.map((devices) => connectClient(`${stack!.urls.websocket}?devices=${devices}`)));
    await waitFor(() => stack!.connections().length === 50, { message: 'every client connected' });
    device = await connectDevice(stack.urls.mqtt, 'coalesced-device');

    // Act
    await publish(1000);
    await waitFor(() => clients.every((c, i) => readingsOf(c.frames).length >= expectedFor(subscriptions[i]!, 1000).length), {
      timeoutMs: 60_000,
      message: 'every reading at every client',
    });
    await quiescent(stack, clients); // a late duplicate (a batch delivered again) would have arrived by then

    // Assert
    let frames = 0;
    for (const [i, client] of clients.entries()) {
      const readings = readingsOf(client.frames);
      expect(client.frames.some((f) => f.type === 'telemetry'), 'no per-reading frames').to.equal(false);
      expect(readings.map((r) => r.data.seq as number).sort((a, b) => a - b), `client ${i} (${subscriptions[i]})`).to.deep.equal(expectedFor(subscriptions[i]!, 1000));
      expect(new Set(readings.map((r) => r.id)).size, `client ${i}: ids`).to.equal(readings.length);
      frames += client.frames.filter((f) => f.type === 'telemetry-batch').length;
    }
    // Coalesced: a client gets a frame per batch, not one per reading.
    expect(frames / 50).to.be.lessThan(100);
    expect(stack.iotStats.queued).to.equal(1000);
  });

  it('retries failed posts (FAULTS=post:500:0.3) until every client has every reading exactly once', async () => {
    // Arrange
    stack = await start({ faults: 'post:500:0.3', faultsSeed: 15 });
    clients = await Promise.all(Array.from({ length: 20 }, () => connectClient(`${stack!.urls.websocket}?devices=*`)));
    await waitFor(() => stack!.connections().length === 20, { message: 'every client connected' });
    device = await connectDevice(stack.urls.mqtt, 'coalesced-faulty-device');

    // Act: spread over several batching windows, so that there are many frames to fail
    await publish(300, 30, 400);
    await waitFor(() => clients.every((c) => new Set(readingsOf(c.frames).map((r) => r.id)).size >= 300), { timeoutMs: 60_000, message: 'every reading at every client' });
    await quiescent(stack, clients);

    // Assert
    expect(stack.faults!.stats()['post:500'], `injected 500s: ${JSON.stringify(stack.faults!.stats())}`).to.be.greaterThan(15);
    const idOfSeq = new Map<number, string>();
    for (const client of clients) {
      const readings = readingsOf(client.frames);
      // Exactly once, as the dashboard sees it: a redelivered reading keeps its id and is dropped as a duplicate.
      const bySeq = new Map<number, Set<string>>();
      for (const r of readings) bySeq.set(r.data.seq, (bySeq.get(r.data.seq) ?? new Set()).add(r.id));
      expect(bySeq.size).to.equal(300);
      for (const [seq, ids] of bySeq) {
        expect(ids.size, `seq ${seq}: one id`).to.equal(1);
        const id = [...ids][0]!;
        expect(idOfSeq.get(seq) ?? id, `seq ${seq}: the same id at every client`).to.equal(id);
        idOfSeq.set(seq, id);
      }
    }
  });

  it('moves a poisoned message to the dead-letter queue after MaxReceiveCount receives, and keeps delivering the rest', async function () {
    this.timeout(240_000);
    // Arrange: a short visibility timeout, so that the two receives take seconds
    stack = await start({ parameterOverrides: { ...COALESCED, QueueVisibilityTimeout: '2' } });
    clients = [await connectClient(`${stack!.urls.websocket}?devices=*`)];
    await waitFor(() => stack!.connections().length === 1, { message: 'the client connected' });
    const sqs = stack.sqs!;
    const queueUrl = stack.queues.TelemetryQueue!;
    const deadLetters = stack.queues.TelemetryDeadLetterQueue!;
    device = await connectDevice(stack.urls.mqtt, 'coalesced-poison-device');

    // Act
    await sqs.sendMessage({ QueueUrl: queueUrl, MessageBody: '{"this is":"not telemetry"' });
    await publish(5);
    // Three receives 2 s apart take seconds; a machine loaded past the suite (load 15) once needed over 60.
    await waitFor(() => sqs.counts(deadLetters).visible === 1, { timeoutMs: 150_000, message: 'the poisoned message in the dead-letter queue' });

    // Assert
    const [dead] = (await sqs.receiveMessage({ QueueUrl: deadLetters, MessageSystemAttributeNames: ['All'] })).Messages ?? [];
    expect(dead!.Body).to.equal('{"this is":"not telemetry"');
    expect(Number(dead!.Attributes!.ApproximateReceiveCount)).to.be.at.least(2);
    // Every reading, each under one id. With a 2 s visibility timeout, a batch that a loaded machine keeps longer than
    // that is received again (SQS delivers at least once): the page drops such a repeat by its id.
    const readings = readingsOf(clients[0]!.frames);
    expect([...new Set(readings.map((r) => r.data.seq))].sort()).to.deep.equal([0, 1, 2, 3, 4]);
    for (const seq of [0, 1, 2, 3, 4]) expect(new Set(readings.filter((r) => r.data.seq === seq).map((r) => r.id)).size, `seq ${seq}: one id`).to.equal(1);
    await waitFor(() => sqs.counts(queueUrl).visible + sqs.counts(queueUrl).inFlight === 0, { message: 'the queue drained' });
  });
});
