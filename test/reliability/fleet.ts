/**
 * A fleet of dashboards in a child process, so that hundreds of sockets do
 * not share a core with the gateway they load: stable clients that count
 * every telemetry frame by `data.seq`, and churners that connect and leave at
 * a steady rate, some with a close frame and some killed without one.
 *
 * Parent side: `startFleet()` forks this file and sends it commands over IPC,
 * each with a timeout; `stop()` ends it, by its pid, if it does not exit.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export interface ChurnResult {
  started: number;
  opened: number;
  /** Upgrades refused or failed (should be 0). */
  failed: number;
  closedCleanly: number;
  killed: number;
  /** Churners still open when the churn ended (live connections too). */
  stillOpen: number;
}

export interface StableReport {
  clients: number;
  open: number;
  /** Per client: the seqs it never received. */
  missing: number[][];
  /** Frames received more than once for the same seq. */
  duplicates: number;
  /** Seqs that arrived under two different ids. */
  conflictingIds: number;
}

export interface Fleet {
  readonly pid: number;
  /** Opens `count` clients that stay; resolves once all are open. */
  stable(args: { url: string; count: number; parallel?: number }): Promise<number>;
  /** Connects `perSecond` churners a second for `seconds`, each living 200 ms-2 s, `killRatio` of them killed without a close frame. */
  churn(args: { url: string; perSecond: number; seconds: number; killRatio: number }): Promise<ChurnResult>;
  /** How many stable clients hold every seq in 0..expected-1. */
  complete(args: { expected: number }): Promise<number>;
  report(args: { expected: number }): Promise<StableReport>;
  stop(): Promise<void>;
}

type Request = { id: number; command: string; args: Record<string, unknown> };
type Reply = { id: number; result?: unknown; error?: string };

const THIS_FILE = fileURLToPath(import.meta.url);

