/** The SDK-free poster against a real HTTP server on 127.0.0.1: same wire request as the SDK, verifiable signature. */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { SignatureV4 } from '@smithy/signature-v4';
import { expect } from 'chai';
import sinon from 'sinon';
import { classifyPostError, createSignedPoster } from '@serverless-iot-dashboard/shared';

/** The hash constructor @smithy/signature-v4 takes, on node:crypto. */
class Sha256 {
  private h;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = this.fresh();
  }
  private fresh() {
    const key = this.secret === undefined ? undefined : typeof this.secret === 'string' ? this.secret : Buffer.from(this.secret as ArrayBuffer);
    return key === undefined ? createHash('sha256') : createHmac('sha256', key);
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.h.update(typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
  reset() {
    this.h = this.fresh();
  }
}

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token' };

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Recomputes a SigV4 signature from what arrived on the wire (AWS's documented algorithm, written out independently). */
const expectedSignature = (seen: Seen, region: string) => {
  const auth = String(seen.headers.authorization);
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(';');
  const scope = /Credential=[^/]+\/([^,]+)/.exec(auth)![1]!;
  const [date] = scope.split('/');
  const encodeSegment = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonicalPath = seen.path.split('/').map(encodeSegment).join('/');
  const canonicalHeaders = signedHeaders.map((h) => `${h}:${String(seen.headers[h]).trim()}\n`).join('');
  const canonical = ['POST', canonicalPath, '', canonicalHeaders, signedHeaders.join(';'), createHash('sha256').update(seen.body).digest('hex')].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', seen.headers['x-amz-date'], scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, date!), region), 'execute-api'), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
};

describe('signed poster (SigV4 over keep-alive, no SDK client)', () => {
  let server: Server;
  let endpoint: string;
  let seen: Seen[];
  let status: number;

  beforeEach(async () => {
    seen = [];
    status = 200;
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (status === 200) res.writeHead(200).end();
        else res.writeHead(status, { 'x-amzn-ErrorType': status === 410 ? 'GoneException' : 'LimitExceededException' }).end('{"message":"x"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/production`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends the same path and body as the AWS SDK, with a signature that verifies', async () => {
    const id = 'L0SM9cOFvHcCIhw=';
    const post = createSignedPoster({ endpoint, region: 'eu-west-1', credentials: async () => credentials });
    const sdk = new ApiGatewayManagementApiClient({ endpoint, region: 'eu-west-1', credentials });

    await post(id, '{"type":"pong","ts":1}');
    await sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: '{"type":"pong","ts":1}' }));

    const [ours, theirs] = seen;
    expect(ours!.path).to.equal(theirs!.path);
    expect(ours!.body).to.equal(theirs!.body);
    expect(ours!.headers['x-amz-security-token']).to.equal('session-token');
    expect(/Signature=([0-9a-f]+)/.exec(String(ours!.headers.authorization))![1]).to.equal(expectedSignature(ours!, 'eu-west-1'));
    // The checker is the same one the SDK's request passes: it is not written to agree with us alone.
    expect(/Signature=([0-9a-f]+)/.exec(String(theirs!.headers.authorization))![1]).to.equal(expectedSignature(theirs!, 'eu-west-1'));
    post.destroy();
    sdk.destroy();
  });

  it('produces exactly the signature of AWS\'s own signer (@smithy/signature-v4) for the same request and time', async () => {
    const post = createSignedPoster({ endpoint, region: 'eu-west-1', credentials: async () => credentials });
    const clock = sinon.useFakeTimers({ now: Date.UTC(2026, 10, 25, 9, 30, 15), toFake: ['Date'] });
    try {
      await post('L0SM9cOFvHcCIhw=', '{"type":"pong","ts":1}');
      const [ours] = seen;
      const { host, 'content-length': length, 'content-type': type, 'x-amz-content-sha256': hash } = ours!.headers;
      const url = new URL(endpoint);
      const signer = new SignatureV4({ service: 'execute-api', region: 'eu-west-1', credentials, sha256: Sha256 });
      const signed = await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: ours!.path,
        query: {},
        headers: { host: host!, 'content-length': length!, 'content-type': type!, 'x-amz-content-sha256': String(hash) },
        body: ours!.body,
      });
      expect(ours!.headers.authorization).to.equal(signed.headers.authorization);
    } finally {
      clock.restore();
      post.destroy();
    }
  });

  it('rejects with the error name from x-amzn-ErrorType, so 410 and 429 are classified like the SDK', async () => {
    const post = createSignedPoster({ endpoint, region: 'us-east-1', credentials: async () => credentials });

    status = 410;
    const gone = await post('a', 'x').catch((e) => e);
    status = 429;
    const throttled = await post('a', 'x').catch((e) => e);

    expect(gone).to.include({ name: 'GoneException' });
    expect(classifyPostError(gone)).to.equal('gone');
    expect(throttled.$metadata.httpStatusCode).to.equal(429);
    expect(classifyPostError(throttled)).to.equal('retry');
    post.destroy();
  });
});
