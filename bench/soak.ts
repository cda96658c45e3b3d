/**
 * npm run soak [-- --clients 1000 --rate 10 --seconds 60 --devices 10 --warmup 10]
 *
 * The local stack under steady load, looking for loss and leaks (issue 7):
 *   - the stack (gateway, @connections API, broker, dynalite, the functions'
 *     worker threads) runs in one child process, the WebSocket clients in
 *     another, and devices publish over MQTT from this process;
 *   - every client counts each telemetry frame by `data.seq`, and times it
 *     from the device's publish (`data.sentAt`, the machine's wall clock);
 *   - the stack's process reports its memory (RSS, and V8 heap after a full
 *     GC) after the warm-up and at the end; the growth between them must stay
 *     flat.
 * Progress every few seconds; a report at the end; exit code 1 if a message
 * was lost or the heap grew. Every wait is bounded.
 */
import { appendFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { DEFAULT_ASYNC_CONCURRENCY, startStack } from '../local/stack/stack.js';
import { parameterOverridesFromEnv } from '../local/template/parameterOverrides.js';
import { type Child, serveParent, spawnChild } from './processes.js';
import { percentile, round, wallClockMs } from './stats.js';
import { formatTable } from './table.js';
import { DEFAULT_SEARCH, type StepResult, capacityLine, findCapacity, stepVerdict } from './capacity.js';

// Before any SDK client is built: the SDK's notice about Node 20 is not a result.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const THIS_FILE = fileURLToPath(import.meta.url);
const MB = 1024 * 1024;

// ---------------------------------------------------------------- flags

const USAGE = `usage: npm run soak -- [--clients N] [--rate MSG_PER_S] [--seconds S] [--devices N] [--warmup S] [--report-every S]
  --clients       WebSocket clients, each subscribed to every device  (default 1000, 1-20000)
  --rate          telemetry messages per second, all devices together (default 10, 0.1-1000)
  --seconds       measured duration after the warm-up                 (default 60, 1-3600)
  --devices       MQTT devices publishing in turn                     (default 10, 1-1000)
  --warmup        seconds of load before memory is first measured     (default 10, 0-600)
  --report-every  seconds between progress lines                      (default 5, 1-600)
  --find-capacity step the rate up (by 1.5x, then halving the gap) and print first the highest rate held
                  with 0 lost and p99 < 1 s; --seconds is then per step (default 10), --rate the first step (default 1)
  --cpu-prof DIR  write V8 CPU profiles of the stack's and the clients' processes (every thread) to DIR`;

class UsageError extends Error {}

const DEFAULT_RATE = 10;

interface Plan {
  clients: number;
  rate: number;
  seconds: number;
  devices: number;
  warmup: number;
  reportEvery: number;
  cpuProf?: string;
  findCapacity: boolean;
}

const numberFlag = (values: Record<string, string | boolean | undefined>, name: string, fallback: number, min: number, max: number, integer: boolean): number => {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${String(raw)}"`);
  }
  return value;
};

export const parsePlan = (argv: string[]): Plan | 'help' => {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        clients: { type: 'string' },
        rate: { type: 'string' },
        seconds: { type: 'string' },
        devices: { type: 'string' },
        warmup: { type: 'string' },
        'report-every': { type: 'string' },
        'cpu-prof': { type: 'string' },
        'find-capacity': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const findCapacity = values['find-capacity'] === true;
  return {
    findCapacity,
    clients: numberFlag(values, 'clients', 1000, 1, 20_000, true),
    rate: numberFlag(values, 'rate', findCapacity ? 1 : DEFAULT_RATE, 0.1, 1000, false),
    seconds: numberFlag(values, 'seconds', findCapacity ? 10 : 60, 1, 3600, true),
    devices: numberFlag(values, 'devices', 10, 1, 1000, true),
    warmup: numberFlag(values, 'warmup', 10, 0, 600, true),
    reportEvery: numberFlag(values, 'report-every', 5, 1, 600, true),
    ...(typeof values['cpu-prof'] === 'string' ? { cpuProf: values['cpu-prof'] } : {}),
  };
};

