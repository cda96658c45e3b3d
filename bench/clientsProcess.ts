/**
 * Dashboards, in their own process: N real `ws` clients attached to the
 * gateway. Each records when it received each frame (keyed by the frame's
 * `id`), on the machine's wall clock at sub-millisecond resolution, so the
 * bench can compute delivery latency from its own start timestamps.
 */
import WebSocket from 'ws';
import { serveParent } from './processes.js';
import { wallClockMs } from './stats.js';

const sockets = new Set<WebSocket>();
/** Receipt times by frame id. */
const receipts = new Map<string, number[]>();
const waiters = new Set<() => void>();

/** Frames received and what API Gateway bills for them (32 KB units), since the last `frameStats`. */
const frames = { frames: 0, billedUnits: 0, batchFrames: 0 };

const record = (id: unknown, at: number) => {
  if (typeof id !== 'string') return;
  let times = receipts.get(id);
  if (!times) receipts.set(id, (times = []));
  times.push(at);
};

const onFrame = (data: Buffer) => {
  const at = wallClockMs();
  let frame: { id?: unknown; type?: unknown; readings?: { id?: unknown }[] };
  try {
    frame = JSON.parse(data.toString('utf8')) as typeof frame;
  } catch {
    return;
  }
  frames.frames++;
  frames.billedUnits += Math.max(1, Math.ceil(data.length / (32 * 1024)));
  // A telemetry-batch frame: each reading counts as a telemetry frame received at this moment.
  if (frame.type === 'telemetry-batch' && Array.isArray(frame.readings)) {
    frames.batchFrames++;
    for (const reading of frame.readings) record(reading?.id, at);
  } else record(frame.id, at);
  if (waiters.size > 0) for (const wake of waiters) wake();
};

/**
 * For readings sent at known times: per-delivery latency percentiles, lost and duplicated deliveries (expected
 * receipts per reading: `expected`), frames and billed units; then forgets all of it.
 */
const summary = ({ sent, expected }: { sent: Record<string, number>; expected: number }) => {
  const latencies: number[] = [];
  let lost = 0;
  let duplicates = 0;
  for (const [id, sentAt] of Object.entries(sent)) {
    const times = receipts.get(id) ?? [];
    for (const t of times) latencies.push(t - sentAt);
    lost += Math.max(0, expected - times.length);
    duplicates += Math.max(0, times.length - expected);
  }
  latencies.sort((a, b) => a - b);
  const at = (p: number) => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!);
  const out = { deliveries: latencies.length, lost, duplicates, p50Ms: at(50), p99Ms: at(99), ...frames };
  receipts.clear();
  Object.assign(frames, { frames: 0, billedUnits: 0, batchFrames: 0 });
  return out;
};

/** Waits until `count` receipts in all have arrived (or `timeoutMs`). */
const awaitReceipts = ({ count, timeoutMs }: { count: number; timeoutMs: number }) =>
  new Promise<number>((resolve) => {
    const total = () => [...receipts.values()].reduce((n, t) => n + t.length, 0);
    const started = Date.now();
    const tick = () => {
      const n = total();
      if (n >= count || Date.now() - started > timeoutMs) return resolve(n);
      setTimeout(tick, 100);
    };
    tick();
  });

const open = (url: string, timeoutMs: number) =>
  new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, perMessageDeflate: false });
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => undefined);
      sockets.add(ws);
      resolve();
    });
    ws.once('error', reject);
    ws.on('message', onFrame);
    ws.on('close', () => sockets.delete(ws));
  });

/** Opens `count` more connections, `parallel` at a time. */
const connect = async ({ url, count, parallel = 32, timeoutMs = 20_000 }: { url: string; count: number; parallel?: number; timeoutMs?: number }) => {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      await open(url, timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return sockets.size;
};

const closeAll = async ({ timeoutMs = 10_000 }: { timeoutMs?: number } = {}) => {
  const closing = [...sockets].map(
    (ws) =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(1000);
      }),
  );
  const timer = setTimeout(() => {
    for (const ws of sockets) ws.terminate();
  }, timeoutMs);
  await Promise.all(closing);
  clearTimeout(timer);
  return sockets.size;
};

/** Receipt times of frame `id` once `expected` have arrived, or whatever arrived within `timeoutMs`. Forgets them. */
const collect = ({ id, expected, timeoutMs }: { id: string; expected: number; timeoutMs: number }) =>
  new Promise<number[]>((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      waiters.delete(check);
      const times = receipts.get(id) ?? [];
      receipts.delete(id);
      resolve(times);
    };
    const check = () => {
      if ((receipts.get(id)?.length ?? 0) >= expected) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    waiters.add(check);
    check();
  });

serveParent(
  { pid: process.pid },
  {
    connect,
    closeAll,
    collect,
    summary,
    awaitReceipts,
  },
  async () => {
    await closeAll({ timeoutMs: 3000 });
  },
);
