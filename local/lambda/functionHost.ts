/**
 * Lambda, locally: each function runs in its own worker thread, whose
 * process.env is exactly that function's environment.
 *
 * Why worker threads rather than importing the handlers into this thread:
 * handlers read their config at module load, and an ES module loads
 * once per thread. In one thread, two functions would see one process.env, and
 * a second stack in the same process (tests, benchmarks) would reuse the first
 * stack's modules, pointed at the first stack's ports. A worker per function
 * gives each its own module graph and env, lets a timed-out or crashed
 * "sandbox" be thrown away like Lambda does, and runs the fan-out on the
 * second core while this thread serves the sockets.
 *
 * Invocations run concurrently inside one worker (one warm sandbox serving
 * what Lambda would spread over several), each with its own context and
 * deadline. Events and results cross as JSON, as through the Runtime API.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { HostToWorker, SerializedError, WorkerData, WorkerFault, WorkerToHost } from './functionWorker.js';
import type { FunctionSpec } from '../template/stackModel.js';

/** An invocation's failure, shaped like the Lambda Invoke API's error payload. */
export class FunctionError extends Error {
  readonly errorType: string;
  readonly trace: string[];
  constructor({ errorType, errorMessage, trace }: SerializedError) {
    super(errorMessage);
    this.name = errorType;
    this.errorType = errorType;
    this.trace = trace;
  }
  toJSON(): SerializedError {
    return { errorType: this.errorType, errorMessage: this.message, trace: this.trace };
  }
}

export interface Invocation {
  requestId: string;
  result: unknown;
  durationMs: number;
}

export interface FunctionHost {
  readonly spec: FunctionSpec;
  /** Starts the sandbox (the cold start). Resolves either way; `initError` tells whether the handler loaded. */
  start(): Promise<{ initMs: number; initError?: FunctionError }>;
  /** A synchronous (RequestResponse) invocation. Rejects with FunctionError. `fault` crashes or freezes its sandbox (FAULTS=invoke:...). */
  invoke(event: unknown, options?: { requestId?: string; fault?: WorkerFault }): Promise<Invocation>;
  stop(): Promise<void>;
}

export interface FunctionHostOptions {
  spec: FunctionSpec;
  env: Record<string, string>;
  /** One line of the function's stdout/stderr. */
  onLog: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Overrides the template's Timeout. */
  timeoutMs?: number;
}

