/**
 * A stand-in for API Gateway's @connections management API, on 127.0.0.1,
 * that answers with the exact error shapes AWS uses (x-amzn-ErrorType), so
 * the real ApiGatewayManagementApiClient sees what it would see on AWS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StubAnswer = 200 | 410 | 429 | 500 | 403;

export interface ManagementStub {
  endpoint: string;
  /** Every POST received: connection id and body, in arrival order. */
  posts: { connectionId: string; body: string }[];
  /** Decide the answer for each POST; the default answers 200. */
  answer: (connectionId: string, attempt: number) => StubAnswer;
  maxInFlight: number;
  stop(): Promise<void>;
}

const ERRORS: Record<Exclude<StubAnswer, 200>, string> = {
  410: 'GoneException',
  429: 'LimitExceededException',
  500: 'InternalServerErrorException',
  403: 'ForbiddenException',
};

export const startManagementStub = async (stage = 'production'): Promise<ManagementStub> => {
  const attempts = new Map<string, number>();
  let inFlight = 0;
  const stub: ManagementStub = {
    endpoint: '',
    posts: [],
    answer: () => 200,
    maxInFlight: 0,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    stub.maxInFlight = Math.max(stub.maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const match = new RegExp(`^/${stage}/@connections/([^/?]+)$`).exec(req.url ?? '');
      const connectionId = match ? decodeURIComponent(match[1]!) : '';
      const attempt = (attempts.get(connectionId) ?? 0) + 1;
      attempts.set(connectionId, attempt);
      const status = req.method === 'POST' && match ? stub.answer(connectionId, attempt) : 404;
      if (status === 200) stub.posts.push({ connectionId, body: Buffer.concat(chunks).toString('utf8') });
      // Answer on the next tick, as a network would, so that concurrency is observable.
      setImmediate(() => {
        inFlight--;
        if (status === 200) {
          res.writeHead(200, { 'content-length': '0' }).end();
        } else if (status === 404) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
        } else {
          const body = JSON.stringify({ message: ERRORS[status] });
          res.writeHead(status, { 'x-amzn-ErrorType': ERRORS[status], 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  stub.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${stage}`;
  return stub;
};