// ---------------------------------------------------------------- the stack's process

interface StackInfo {
  websocket: string;
  mqtt: string;
  pid: number;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** CPU time of the whole process so far (every thread, user + system), in ms. */
  cpuMs: number;
}

/** As npm start runs: ASYNC_CONCURRENCY, default DEFAULT_ASYNC_CONCURRENCY (4). */
const asyncConcurrencyFromEnv = () => {
  const raw = Number(process.env.ASYNC_CONCURRENCY);
  return Number.isInteger(raw) && raw > 0 ? raw : DEFAULT_ASYNC_CONCURRENCY;
};

const runStackProcess = async () => {
  // A full GC before a heap reading: what is still reachable, not what is merely not collected yet.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // SOAK_STACK_LOG=FILE keeps the stack's warnings and errors (every one) in FILE.
  const logFile = process.env.SOAK_STACK_LOG;
  const log = logFile ? (line: string) => appendFileSync(logFile, `${line}\n`) : (line: string) => console.error(line);
  // PARAM_<Name> overrides a template parameter, as for npm start (PARAM_FanoutMode=coalesced measures the coalesced path).
  const stack = await startStack({ wsPort: 0, port: 0, mqttPort: 0, simulatedDevices: 0, auth: false, logLevel: 'warn', log, asyncConcurrency: asyncConcurrencyFromEnv(), parameterOverrides: parameterOverridesFromEnv() });
  const memory = ({ collect }: { collect?: boolean }): MemorySample => {
    if (collect) gc();
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    const { user, system } = process.cpuUsage();
    return { rss, heapUsed, heapTotal, external, cpuMs: (user + system) / 1000 };
  };
  serveParent(
    { websocket: stack.endpoints.websocket, mqtt: stack.endpoints.mqtt, pid: process.pid } satisfies StackInfo,
    {
      memory,
      connections: () => stack.connections().length,
      settled: () => stack.settled(),
      iot: () => ({ ...stack.iotStats }),
    },
    () => stack.stop(),
  );
};

// ---------------------------------------------------------------- the clients' process

interface ClientTotals {
  open: number;
  /** Telemetry frames received (duplicates included). */
  frames: number;
  /** Frames of a seq this client already had. */
  duplicates: number;
  /** CPU time of the clients' process so far, in ms. */
  cpuMs?: number;
}

