/**
 * Child processes for the benchmarks: the local stack and the WebSocket
 * clients run outside the bench process, so that `process.cpuUsage()` here
 * counts only the fan-out being measured.
 *
 * Parent side: `spawnChild` forks a TypeScript file under tsx, waits for its
 * `ready` message (bounded), and sends it requests over the IPC channel, each
 * with its own timeout. Every child is killed, by its pid, when the bench
 * exits, fails or is interrupted.
 * Child side: `serveParent` answers those requests and exits when the parent
 * goes away, so no child outlives a killed bench.
 */
import { type ChildProcess, fork } from 'node:child_process';

type Message = { type: 'ready'; info: unknown } | { type: 'reply'; id: number; result?: unknown; error?: string };

export interface Child<Info> {
  readonly info: Info;
  readonly pid: number;
  request<T>(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop; kills it if it has not exited within `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHooksInstalled = false;

const killAll = () => {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  running.clear();
};

const installExitHooks = () => {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping the benchmark's child processes`);
      killAll();
      process.exit(130);
    });
  }
};

export const spawnChild = <Info>(
  file: string,
  { name, readyTimeoutMs = 60_000, env, execArgv = [] }: { name: string; readyTimeoutMs?: number; env?: Record<string, string>; execArgv?: string[] },
): Promise<Child<Info>> => {
  installExitHooks();
  const child = fork(file, [], {
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  running.add(child);
  // The last lines a child printed, for the error message when it fails.
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const describeExit = () => `${name} (pid ${child.pid}) exited (${child.exitCode ?? child.signalCode})${tail.length ? `:\n  ${tail.join('\n  ')}` : ''}`;

  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(describeExit()));
      }
      pending.clear();
      resolve();
    }),
  );

  return new Promise((resolve, reject) => {
    const readyTimer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} was not ready within ${readyTimeoutMs} ms${tail.length ? `:\n  ${tail.join('\n  ')}` : ''}`));
    }, readyTimeoutMs);
    void exited.then(() => {
      clearTimeout(readyTimer);
      reject(new Error(describeExit()));
    });
    child.on('message', (message: Message) => {
      if (message.type === 'reply') {
        const p = pending.get(message.id);
        if (!p) return;
        pending.delete(message.id);
        clearTimeout(p.timer);
        if (message.error !== undefined) p.reject(new Error(`${name}: ${message.error}`));
        else p.resolve(message.result);
        return;
      }
      if (message.type !== 'ready') return;
      clearTimeout(readyTimer);
      resolve({
        info: message.info as Info,
        pid: child.pid!,
        request: <T>(command: string, args: Record<string, unknown> = {}, timeoutMs = 60_000) =>
          new Promise<T>((done, fail) => {
            if (!child.connected) return fail(new Error(describeExit()));
            const id = ++nextId;
            const timer = setTimeout(() => {
              pending.delete(id);
              fail(new Error(`${name}: ${command} did not answer within ${timeoutMs} ms`));
            }, timeoutMs);
            pending.set(id, { resolve: done as (v: unknown) => void, reject: fail, timer });
            child.send({ id, command, args });
          }),
        stop: async (timeoutMs = 15_000) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          if (child.connected) child.send({ id: 0, command: 'stop', args: {} });
          const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
};

export type Handlers = Record<string, (args: any) => Promise<unknown> | unknown>;

/** The child's side: announces `info` once set up, answers requests, and stops on `stop` or when the parent is gone. */
export const serveParent = (info: unknown, handlers: Handlers, stop: () => Promise<void>) => {
  if (!process.send) throw new Error('run this file through the bench (it needs an IPC channel to its parent)');
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(code), 10_000);
    force.unref();
    await stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('disconnect', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.on('message', async ({ id, command, args }: { id: number; command: string; args: Record<string, unknown> }) => {
    if (command === 'stop') return void shutdown(0);
    const handler = handlers[command];
    try {
      if (!handler) throw new Error(`unknown command ${command}`);
      const result = await handler(args);
      process.send?.({ type: 'reply', id, result });
    } catch (error) {
      process.send?.({ type: 'reply', id, error: (error as Error).stack ?? String(error) });
    }
  });
  process.send({ type: 'ready', info });
};
