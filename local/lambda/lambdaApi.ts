/**
 * The Lambda Invoke API, locally (`POST /2015-03-31/functions/{name}/invocations`),
 * on its own ephemeral 127.0.0.1 port. Functions reach it through
 * LAMBDA_ENDPOINT with the real `LambdaClient`: the telemetry function hands
 * large fan-outs to FanoutWorkerFunction this way (InvocationType Event).
 * `aws lambda invoke --endpoint-url` works against it too.
 * https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AsyncInvoker, type AsyncInvokerOptions, createAsyncInvoker } from './asyncInvoke.js';
import { FunctionError } from './functionHost.js';
import { functionNameFromArn } from '../template/stackModel.js';

/** 6 MB synchronous and 256 KB asynchronous: Lambda's invocation payload quotas. */
export const MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;
export const MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024;

export interface LambdaApiOptions {
  /** Function names (and logical ids) → logical id. */
  resolveFunction: (nameOrArn: string) => string | undefined;
  invoke: (functionId: string, event: unknown, mode: 'RequestResponse' | 'Event', attempt: number) => Promise<unknown>;
  retryDelaysMs?: number[];
  /** Asynchronous (Event) invocations running at once; the rest wait in the queue. */
  asyncConcurrency?: number;
  /** A failed Event invocation, after its retries: the stack sends it to the function's OnFailure destination. */
  onExhausted?: AsyncInvokerOptions['onExhausted'];
  log: (level: 'info' | 'warn' | 'error', text: string) => void;
  region: string;
  accountId: string;
}

export interface LambdaApi {
  listen(host: string): Promise<string>;
  settled(): Promise<void>;
  close(): Promise<void>;
}

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?(?:\?.*)?$/;

export const createLambdaApi = (options: LambdaApiOptions): LambdaApi => {
  const { resolveFunction, invoke, log } = options;
  const queue: AsyncInvoker = createAsyncInvoker({ retryDelaysMs: options.retryDelaysMs, maxConcurrent: options.asyncConcurrency, onExhausted: options.onExhausted });
  let server: Server | undefined;

  const answer = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'x-amzn-RequestId': randomUUID(), ...headers });
    res.end(body);
  };
  const error = (res: ServerResponse, status: number, errorType: string, message: string) =>
    answer(res, status, JSON.stringify({ Type: 'User', message }), { 'x-amzn-ErrorType': errorType });

  const readBody = (req: IncomingMessage, limit: number): Promise<Buffer | undefined> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= limit) chunks.push(chunk);
      });
      req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const match = req.method === 'POST' ? PATH.exec(req.url ?? '') : null;
    if (!match) {
      req.resume();
      return error(res, 404, 'UnknownOperationException', 'only Invoke is available locally');
    }
    const name = decodeURIComponent(match[1] as string);
    const functionId = resolveFunction(functionNameFromArn(name) ?? name);
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    const limit = type === 'Event' ? MAX_ASYNC_PAYLOAD_BYTES : MAX_SYNC_PAYLOAD_BYTES;
    const body = await readBody(req, limit);
    if (!functionId) {
      return error(res, 404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:${options.region}:${options.accountId}:function:${name}`);
    }
    if (body === undefined) return error(res, 413, 'RequestTooLargeException', `Request must be smaller than ${limit} bytes for the ${type} invocation type`);
    let event: unknown;
    try {
      event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return error(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
    }
    if (type === 'DryRun') return answer(res, 204, '');
    if (type === 'Event') {
      queue.enqueue(
        (attempt) => invoke(functionId, event, 'Event', attempt),
        (outcome) => {
          if (!outcome.ok) log('error', `${functionId}: async invocation gave up after ${outcome.attempts} attempts: ${outcome.error?.message ?? 'unknown error'}`);
        },
        { functionId, event },
      );
      return answer(res, 202, '');
    }
    if (type !== 'RequestResponse') return error(res, 400, 'InvalidParameterValueException', `unknown invocation type ${type}`);
    try {
      const result = await invoke(functionId, event, 'RequestResponse', 1);
      return answer(res, 200, JSON.stringify(result ?? null), { 'X-Amz-Executed-Version': '$LATEST' });
    } catch (caught) {
      const payload = caught instanceof FunctionError ? caught.toJSON() : { errorType: (caught as Error).name, errorMessage: (caught as Error).message, trace: [] };
      return answer(res, 200, JSON.stringify(payload), { 'X-Amz-Executed-Version': '$LATEST', 'X-Amz-Function-Error': 'Unhandled' });
    }
  };

  return {
    listen(host) {
      const httpServer = createServer((req, res) => {
        onRequest(req, res).catch((caught: Error) => {
          log('error', `Invoke API: ${caught.message}`);
          if (!res.headersSent) error(res, 500, 'ServiceException', caught.message);
        });
      });
      httpServer.keepAliveTimeout = 65_000;
      server = httpServer;
      return new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(0, host, () => {
          const { port } = httpServer.address() as { port: number };
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${port}`);
        });
      });
    },
    settled: () => queue.settled(),
    async close() {
      await queue.close();
      const httpServer = server;
      server = undefined;
      if (httpServer) {
        await new Promise<void>((resolve) => {
          httpServer.close(() => resolve());
          httpServer.closeAllConnections();
        });
      }
    },
  };
};
