/**
 * Runs inside a worker thread: the local stand-in for one Lambda execution
 * environment. The thread's process.env is the function's environment (set by
 * the host before anything loads), so the handler module reads its config at
 * import time exactly as it does on AWS. Events arrive as JSON text and results
 * leave as JSON, as they do through the Lambda runtime API.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface WorkerData {
  entryUrl: string;
  exportName: string;
  functionName: string;
  functionArn: string;
  memoryMb: number;
  logGroupName: string;
  logStreamName: string;
}

/** An injected fault: the runtime crashes, or the thread freezes until the host's timeout ends it. */
export interface WorkerFault {
  kind: 'crash' | 'timeout';
  /** Strikes this long into the invocation, or as the handler returns (before its result is sent), whichever is first. */
  afterMs: number;
}

export type HostToWorker = { type: 'invoke'; id: number; event: string; requestId: string; deadline: number; fault?: WorkerFault };

export interface SerializedError {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

export type WorkerToHost =
  | { type: 'ready'; initMs: number }
  | { type: 'initError'; error: SerializedError }
  | { type: 'result'; id: number; result: string }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'log'; stream: 'stdout' | 'stderr'; text: string };

export const serializeError = (error: unknown): SerializedError => {
  if (error instanceof Error) {
    return { errorType: error.name || 'Error', errorMessage: error.message, trace: (error.stack ?? '').split('\n') };
  }
  return { errorType: 'Error', errorMessage: typeof error === 'string' ? error : JSON.stringify(error) ?? String(error), trace: [] };
};

type Handler = (event: unknown, context: unknown, callback?: (error?: unknown, result?: unknown) => void) => unknown;

const data = workerData as WorkerData;
const port = parentPort!;
const started = performance.now();

/**
 * The function's stdout and stderr travel on the same port as its results, so that the host has every
 * line an invocation logged before it has the invocation's result (the worker's own pipes are a
 * separate channel, read whenever the host's event loop gets to them).
 */
const forwardOutput = (stream: 'stdout' | 'stderr') => {
  const target = process[stream];
  target.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((error?: Error | null) => void), callback?: (error?: Error | null) => void) => {
    const done = typeof encoding === 'function' ? encoding : callback;
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    port.postMessage({ type: 'log', stream, text } satisfies WorkerToHost);
    if (done) queueMicrotask(() => done(null));
    return true;
  }) as typeof target.write;
};
forwardOutput('stdout');
forwardOutput('stderr');

/** Longest a frozen thread stays frozen, should the host's terminate() not end it first. */
const MAX_FREEZE_MS = 15 * 60 * 1000;

const strike = (fault: WorkerFault, requestId: string) => {
  if (fault.kind === 'crash') {
    // Uncaught, like a bug that takes the runtime down. The host gives a doomed invocation a sandbox of its own, so only it fails.
    setImmediate(() => {
      throw Object.assign(new Error(`injected crash (FAULTS invoke:crash) during ${requestId}`), { name: 'InjectedCrash' });
    });
    return;
  }
  // The thread stops dead (a deadlock, a hung socket read): nothing more runs until the host's timeout terminates it.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, MAX_FREEZE_MS);
};

const callHandler = (handler: Handler, event: unknown, context: unknown): Promise<unknown> => {
  if (handler.length >= 3) {
    // Callback-style handler: the first of the callback and a returned promise wins.
    return new Promise((resolve, reject) => {
      const returned = handler(event, context, (error, result) => (error ? reject(error) : resolve(result)));
      if (returned && typeof (returned as Promise<unknown>).then === 'function') (returned as Promise<unknown>).then(resolve, reject);
    });
  }
  return Promise.resolve().then(() => handler(event, context));
};

const main = async () => {
  let handler: Handler;
  try {
    const module = (await import(data.entryUrl)) as Record<string, unknown>;
    const exported = module[data.exportName] ?? (module.default as Record<string, unknown> | undefined)?.[data.exportName];
    if (typeof exported !== 'function') {
      throw Object.assign(new Error(`${data.entryUrl.split('/').slice(-2).join('/')} does not export a function named "${data.exportName}"`), {
        name: 'Runtime.HandlerNotFound',
      });
    }
    handler = exported as Handler;
  } catch (error) {
    port.postMessage({ type: 'initError', error: serializeError(error) } satisfies WorkerToHost);
    return;
  }
  port.postMessage({ type: 'ready', initMs: performance.now() - started } satisfies WorkerToHost);

  port.on('message', (message: HostToWorker) => {
    if (message.type !== 'invoke') return;
    const { id, requestId, deadline, fault } = message;
    let struck = false;
    const strikeOnce = () => {
      if (struck || !fault) return;
      struck = true;
      strike(fault, requestId);
    };
    if (fault) setTimeout(strikeOnce, fault.afterMs);
    const context = {
      callbackWaitsForEmptyEventLoop: true,
      functionName: data.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: data.functionArn,
      memoryLimitInMB: String(data.memoryMb),
      awsRequestId: requestId,
      logGroupName: data.logGroupName,
      logStreamName: data.logStreamName,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
    let event: unknown;
    try {
      event = JSON.parse(message.event);
    } catch (error) {
      port.postMessage({ type: 'error', id, error: serializeError(error) } satisfies WorkerToHost);
      return;
    }
    callHandler(handler, event, context).then(
      (result) => {
        if (fault) return strikeOnce();
        let json: string;
        try {
          json = JSON.stringify(result ?? null);
        } catch (error) {
          port.postMessage({ type: 'error', id, error: { ...serializeError(error), errorType: 'Runtime.MalformedHandlerResult' } } satisfies WorkerToHost);
          return;
        }
        port.postMessage({ type: 'result', id, result: json } satisfies WorkerToHost);
      },
      (error) => {
        if (fault) return strikeOnce();
        port.postMessage({ type: 'error', id, error: serializeError(error) } satisfies WorkerToHost);
      },
    );
  });
};

void main();
