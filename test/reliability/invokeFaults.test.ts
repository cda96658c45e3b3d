/**
 * Lambda sandboxes that crash or hang (FAULTS=invoke:...): the IoT rule's
 * asynchronous invocation is retried like Lambda's (twice, with delays), the
 * telemetry id survives the retry, and so a dashboard that drops what it has
 * already seen (by id) sees each message at most once, and misses only what
 * Lambda gave up on.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import type { StackHooks } from '../../local/stack/stack.js';
import { type TestStack, connectDevice, startTestStack } from '../helpers/localStack.js';
import type { TestClient } from '../helpers/wsClient.js';
import { sleep, waitFor } from '../helpers/waitFor.js';
import { connectWithRetry, debug, range, telemetryBySeq } from './support.js';

const CLIENTS = 8;
const RETRY_DELAYS_MS = [300, 600];

interface Attempt {
  seq: number;
  startedAt: number;
  ok: boolean;
  error?: string;
}

describe('reliability: Lambda sandboxes crash and hang (FAULTS=invoke:...)', function () {
  this.timeout(60_000);
  let stack: TestStack | undefined;
  let device: MqttClient | undefined;
  let clients: TestClient[] = [];

  /** Records every rule invocation of the telemetry function, around the injected faults. */
  const recorder = () => {
    const attempts: Attempt[] = [];
    const hooks: StackHooks = {
      invoke: async (call, next) => {
        if (call.functionId !== 'TelemetryFunction' || call.source !== 'rule') return next();
        const attempt: Attempt = { seq: (call.event as { seq: number }).seq, startedAt: Date.now(), ok: false };
        attempts.push(attempt);
        try {
          const result = await next();
          attempt.ok = true;
          return result;
        } catch (error) {
          attempt.error = (error as Error).name;
          throw error;
        }
      },
    };
    return { attempts, hooks };
  };

  const run = async ({ faults, seed, messages, functionTimeoutMs }: { faults: string; seed: number; messages: number; functionTimeoutMs?: number }) => {
    const { attempts, hooks } = recorder();
    stack = await startTestStack({ auth: false, faults, faultsSeed: seed, hooks, asyncRetryDelaysMs: RETRY_DELAYS_MS, functionTimeoutMs });
    // $connect crashes too: a client retries, as the dashboard does.
    const connected = await Promise.all(range(CLIENTS).map(() => connectWithRetry(`${stack!.urls.websocket}?devices=dev-c`, { attempts: 10 })));
    clients = connected.map((c) => c.client);
    await waitFor(() => stack!.connections().length === CLIENTS, { message: 'every client connected' });
    device = await connectDevice(stack.urls.mqtt, 'crash-device');
    for (const seq of range(messages)) {
      await device.publishAsync('devices/dev-c/telemetry', JSON.stringify({ ts: Date.now(), seq }));
      await sleep(40);
    }
    await waitFor(() => attempts.length >= messages, { message: 'every message invoked' });
    await stack.settled();
    // The frames of every invocation that succeeded are on their way: wait until each client has them (an event),
    // not a fixed time. (Only invoke faults here: a successful invocation posts to every client.)
    const delivered = new Set(attempts.filter((a) => a.ok).map((a) => a.seq));
    await waitFor(() => clients.every((c) => [...delivered].every((seq) => telemetryBySeq(c.frames, 'dev-c').has(seq))), { timeoutMs: 15_000, message: 'every delivered message at every client' });
    return { attempts, refusals: connected.flatMap((c) => c.refusals) };
  };

  /** Checks Lambda's async retry contract on the recorded attempts; returns the seqs Lambda gave up on. */
  const checkRetries = (attempts: Attempt[], messages: number) => {
    const gaveUp: number[] = [];
    for (const seq of range(messages)) {
      const mine = attempts.filter((a) => a.seq === seq).sort((a, b) => a.startedAt - b.startedAt);
      expect(mine.length, `attempts for seq ${seq}`).to.be.within(1, 3);
      mine.forEach((attempt, i) => {
        // Retried only after a failure, never after a success, and never at once.
        if (i < mine.length - 1) expect(attempt.ok, `seq ${seq} attempt ${i + 1} failed before a retry`).to.equal(false);
        if (i > 0) expect(attempt.startedAt - mine[i - 1]!.startedAt, `delay before seq ${seq} attempt ${i + 1}`).to.be.at.least(RETRY_DELAYS_MS[i - 1]! - 5);
      });
      if (!mine.at(-1)!.ok) {
        expect(mine.length, `seq ${seq} was given up only after three attempts`).to.equal(3);
        gaveUp.push(seq);
      }
    }
    return gaveUp;
  };

  /** Each message at most once per client by id (same id, same frame); every message Lambda did not give up on, at every client. */
  const checkClients = (messages: number, gaveUp: number[]) => {
    let duplicates = 0;
    for (const client of clients) {
      const bySeq = telemetryBySeq(client.frames, 'dev-c');
      for (const seq of range(messages)) {
        const got = bySeq.get(seq);
        if (!got) {
          expect(gaveUp, `seq ${seq} missing at a client although Lambda did not give up on it`).to.include(seq);
          continue;
        }
        expect(got.ids.size, `one id for seq ${seq}`).to.equal(1);
        expect(got.bodies.size, `identical frames for seq ${seq}, so dropping by id loses nothing`).to.equal(1);
        duplicates += got.count - 1;
      }
    }
    return duplicates;
  };

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    await device?.endAsync();
    device = undefined;
    await stack?.stop();
    stack = undefined;
  });

  it('retries a crashed rule invocation twice, with delays, and clients see each message at most once by id', async () => {
    // Arrange + Act
    const messages = 20;
    const { attempts, refusals } = await run({ faults: 'invoke:crash:0.3', seed: 1234, messages });

    // Assert
    const stats = stack!.faults!.stats();
    expect(stats['invoke:crash'], 'injected crashes').to.be.greaterThan(2);
    expect(attempts.filter((a) => a.error === 'Runtime.ExitError').length, 'rule invocations that crashed').to.be.greaterThan(0);
    expect(attempts.some((a, i) => a.ok && attempts.slice(0, i).some((b) => b.seq === a.seq)), 'a retry succeeded after a crash').to.equal(true);
    expect(refusals.every((status) => status === 500), `refused connects are 500s: ${refusals}`).to.equal(true);
    const gaveUp = checkRetries(attempts, messages);
    const duplicates = checkClients(messages, gaveUp);
    debug('wire duplicates dropped by id', { duplicates, gaveUp, attempts: attempts.length, faults: stack!.faults!.stats() });
    expect(stack!.lines.some((line) => /Runtime exited with error: injected crash/.test(line) || /Runtime\.ExitError/.test(line))).to.equal(true);
  });

  it('retries a rule invocation that exceeded its timeout, and clients see each message at most once by id', async () => {
    // Arrange + Act: a hung sandbox is frozen until the (shortened) timeout ends it
    const messages = 16;
    const { attempts } = await run({ faults: 'invoke:timeout:0.25', seed: 99, messages, functionTimeoutMs: 1500 });

    // Assert
    expect(stack!.faults!.stats()['invoke:timeout'], 'injected hangs').to.be.greaterThan(0);
    expect(attempts.some((a) => a.error === 'Sandbox.Timedout'), 'a rule invocation timed out').to.equal(true);
    const gaveUp = checkRetries(attempts, messages);
    const duplicates = checkClients(messages, gaveUp);
    debug('wire duplicates dropped by id', { duplicates, gaveUp, attempts: attempts.length, faults: stack!.faults!.stats() });
    expect(stack!.lines.some((line) => /Task timed out after 1\.50 seconds/.test(line))).to.equal(true);
  });
});