const runClientsProcess = () => {
  const sockets: WebSocket[] = [];
  /** Per client, how often it received each seq. */
  const seen: Uint8Array[] = [];
  let capacity = 1024;
  const totals: ClientTotals = { open: 0, frames: 0, duplicates: 0 };
  /** Latencies (ms) not yet handed to the parent. */
  let latencies: number[] = [];

  const grow = (seq: number) => {
    while (seq >= capacity) capacity *= 2;
    for (let i = 0; i < seen.length; i++) {
      if (seen[i]!.length < capacity) {
        const bigger = new Uint8Array(capacity);
        bigger.set(seen[i]!);
        seen[i] = bigger;
      }
    }
  };

  const open = (url: string, index: number, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, perMessageDeflate: false });
      seen[index] = new Uint8Array(capacity);
      ws.once('error', reject);
      ws.once('open', () => {
        ws.off('error', reject);
        ws.on('error', () => undefined);
        totals.open++;
        resolve();
      });
      ws.on('close', () => totals.open--);
      ws.on('message', (data: Buffer) => {
        const at = wallClockMs();
        type Reading = { data?: { seq?: unknown; sentAt?: unknown } };
        let frame: Reading & { type?: string; readings?: unknown };
        try {
          frame = JSON.parse(data.toString('utf8'));
        } catch {
          return;
        }
        // FanoutMode=coalesced sends `telemetry-batch` frames: each of its readings counts as a telemetry frame.
        const readings = frame.type === 'telemetry' ? [frame] : frame.type === 'telemetry-batch' && Array.isArray(frame.readings) ? (frame.readings as Reading[]) : [];
        for (const reading of readings) {
          const seq = reading.data?.seq;
          if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) continue;
          if (seq >= capacity) grow(seq);
          const counts = seen[index]!;
          totals.frames++;
          if (counts[seq]! > 0) totals.duplicates++;
          else if (typeof reading.data?.sentAt === 'number') latencies.push(at - reading.data.sentAt);
          if (counts[seq]! < 255) counts[seq]!++;
        }
      });
      sockets[index] = ws;
    });

  const connect = async ({ url, count, parallel = 32, timeoutMs = 30_000 }: { url: string; count: number; parallel?: number; timeoutMs?: number }) => {
    let next = 0;
    const worker = async () => {
      while (next < count) await open(url, next++, timeoutMs);
    };
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
    return totals.open;
  };

  /** Received (client, seq) pairs for seqs in [from, to): distinct, so duplicates do not hide a loss. */
  const tally = ({ from, to }: { from: number; to: number }) => {
    let received = 0;
    const missingBySeq: Record<number, number> = {};
    for (const counts of seen) {
      for (let seq = from; seq < to; seq++) {
        if (seq < counts.length && counts[seq]! > 0) received++;
        else missingBySeq[seq] = (missingBySeq[seq] ?? 0) + 1;
      }
    }
    return { received, missingBySeq };
  };

  const drainLatencies = () => {
    const out = latencies;
    latencies = [];
    return out;
  };

  const closeAll = async () => {
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once('close', () => resolve());
            ws.close(1000);
            setTimeout(() => ws.terminate(), 3000).unref();
          }),
      ),
    );
  };

  const cpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  serveParent({ pid: process.pid }, { connect, totals: () => ({ ...totals, cpuMs: cpuMs() }), tally, latencies: drainLatencies, closeAll }, closeAll);
};

// ---------------------------------------------------------------- the orchestrator

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => round(bytes / MB, 1);
const ms = (value: number) => (Number.isNaN(value) ? '-' : `${round(value, 1)} ms`);

/** Publishes `rate` msg/s for `seconds` from seq `from` on, then waits for every delivery (bounded) and measures the step. */
const runStep = async (
  { clientsProcess, stackProcess, devices }: { clientsProcess: Child<{ pid: number }>; stackProcess: Child<StackInfo>; devices: MqttClient[] },
  { rate, seconds, clients, from }: { rate: number; seconds: number; clients: number; from: number },
): Promise<StepResult & { next: number }> => {
  await clientsProcess.request<number[]>('latencies', {}, 30_000);
  const before = await clientsProcess.request<ClientTotals>('totals', {}, 10_000);
  const count = Math.max(1, Math.round(rate * seconds));
  let published = 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const due = (i * 1000) / rate;
    const wait = due - (performance.now() - t0);
    if (wait > 0) await sleep(wait);
    const seq = from + i;
    const payload = JSON.stringify({ ts: Date.now(), seq, sentAt: wallClockMs() });
    await devices[seq % devices.length]!.publishAsync(`devices/soak-${(seq % devices.length) + 1}/telemetry`, payload, { qos: 1 }).then(
      () => published++,
      () => undefined,
    );
  }
  const publishEnd = performance.now();
  const expected = count * clients;
  const delivered = async () => {
    const totals = await clientsProcess.request<ClientTotals>('totals', {}, 10_000);
    return totals.frames - totals.duplicates - (before.frames - before.duplicates);
  };
  // Bounded: 600 polls of 100 ms after the stack settled.
  await stackProcess.request('settled', {}, 600_000);
  for (let i = 0; i < 600 && (await delivered()) < expected; i++) await sleep(100);
  const drainMs = performance.now() - publishEnd;
  const latencies = await clientsProcess.request<number[]>('latencies', {}, 30_000);
  const after = await clientsProcess.request<ClientTotals>('totals', {}, 10_000);
  const { received } = await clientsProcess.request<{ received: number }>('tally', { from, to: from + count }, 60_000);
  return {
    rate,
    clients,
    published,
    expected,
    lost: expected - received,
    duplicates: after.duplicates - before.duplicates,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    offeredPerS: rate * clients,
    drainMs,
    next: from + count,
  };
};