export const startFleet = (): Promise<Fleet> => {
  const child: ChildProcess = fork(THIS_FILE, ['--fleet-child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  let nextId = 0;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`the fleet process exited (${code ?? signal})`));
      }
      pending.clear();
      resolve();
    }),
  );
  child.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    clearTimeout(p.timer);
    if (reply.error !== undefined) p.reject(new Error(`fleet: ${reply.error}`));
    else p.resolve(reply.result);
  });
  const call = <T>(command: string, args: object, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      if (!child.connected) return reject(new Error('the fleet process is gone'));
      const id = ++nextId;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`fleet: ${command} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      child.send({ id, command, args: args as Record<string, unknown> } satisfies Request);
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the fleet process did not start within 30 s'));
    }, 30_000);
    child.once('message', (message: { ready?: boolean }) => {
      clearTimeout(timer);
      if (!message.ready) return reject(new Error('the fleet process did not announce itself'));
      resolve({
        pid: child.pid!,
        stable: (args) => call('stable', args, 60_000),
        churn: (args) => call('churn', args, (args.seconds + 30) * 1000),
        complete: (args) => call('complete', args, 10_000),
        report: (args) => call('report', args, 30_000),
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          if (child.connected) child.send({ id: 0, command: 'stop', args: {} } satisfies Request);
          const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(kill);
        },
      });
    });
    void exited.then(() => reject(new Error('the fleet process exited before it was ready')));
  });
};

// ---------------------------------------------------------------- the child

const runChild = () => {
  const stableClients: { ws: WebSocket; seen: Map<number, { ids: Set<string>; count: number }> }[] = [];
  const churners = new Set<WebSocket>();
  const timers = new Set<NodeJS.Timeout>();

  const open = (url: string, onMessage?: (data: Buffer) => void) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: 30_000, perMessageDeflate: false });
      ws.once('error', reject);
      ws.once('open', () => {
        ws.off('error', reject);
        ws.on('error', () => undefined);
        resolve(ws);
      });
      if (onMessage) ws.on('message', onMessage);
    });

  const stable = async ({ url, count, parallel = 20 }: { url: string; count: number; parallel?: number }) => {
    let started = 0;
    const worker = async () => {
      while (started < count) {
        started++;
        const seen = new Map<number, { ids: Set<string>; count: number }>();
        const ws = await open(url, (data) => {
          let frame: { type?: string; id?: string; data?: { seq?: number } };
          try {
            frame = JSON.parse(data.toString('utf8'));
          } catch {
            return;
          }
          if (frame.type !== 'telemetry' || typeof frame.data?.seq !== 'number') return;
          let entry = seen.get(frame.data.seq);
          if (!entry) seen.set(frame.data.seq, (entry = { ids: new Set(), count: 0 }));
          entry.ids.add(String(frame.id));
          entry.count++;
        });
        stableClients.push({ ws, seen });
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
    return stableClients.length;
  };

  const churn = ({ url, perSecond, seconds, killRatio }: { url: string; perSecond: number; seconds: number; killRatio: number }) =>
    new Promise<ChurnResult>((resolve) => {
      const result: ChurnResult = { started: 0, opened: 0, failed: 0, closedCleanly: 0, killed: 0, stillOpen: 0 };
      const total = Math.round(perSecond * seconds);
      const inFlight = new Set<Promise<void>>();
      const startedAt = Date.now();
      const one = async (index: number) => {
        let ws: WebSocket;
        try {
          ws = await open(url);
        } catch {
          result.failed++;
          return;
        }
        result.opened++;
        churners.add(ws);
        // Lives 200 ms to 2 s from its open; the ones whose life runs past the end of the schedule stay open (live at
        // the end). Decided by the index, not the clock: a loaded machine that opens them late still kills and closes
        // the same ones.
        const lifeMs = 200 + ((index * 7919) % 1800);
        if ((index * 1000) / perSecond + lifeMs > seconds * 1000) return;
        await new Promise<void>((done) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            churners.delete(ws);
            if (index % Math.round(1 / Math.max(killRatio, 1e-9)) === 0) {
              // No close frame: the TCP connection just ends, like a laptop lid or a dead network.
              (ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
              result.killed++;
            } else {
              ws.close(1000);
              result.closedCleanly++;
            }
            done();
          }, lifeMs);
          timers.add(timer);
        });
      };
      let index = 0;
      const tick = setInterval(() => {
        const due = Math.min(total, Math.floor(((Date.now() - startedAt) / 1000) * perSecond) + 1);
        while (index < due) {
          const promise = one(index++).finally(() => inFlight.delete(promise));
          inFlight.add(promise);
          result.started++;
        }
        if (index >= total) {
          clearInterval(tick);
          void (async () => {
            while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
            result.stillOpen = [...churners].filter((ws) => ws.readyState === WebSocket.OPEN).length;
            resolve(result);
          })();
        }
      }, 10);
    });

  const completeCount = ({ expected }: { expected: number }) =>
    stableClients.filter(({ seen }) => {
      for (let seq = 0; seq < expected; seq++) if (!seen.has(seq)) return false;
      return true;
    }).length;

  const report = ({ expected }: { expected: number }): StableReport => {
    const out: StableReport = { clients: stableClients.length, open: 0, missing: [], duplicates: 0, conflictingIds: 0 };
    for (const { ws, seen } of stableClients) {
      if (ws.readyState === WebSocket.OPEN) out.open++;
      const missing: number[] = [];
      for (let seq = 0; seq < expected; seq++) if (!seen.has(seq)) missing.push(seq);
      if (missing.length > 0) out.missing.push(missing);
      for (const entry of seen.values()) {
        out.duplicates += entry.count - 1;
        if (entry.ids.size > 1) out.conflictingIds++;
      }
    }
    return out;
  };

  const stop = () => {
    for (const timer of timers) clearTimeout(timer);
    for (const { ws } of stableClients) ws.terminate();
    for (const ws of churners) ws.terminate();
    process.exit(0);
  };

  const handlers: Record<string, (args: any) => unknown> = { stable, churn, complete: completeCount, report };
  process.on('disconnect', stop);
  process.on('message', async ({ id, command, args }: Request) => {
    if (command === 'stop') return stop();
    try {
      const handler = handlers[command];
      if (!handler) throw new Error(`unknown command ${command}`);
      process.send!({ id, result: await handler(args) } satisfies Reply);
    } catch (error) {
      process.send!({ id, error: (error as Error).stack ?? String(error) } satisfies Reply);
    }
  });
  process.send!({ ready: true });
};

if (process.argv.includes('--fleet-child') && process.send) runChild();