const WORKER_URL = new URL('./functionWorker.ts', import.meta.url).href;
// tsx's loader is registered inside each worker, so the worker (and the handler it imports) can be TypeScript.
const TSX_API_URL = import.meta.resolve('tsx/esm/api');
const BOOT = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApiUrl).then((tsx) => { tsx.register(); return import(workerData.workerUrl); });
`;

interface Pending {
  resolve: (value: Invocation) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  started: number;
  requestId: string;
  timeoutMs: number;
}

const timedOut = (requestId: string, timeoutMs: number) =>
  new FunctionError({
    errorType: 'Sandbox.Timedout',
    errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
    trace: [],
  });

/** One worker: Lambda's execution environment. Thrown away after a crash or a timeout. */
class Sandbox {
  readonly worker: Worker;
  readonly ready: Promise<{ initMs: number; initError?: FunctionError }>;
  readonly pending = new Map<number, Pending>();
  initError?: FunctionError;
  retired = false;
  exited = false;
  /** The handler loaded: a later crash is a runtime exit, not an init error. */
  started = false;
  private nextId = 1;

  constructor(
    private readonly options: FunctionHostOptions,
    private readonly onExit: (sandbox: Sandbox) => void,
  ) {
    const { spec, env, onLog } = options;
    const data: WorkerData & { tsxApiUrl: string; workerUrl: string } = {
      tsxApiUrl: TSX_API_URL,
      workerUrl: WORKER_URL,
      entryUrl: pathToFileURL(spec.entryFile).href,
      exportName: spec.exportName,
      functionName: spec.name,
      functionArn: spec.arn,
      memoryMb: spec.memoryMb,
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? `/aws/lambda/${spec.name}`,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? 'local',
    };
    this.worker = new Worker(BOOT, {
      eval: true,
      workerData: data,
      env,
      stdout: true,
      stderr: true,
      // The template's MemorySize bounds the heap, as the sandbox's memory does on AWS.
      resourceLimits: { maxOldGenerationSizeMb: Math.max(128, spec.memoryMb) },
    });
    // The function's output arrives as 'log' messages on the result port (so every line of an invocation is here
    // before its result); anything written past the forwarded streams still comes through the worker's own pipes.
    const rest = { stdout: '', stderr: '' };
    const feed = (stream: 'stdout' | 'stderr', text: string) => {
      const lines = (rest[stream] + text).split('\n');
      rest[stream] = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onLog(line, stream);
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      this.worker[stream].setEncoding('utf8');
      this.worker[stream].on('data', (chunk: string) => feed(stream, chunk));
      this.worker[stream].on('end', () => {
        if (rest[stream].trim() !== '') onLog(rest[stream], stream);
        rest[stream] = '';
      });
    }

    this.ready = new Promise((resolve) => {
      const onMessage = (message: WorkerToHost) => {
        if (message.type === 'ready') {
          this.started = true;
          resolve({ initMs: message.initMs });
        } else if (message.type === 'initError') {
          this.initError = new FunctionError(message.error);
          resolve({ initMs: 0, initError: this.initError });
        } else if (message.type === 'result' || message.type === 'error') this.settle(message);
        else if (message.type === 'log') feed(message.stream, message.text);
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', (error) => {
        // An uncaught exception or unhandled rejection: the runtime exits, as Lambda's does, and the
        // next invocation gets a fresh sandbox (a cold start).
        const exitError = new FunctionError({ errorType: 'Runtime.ExitError', errorMessage: `Runtime exited with error: ${error.message}`, trace: (error.stack ?? '').split('\n') });
        this.retired = true;
        this.onExit(this);
        this.fail(exitError);
        if (!this.started) this.initError ??= exitError;
        resolve({ initMs: 0, initError: this.initError ?? exitError });
      });
      this.worker.on('exit', (code) => {
        this.exited = true;
        this.fail(new FunctionError({ errorType: 'Runtime.ExitError', errorMessage: `Runtime exited with status ${code}`, trace: [] }));
        resolve({ initMs: 0, initError: this.initError ?? new FunctionError({ errorType: 'Runtime.ExitError', errorMessage: `Runtime exited with status ${code}`, trace: [] }) });
        this.onExit(this);
      });
    });
  }

  invoke(event: unknown, requestId: string, timeoutMs: number, fault?: WorkerFault): Promise<Invocation> {
    const id = this.nextId++;
    const started = performance.now();
    const deadline = Date.now() + timeoutMs;
    const json = JSON.stringify(event ?? null);
    return new Promise<Invocation>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(timedOut(requestId, timeoutMs));
        // Lambda resets the environment after a timeout: no new work goes to this one.
        this.retire();
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, started, requestId, timeoutMs });
      this.worker.postMessage({ type: 'invoke', id, event: json, requestId, deadline, ...(fault ? { fault } : {}) } satisfies HostToWorker);
    });
  }

  private settle(message: Extract<WorkerToHost, { type: 'result' | 'error' }>) {
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    const durationMs = performance.now() - pending.started;
    if (durationMs > pending.timeoutMs) {
      // The answer came after the limit, but before the timer ran (a busy event loop serves the
      // worker's message first): Lambda would have stopped it, so it is a timeout all the same.
      pending.reject(timedOut(pending.requestId, pending.timeoutMs));
      this.retire();
      return;
    }
    if (message.type === 'error') pending.reject(new FunctionError(message.error));
    else pending.resolve({ requestId: pending.requestId, result: JSON.parse(message.result), durationMs });
    if (this.retired && this.pending.size === 0) void this.worker.terminate();
  }

  private fail(error: FunctionError) {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.pending.delete(id);
    }
  }

  /** Takes no new invocations; terminates once the ones in flight are done. */
  retire() {
    this.retired = true;
    this.onExit(this);
    if (this.pending.size === 0) void this.worker.terminate();
  }

  async terminate() {
    this.retired = true;
    this.fail(new FunctionError({ errorType: 'Runtime.Stopped', errorMessage: 'the local stack is stopping', trace: [] }));
    if (!this.exited) await this.worker.terminate();
  }
}

export const createFunctionHost = (options: FunctionHostOptions): FunctionHost => {
  const { spec } = options;
  const timeoutMs = options.timeoutMs ?? spec.timeoutSeconds * 1000;
  let current: Sandbox | undefined;
  const all = new Set<Sandbox>();
  let stopped = false;

  const create = (): Sandbox => {
    const created = new Sandbox(options, (gone) => {
      if (current === gone) current = undefined;
      if (gone.exited) all.delete(gone);
    });
    all.add(created);
    return created;
  };
  const sandbox = (): Sandbox => {
    if (current && !current.retired && !current.exited) return current;
    current = create();
    return current;
  };

  return {
    spec,
    start: () => sandbox().ready,
    async invoke(event, { requestId = randomUUID(), fault } = {}) {
      if (stopped) throw new FunctionError({ errorType: 'Runtime.Stopped', errorMessage: `${spec.logicalId}: the local stack has stopped`, trace: [] });
      // One sandbox serves many invocations at once here, where Lambda gives each its own: an invocation
      // doomed to crash or hang gets a sandbox of its own, so that it takes down no other invocation.
      const box = fault ? create() : sandbox();
      const { initError } = await box.ready;
      if (initError) {
        // Like Lambda, a failed init is retried by the next invocation's cold start.
        box.retire();
        throw initError;
      }
      return box.invoke(event, requestId, timeoutMs, fault);
    },
    async stop() {
      stopped = true;
      await Promise.all([...all].map((box) => box.terminate()));
      all.clear();
      current = undefined;
    },
  };
};
