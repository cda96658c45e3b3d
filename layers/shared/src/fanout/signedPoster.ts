/**
 * PostToConnection without the SDK's per-request machinery: SigV4 signing
 * specialised for this one call, over a keep-alive agent. The SDK client
 * spends most of its ~700-900 µs per call in middleware, serialisation and a
 * generic signer; a fan-out sends one body to many connections, so here the
 * body hash, the signing key and the header block are computed once and only
 * the path, the date and the signature change per post.
 * Signature Version 4: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 * The tests check it against AWS's own signer (@smithy/signature-v4) and
 * against an independent verifier that the SDK's requests also pass.
 */
import { createHash, createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { PostToConnection } from '../protocol/postToConnection.js';

const sha256Hex = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Lambda puts the execution role's credentials in the environment; read them per call, they rotate. */
export const credentialsFromEnv = async (): Promise<Credentials> => {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new Error('AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set');
  return { accessKeyId, secretAccessKey, sessionToken: process.env.AWS_SESSION_TOKEN || undefined };
};

/** The SDK's label encoding (RFC 3986 on top of encodeURIComponent), so the signed path matches it byte for byte. */
const encodeLabel = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export class PostError extends Error {
  constructor(
    override readonly name: string,
    readonly $metadata: { httpStatusCode: number },
    message: string,
  ) {
    super(message);
  }
}

export interface SignedPosterOptions {
  /** `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` (or a local http:// endpoint). */
  endpoint: string;
  region: string;
  credentials?: () => Promise<Credentials>;
  maxSockets?: number;
  timeoutMs?: number;
}

export const createSignedPoster = ({
  endpoint,
  region,
  credentials = credentialsFromEnv,
  maxSockets = 64,
  timeoutMs = 10000,
}: SignedPosterOptions): PostToConnection & { destroy(): void } => {
  const url = new URL(endpoint);
  const secure = url.protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: true, maxSockets }) : new HttpAgent({ keepAlive: true, maxSockets });
  const send = secure ? httpsRequest : httpRequest;
  const basePath = url.pathname.replace(/\/$/, '');
  const host = url.host;
  const port = url.port ? Number(url.port) : undefined;
  const service = 'execute-api';
  const keyCache = new Map<string, Buffer>();
  /** The signing key depends only on the secret and the day: derive it once a day, not per post. */
  const signingKey = (secret: string, day: string) => {
    const cacheKey = `${day}/${secret}`;
    let key = keyCache.get(cacheKey);
    if (!key) {
      keyCache.clear();
      key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
      keyCache.set(cacheKey, key);
    }
    return key;
  };

  let lastBody: string | undefined;
  let lastHash = '';
  let lastLength = '0';
  const bodyHash = (body: string) => {
    if (body !== lastBody) {
      lastBody = body;
      lastHash = sha256Hex(body);
      lastLength = String(Buffer.byteLength(body));
    }
    return lastHash;
  };

  let lastSecond = -1;
  let amzDate = '';
  const now = () => {
    const ms = Date.now();
    const second = Math.floor(ms / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      amzDate = new Date(second * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    }
    return amzDate;
  };

  // Credentials rotate (Lambda refreshes them between invocations): re-read at most once a second.
  let creds: Credentials | undefined;
  let credsReadAt = -Infinity;
  const currentCredentials = async () => {
    if (!creds || Date.now() - credsReadAt > 1000) {
      creds = await credentials();
      credsReadAt = Date.now();
    }
    return creds;
  };

  // Non-S3 services encode each path segment a second time in the canonical URI.
  const canonicalBase = `${basePath.split('/').map(encodeLabel).join('/')}/${encodeLabel('@connections')}/`;

  /** Signs one POST; returns the headers to send. Everything but the path, date and signature is reused. */
  const sign = (c: Credentials, encodedId: string, body: string): Record<string, string> => {
    const payloadHash = bodyHash(body);
    const date = now();
    const day = date.slice(0, 8);
    const scope = `${day}/${region}/${service}/aws4_request`;
    const token = c.sessionToken;
    const signedHeaders = token
      ? 'content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token'
      : 'content-length;content-type;host;x-amz-content-sha256;x-amz-date';
    const canonicalHeaders =
      `content-length:${lastLength}\ncontent-type:application/json\nhost:${host}\n` +
      `x-amz-content-sha256:${payloadHash}\nx-amz-date:${date}\n${token ? `x-amz-security-token:${token}\n` : ''}`;
    const canonicalRequest = `POST\n${canonicalBase}${encodeLabel(encodedId)}\n\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
    const stringToSign = `AWS4-HMAC-SHA256\n${date}\n${scope}\n${sha256Hex(canonicalRequest)}`;
    const signature = createHmac('sha256', signingKey(c.secretAccessKey, day)).update(stringToSign).digest('hex');
    const headers: Record<string, string> = {
      'content-length': lastLength,
      'content-type': 'application/json',
      host,
      'x-amz-content-sha256': payloadHash,
      'x-amz-date': date,
      authorization: `AWS4-HMAC-SHA256 Credential=${c.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    };
    if (token) headers['x-amz-security-token'] = token;
    return headers;
  };

  const post = (async (connectionId: string, body: string) => {
    const encodedId = encodeLabel(connectionId);
    const path = `${basePath}/@connections/${encodedId}`;
    const headers = sign(await currentCredentials(), encodedId, body);
    await new Promise<void>((resolve, reject) => {
      const req = send(
        { agent, method: 'POST', hostname: url.hostname, port, path, headers },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            res.resume();
            res.on('end', resolve);
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            // restJson error shape: the type is in x-amzn-ErrorType ("GoneException:http://…").
            const type = String(res.headers['x-amzn-errortype'] ?? '').split(':')[0] || `Http${status}Error`;
            reject(new PostError(type, { httpStatusCode: status }, Buffer.concat(chunks).toString('utf8').slice(0, 200)));
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('PostToConnection timed out'), { name: 'TimeoutError' })));
      req.on('error', reject);
      req.end(body);
    });
  }) as PostToConnection & { destroy(): void };
  post.destroy = () => agent.destroy();
  return post;
};
