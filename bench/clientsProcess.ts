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

const onFrame = (data: Buffer) => {
  const at = wallClockMs();
  let id: unknown;
  try {
    id = (JSON.parse(data.toString('utf8')) as { id?: unknown }).id;
  } catch {
    return;
  }
  if (typeof id !== 'string') return;
  let times = receipts.get(id);
  if (!times) receipts.set(id, (times = []));
  times.push(at);
  if (waiters.size > 0) for (const wake of waiters) wake();
};

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
  },
  async () => {
    await closeAll({ timeoutMs: 3000 });
  },
);
