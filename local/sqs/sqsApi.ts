/**
 * The SQS API over HTTP, locally: AWS JSON 1.0 (`POST /`,
 * `X-Amz-Target: AmazonSQS.<Action>`, `application/x-amz-json-1.0`), the
 * protocol that current SDKs speak, on an ephemeral 127.0.0.1 port. The real
 * `SQSClient` works against it through its `endpoint` setting, and so does
 * `aws sqs --endpoint-url` (AWS CLI 2.15+, which speaks JSON to SQS).
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-making-api-requests-json.html
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { SQS_ACTIONS, type Sqs, SqsError, type SqsOptions, createSqs } from './queue.js';

/** Enough for a 10-entry batch at the 256 KiB message size plus JSON overhead. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const CONTENT_TYPE = 'application/x-amz-json-1.0';

export interface SqsApi {
  /** `http://127.0.0.1:<port>`: give it to `new SQSClient({ endpoint })`. */
  endpoint: string;
  sqs: Sqs;
  close(): Promise<void>;
}

export interface SqsApiOptions extends Omit<SqsOptions, 'endpoint'> {
  host?: string;
  port?: number;
  /** Serve an existing service (its queue URLs keep their endpoint; queues are found by path). */
  sqs?: Sqs;
  log?: (level: 'warn' | 'error', text: string) => void;
}

export const startSqsApi = async ({ host = '127.0.0.1', port = 0, sqs: given, log = () => undefined, ...options }: SqsApiOptions = {}): Promise<SqsApi> => {
  let sqs = given;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': randomUUID(), ...headers });
    res.end(text);
  };
  const sendError = (res: ServerResponse, error: SqsError, namespace = 'com.amazonaws.sqs') =>
    send(res, error.status, { __type: `${namespace}#${error.code}`, message: error.message }, {
      // The SDK's query-compatible mode reads the legacy code from this header.
      'x-amzn-query-error': `${error.queryCode};${error.senderFault ? 'Sender' : 'Receiver'}`,
    });

  const readBody = (req: IncomingMessage): Promise<Buffer | undefined> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
      });
      req.on('end', () => resolve(size > MAX_REQUEST_BYTES ? undefined : Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    if (req.method !== 'POST' || !target.startsWith('AmazonSQS.')) {
      const query = String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
      return sendError(
        res,
        new SqsError('UnknownOperationException', query ? 'only the AWS JSON protocol is served locally (the query protocol is not)' : 'expected POST with X-Amz-Target: AmazonSQS.<Action>'),
        'com.amazon.coral.service',
      );
    }
    if (body === undefined) return sendError(res, new SqsError('RequestEntityTooLarge', `request larger than ${MAX_REQUEST_BYTES} bytes`, 'RequestEntityTooLarge', true, 413));
    const action = target.slice('AmazonSQS.'.length);
    const method = (SQS_ACTIONS as Record<string, keyof Sqs>)[action];
    if (!method) return sendError(res, new SqsError('UnsupportedOperation', `${action} is not available locally`, 'AWS.SimpleQueueService.UnsupportedOperation'));
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(res, new SqsError('SerializationException', 'Could not parse the request body as JSON', 'SerializationException'), 'com.amazon.coral.service');
    }
    const service = sqs as Sqs;
    try {
      const output = await (service[method] as (input: unknown) => unknown)(input ?? {});
      return send(res, 200, output ?? {});
    } catch (error) {
      if (error instanceof SqsError) return sendError(res, error);
      throw error;
    }
  };

  const server: Server = createServer((req, res) => {
    onRequest(req, res).catch((error: Error) => {
      log('error', `SQS API: ${error.message}`);
      if (!res.headersSent) sendError(res, new SqsError('InternalError', error.message, 'InternalError', false, 500));
    });
  });
  server.keepAliveTimeout = 65_000;
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  sqs ??= createSqs({ ...options, endpoint });

  return {
    endpoint,
    sqs,
    async close() {
      sqs?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
};