const runCapacitySearch = async ({
  plan,
  stackProcess,
  clientsProcess,
  devices,
}: {
  plan: Plan;
  stackProcess: Child<StackInfo>;
  clientsProcess: Child<{ pid: number }>;
  devices: MqttClient[];
}): Promise<number> => {
  const { clients, rate, seconds, warmup } = plan;
  let seq = 0;
  const context = { clientsProcess, stackProcess, devices };
  if (warmup > 0) {
    console.error(`warm-up: ${rate} msg/s for ${Math.min(warmup, 5)} s (cold sandboxes, JIT; not counted)`);
    seq = (await runStep(context, { rate, seconds: Math.min(warmup, 5), clients, from: seq })).next;
  }
  const result = await findCapacity(async (stepRate) => {
    const step = await runStep(context, { rate: stepRate, seconds, clients, from: seq });
    seq = step.next;
    const verdict = stepVerdict(step);
    const mem = await stackProcess.request<MemorySample>('memory', {}, 10_000);
    console.error(
      `step ${stepRate} msg/s (${Math.round(step.offeredPerS)} deliveries/s): ${step.lost} lost, p50 ${ms(step.p50Ms)} p99 ${ms(step.p99Ms)}, drain ${Math.round(step.drainMs)} ms, ` +
        `stack rss ${mb(mem.rss)} MB: ${verdict ?? 'held'}`,
    );
    return step;
  }, { ...DEFAULT_SEARCH, start: rate });
  console.log(capacityLine(result, clients, DEFAULT_RATE));
  console.log('');
  console.log(
    formatTable(
      result.steps.map(({ step, verdict }) => ({ ...step, verdict: verdict ?? 'held' })),
      [
        { title: 'msg/s', value: (r) => r.rate },
        { title: 'deliveries/s offered', value: (r) => Math.round(r.offeredPerS) },
        { title: 'drain (ms)', value: (r) => Math.round(r.drainMs) },
        { title: 'lost', value: (r) => r.lost },
        { title: 'duplicates', value: (r) => r.duplicates },
        { title: 'p50 (ms)', value: (r) => round(r.p50Ms, 1) },
        { title: 'p99 (ms)', value: (r) => round(r.p99Ms, 1) },
        { title: 'verdict', value: (r) => r.verdict },
      ],
    ),
  );
  console.log(`capacity ${JSON.stringify({ clients, heldRate: result.held?.rate ?? null, heldDeliveriesPerS: result.held ? Math.round(result.held.rate * clients) : null, p99Ms: result.held ? round(result.held.p99Ms, 1) : null, failedRate: result.failed?.rate ?? null })}`);
  await clientsProcess.request('closeAll', {}, 30_000);
  return result.held ? 0 : 1;
};

