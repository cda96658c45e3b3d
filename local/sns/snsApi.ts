/**
 * SNS's Publish, locally: the AWS Query protocol (`POST /`, form-encoded
 * `Action=Publish&TopicArn=...&Subject=...&Message=...`, an XML answer) that
 * the SDK's SNSClient speaks, on an ephemeral 127.0.0.1 port. The functions
 * reach it through SNS_ENDPOINT. Each notification is handed to `onNotify`
 * (the stack prints it on a `notify ` line) and kept, the last `keep` of
 * them, for the page (`recent()`; the dashboard server serves them).
 * https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalNotification {
  messageId: string;
  topicArn: string;
  subject?: string;
  message: string;
  attributes: Record<string, string>;
  at: number;
}

export interface SnsApi {
  endpoint: string;
  recent(): LocalNotification[];
  close(): Promise<void>;
}

/** 256 KB: SNS's message size quota. */
const MAX_REQUEST_BYTES = 300 * 1024;

const xml = (text: string) => text.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

const errorBody = (code: string, message: string) =>
  `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;

/** MessageAttributes.entry.N.Name / .Value.StringValue, as the Query protocol flattens them. */
const attributesOf = (form: URLSearchParams): Record<string, string> => {
  const out: Record<string, string> = {};
  for (let n = 1; form.has(`MessageAttributes.entry.${n}.Name`); n++) {
    out[form.get(`MessageAttributes.entry.${n}.Name`)!] = form.get(`MessageAttributes.entry.${n}.Value.StringValue`) ?? '';
  }
  return out;
};

export const startSnsApi = async ({ host = '127.0.0.1', keep = 50, onNotify }: { host?: string; keep?: number; onNotify: (n: LocalNotification) => void }): Promise<SnsApi> => {
  const kept: LocalNotification[] = [];
  const send = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body), 'x-amzn-RequestId': randomUUID() });
    res.end(body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const form = new URLSearchParams(body);
    const action = form.get('Action');
    if (action !== 'Publish') return send(res, 400, errorBody('InvalidAction', `the local SNS implements Publish only, not ${action ?? '(none)'}`));
    const topicArn = form.get('TopicArn');
    const message = form.get('Message');
    if (!topicArn || message === null) return send(res, 400, errorBody('InvalidParameter', 'Publish needs TopicArn and Message'));
    const subject = form.get('Subject') ?? undefined;
    if (subject !== undefined && subject.length > 100) return send(res, 400, errorBody('InvalidParameter', 'Subject must be at most 100 characters'));
    const notification: LocalNotification = { messageId: randomUUID(), topicArn, ...(subject ? { subject } : {}), message, attributes: attributesOf(form), at: Date.now() };
    kept.push(notification);
    if (kept.length > keep) kept.shift();
    onNotify(notification);
    send(res, 200, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${notification.messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`);
  };
  const server = createServer((req, res) => {
    if (req.method !== 'POST') return send(res, 405, errorBody('InvalidAction', 'POST only'));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    recent: () => [...kept],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets of the functions' SNS clients would hold the close open.
        server.closeAllConnections();
      }),
  };
};

/** The stack's line for one notification: `notify <subject> device=<id> state=<STATE>`. */
export const notifyLine = (n: LocalNotification): string =>
  `notify ${(n.subject ?? n.message.split('\n')[0] ?? '').replace(/\s+/g, ' ')} device=${n.attributes.deviceId ?? '-'} state=${n.attributes.state ?? '-'}`;