const main = async (): Promise<number> => {
  let plan: Plan | 'help';
  try {
    plan = parsePlan(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (plan === 'help') {
    console.log(USAGE);
    return 0;
  }
  const { clients, rate, seconds, devices, warmup, reportEvery, cpuProf, findCapacity: capacityMode } = plan;
  // In --find-capacity mode the answer is the first line on stdout; progress goes to stderr.
  const say = capacityMode ? (line: string) => console.error(line) : (line: string) => console.log(line);
  // Profiles are written when a process exits: one file per thread (the functions' worker threads too).
  const profiling = (role: string) => (cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}/${role}`] : []);
  const total = Math.round(rate * (warmup + seconds));
  if (!capacityMode) console.log(`soak: ${clients} clients, ${rate} msg/s from ${devices} device(s), ${warmup} s warm-up + ${seconds} s measured (${total} messages, ${(total * clients).toLocaleString('en-US')} deliveries)`);

  let stackChild: Child<StackInfo> | undefined;
  let clientsChild: Child<{ pid: number }> | undefined;
  const devicesConnected: MqttClient[] = [];
  try {
    const started = performance.now();
    [stackChild, clientsChild] = await Promise.all([
      spawnChild<StackInfo>(THIS_FILE, { name: 'the stack', env: { SOAK_ROLE: 'stack' }, execArgv: profiling('stack') }),
      spawnChild<{ pid: number }>(THIS_FILE, { name: 'the clients', env: { SOAK_ROLE: 'clients' }, execArgv: profiling('clients') }),
    ]);
    const stackProcess = stackChild;
    const clientsProcess = clientsChild;
    const { websocket, mqtt: mqttUrl } = stackProcess.info;
    say(`stack pid ${stackProcess.info.pid} (${websocket}), clients pid ${clientsProcess.info.pid}; up in ${Math.round(performance.now() - started)} ms`);

    // Connect every client and every device before the first message.
    const connectStarted = performance.now();
    const open = await clientsProcess.request<number>('connect', { url: websocket, count: clients }, 180_000);
    await stackProcess.request('settled', {}, 60_000);
    const serverSide = await stackProcess.request<number>('connections', {}, 10_000);
    if (open !== clients || serverSide !== clients) throw new Error(`only ${open} clients open (${serverSide} at the gateway) of ${clients}`);
    say(`${clients} clients connected in ${Math.round(performance.now() - connectStarted)} ms`);
    for (let d = 1; d <= devices; d++) {
      devicesConnected.push(await mqtt.connectAsync(mqttUrl, { clientId: `soak-device-${d}`, connectTimeout: 10_000, reconnectPeriod: 0 }));
    }
    if (capacityMode) return await runCapacitySearch({ plan, stackProcess, clientsProcess, devices: devicesConnected });

    // Publish on a fixed schedule (no drift), reporting every few seconds.
    // Latencies of the measured phase; the warm-up's (cold sandboxes, JIT) are kept apart.
    const latencies: number[] = [];
    let warmupLatencies: number[] = [];
    let published = 0;
    let publishErrors = 0;
    const t0 = performance.now();
    const phaseEnd = (warmup + seconds) * 1000;
    let nextReport = reportEvery * 1000;
    let memoryStart: MemorySample | undefined;
    let clientsAtStart: ClientTotals | undefined;
    const rows: Record<string, string | number>[] = [];
    const report = async (elapsedMs: number) => {
      const [fresh, totals, mem] = await Promise.all([
        clientsProcess.request<number[]>('latencies', {}, 30_000),
        clientsProcess.request<ClientTotals>('totals', {}, 10_000),
        stackProcess.request<MemorySample>('memory', {}, 10_000),
      ]);
      for (const value of fresh) latencies.push(value);
      const expected = published * clients;
      console.log(
        `[${String(Math.round(elapsedMs / 1000)).padStart(4)} s] published ${published}  delivered ${totals.frames - totals.duplicates}/${expected} (${expected - (totals.frames - totals.duplicates)} in flight)  ` +
          `latency p50 ${ms(percentile(fresh, 50))} p99 ${ms(percentile(fresh, 99))}  stack rss ${mb(mem.rss)} MB heap ${mb(mem.heapUsed)} MB  clients open ${totals.open}`,
      );
    };

    for (let seq = 0; seq < total; seq++) {
      const due = (seq * 1000) / rate;
      while (performance.now() - t0 < due) {
        const wait = due - (performance.now() - t0);
        if (performance.now() - t0 >= nextReport && nextReport <= phaseEnd) {
          await report(nextReport);
          nextReport += reportEvery * 1000;
          continue;
        }
        await sleep(Math.min(wait, 50));
      }
      if (!memoryStart && performance.now() - t0 >= warmup * 1000) {
        [memoryStart, clientsAtStart] = await Promise.all([
          stackProcess.request<MemorySample>('memory', { collect: true }, 30_000),
          clientsProcess.request<ClientTotals>('totals', {}, 10_000),
        ]);
        warmupLatencies = [...latencies.splice(0), ...(await clientsProcess.request<number[]>('latencies', {}, 30_000))];
        console.log(`warm-up done: stack rss ${mb(memoryStart.rss)} MB, heap ${mb(memoryStart.heapUsed)} MB after a full GC`);
      }
      const device = devicesConnected[seq % devices]!;
      const payload = JSON.stringify({ ts: Date.now(), seq, sentAt: wallClockMs() });
      await device.publishAsync(`devices/soak-${(seq % devices) + 1}/telemetry`, payload, { qos: 1 }).then(
        () => published++,
        () => publishErrors++,
      );
    }
    memoryStart ??= await stackProcess.request<MemorySample>('memory', { collect: true }, 30_000);
    clientsAtStart ??= await clientsProcess.request<ClientTotals>('totals', {}, 10_000);
    // What the stack kept up with while devices published: past its capacity, latency measures a queue.
    const publishSeconds = (performance.now() - t0) / 1000;
    const atPublishEnd = await clientsProcess.request<ClientTotals>('totals', {}, 10_000);
    const offered = (published * clients) / publishSeconds;
    const sustained = (atPublishEnd.frames - atPublishEnd.duplicates) / publishSeconds;

    // Drain: every invocation finished, then every frame arrived (or a bound passed).
    const drainStarted = performance.now();
    // A stack that fell behind drains its backlog here: bounded, and reported.
    await stackProcess.request('settled', {}, 600_000);
    const expectedDeliveries = published * clients;
    for (let i = 0; i < 200; i++) {
      const totals = await clientsProcess.request<ClientTotals>('totals', {}, 10_000);
      if (totals.frames - totals.duplicates >= expectedDeliveries) break;
      await sleep(100);
    }
    const drainMs = performance.now() - drainStarted;
    for (const value of await clientsProcess.request<number[]>('latencies', {}, 30_000)) latencies.push(value);
    const memoryEnd = await stackProcess.request<MemorySample>('memory', { collect: true }, 30_000);
    const totals = await clientsProcess.request<ClientTotals>('totals', {}, 10_000);
    const { received, missingBySeq } = await clientsProcess.request<{ received: number; missingBySeq: Record<string, number> }>('tally', { from: 0, to: published }, 60_000);
    const iot = await stackProcess.request<Record<string, number>>('iot', {}, 10_000);
    const lost = expectedDeliveries - received;
    // CPU per delivery after the warm-up: a figure that a busy machine disturbs far less than a rate.
    const measuredDeliveries = Math.max(1, totals.frames - (clientsAtStart.frames ?? 0));
    const stackCpuUs = ((memoryEnd.cpuMs - memoryStart.cpuMs) * 1000) / measuredDeliveries;
    const clientsCpuUs = (((totals.cpuMs ?? 0) - (clientsAtStart.cpuMs ?? 0)) * 1000) / measuredDeliveries;

    // The verdicts.
    const heapGrowth = memoryEnd.heapUsed - memoryStart.heapUsed;
    const rssGrowth = memoryEnd.rss - memoryStart.rss;
    // Flat: the heap after a full GC within 10% (or 10 MB, whichever is more) of where the warm-up left it.
    const heapFlat = heapGrowth <= Math.max(10 * MB, memoryStart.heapUsed * 0.1);

    console.log('');
    console.log(
      formatTable(
        [
          { figure: 'messages published', value: published, note: publishErrors ? `${publishErrors} publish errors` : '' },
          { figure: 'deliveries expected', value: expectedDeliveries, note: `${clients} clients x ${published} messages` },
          { figure: 'deliveries received', value: received, note: `${totals.duplicates} duplicate frames` },
          { figure: 'messages lost', value: lost, note: lost === 0 ? 'none' : `seqs: ${Object.keys(missingBySeq).slice(0, 10).join(', ')}` },
          { figure: 'latency p50 (ms)', value: round(percentile(latencies, 50), 1), note: `device publish -> client receipt, after the warm-up (warm-up p50 ${ms(percentile(warmupLatencies, 50))})` },
          { figure: 'latency p99 (ms)', value: round(percentile(latencies, 99), 1), note: `max ${ms(latencies.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY))} (warm-up p99 ${ms(percentile(warmupLatencies, 99))})` },
          { figure: 'stack rss start (MB)', value: mb(memoryStart.rss), note: 'after the warm-up' },
          { figure: 'stack rss end (MB)', value: mb(memoryEnd.rss), note: `growth ${mb(rssGrowth)} MB (the whole process: gateway, dynalite, function threads)` },
          { figure: 'stack heap start (MB)', value: mb(memoryStart.heapUsed), note: 'main thread, after a full GC' },
          { figure: 'stack heap end (MB)', value: mb(memoryEnd.heapUsed), note: `growth ${mb(heapGrowth)} MB: ${heapFlat ? 'flat' : 'GROWING'}` },
          { figure: 'deliveries/s offered', value: Math.round(offered), note: `${clients} clients x ${rate} msg/s` },
          { figure: 'deliveries/s sustained', value: Math.round(sustained), note: sustained < offered * 0.95 ? 'FELL BEHIND: past this machine\'s capacity, latency measures the queue' : 'kept up' },
          { figure: 'stack CPU per delivery (µs)', value: round(stackCpuUs, 1), note: 'after the warm-up: gateway, @connections, dynalite, broker, function threads' },
          { figure: 'clients CPU per delivery (µs)', value: round(clientsCpuUs, 1), note: `the clients' process; 2 cores / (stack + clients) ≈ ${Math.round(2e6 / Math.max(1, stackCpuUs + clientsCpuUs)).toLocaleString('en-US')} deliveries/s on an idle machine` },
          { figure: 'drain (ms)', value: Math.round(drainMs), note: 'last publish -> last frame' },
          { figure: 'rule invocations failed', value: iot.failed ?? 0, note: `${iot.invoked ?? 0} invoked` },
        ],
        [
          { title: 'figure', value: (r) => r.figure },
          { title: 'value', value: (r) => r.value },
          { title: 'note', value: (r) => r.note },
        ],
      ),
    );
    console.log(
      `soak ${JSON.stringify({ clients, rate, seconds, warmup, published, offeredPerS: Math.round(offered), sustainedPerS: Math.round(sustained), lost, duplicates: totals.duplicates, p50Ms: round(percentile(latencies, 50), 2), p99Ms: round(percentile(latencies, 99), 2), stackCpuUsPerDelivery: round(stackCpuUs, 1), clientsCpuUsPerDelivery: round(clientsCpuUs, 1), rssStartMb: mb(memoryStart.rss), rssEndMb: mb(memoryEnd.rss), heapStartMb: mb(memoryStart.heapUsed), heapEndMb: mb(memoryEnd.heapUsed), heapFlat })}`,
    );
    await clientsProcess.request('closeAll', {}, 30_000);
    if (lost > 0) console.error(`FAIL: ${lost} deliveries lost`);
    if (lost > 0 && sustained < offered * 0.95) {
      console.error(
        `      the stack fell behind (${Math.round(sustained)} of ${Math.round(offered)} deliveries/s). A fan-out that runs short of time hands the rest on, ` +
          `and sheds a reading only past FanoutMaxEventAgeSeconds (its recipients then get a resync frame): SOAK_STACK_LOG=FILE keeps the stack's warnings ("shed a reading", "delivery failed"). ` +
          `npm run soak -- --find-capacity finds the rate this machine holds.`,
      );
    }
    if (!heapFlat) console.error(`FAIL: the stack's heap grew ${mb(heapGrowth)} MB after the warm-up`);
    return lost > 0 || !heapFlat ? 1 : 0;
  } finally {
    await Promise.all(devicesConnected.map((d) => d.endAsync().catch(() => undefined)));
    await Promise.all([clientsChild?.stop(), stackChild?.stop()]);
  }
};

const role = process.env.SOAK_ROLE;
if (role === 'stack') {
  runStackProcess().catch((error: Error) => {
    console.error(`the stack did not start: ${error.stack ?? error}`);
    process.exit(1);
  });
} else if (role === 'clients') {
  runClientsProcess();
} else {
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(`soak failed: ${error.message}`);
      process.exit(1);
    },
  );
}
