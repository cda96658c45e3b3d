/**
 * AuthMode=cognito's verifier against a real JWKS endpoint on 127.0.0.1: each
 * token the issue lists is refused (401, or 403 for a user with no device
 * group), none is logged, and an unreachable JWKS fails closed with one clear line.
 */
import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import { expect } from 'chai';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createAuthorizer, createCognitoVerifier, scopeFromGroups } from '@serverless-iot-dashboard/shared';
import { loadEvent } from '../../helpers/events.js';

const CLIENT_ID = 'dashboard-client';
const KID = 'key-1';

interface Logged {
  level: string;
  message: string;
  extra: unknown;
}

const captureLog = () => {
  const lines: Logged[] = [];
  const at = (level: string) => (message: string, extra?: unknown) => void lines.push({ level, message, extra });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, text: () => JSON.stringify(lines) };
};

describe('Cognito access tokens (AuthMode=cognito) against a JWKS on 127.0.0.1', () => {
  let server: Server;
  let jwksUrl: string;
  let issuer: string;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  let jwksFetches = 0;

  before(async () => {
    const pair = await generateKeyPair('RS256');
    key = pair.privateKey;
    otherKey = (await generateKeyPair('RS256')).privateKey;
    const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      if (req.url === '/pool/.well-known/jwks.json') {
        jwksFetches++;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ keys: [publicJwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    issuer = `http://127.0.0.1:${port}/pool`;
    jwksUrl = `${issuer}/.well-known/jwks.json`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** A token shaped like Cognito's access token; `claims` and `options` change one thing at a time. */
  const token = (claims: Record<string, unknown> = {}, options: { key?: CryptoKey; kid?: string; expiresIn?: number } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ token_use: 'access', client_id: CLIENT_ID, scope: 'openid email', username: 'alice', 'cognito:groups': ['devices:dev-1', 'devices:dev-2', 'publish'], ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? KID })
      .setSubject('0f4c1e9a-alice')
      .setIssuer(issuer)
      .setIssuedAt(now - 10)
      .setExpirationTime(now + (options.expiresIn ?? 3600))
      .sign(options.key ?? key);
  };

  /** Runs the $connect authorizer as API Gateway does: its outcome, and what it logged. */
  const connect = async (tokenValue: string | undefined, url = jwksUrl) => {
    const { log, text, lines } = captureLog();
    const authorize = createAuthorizer({ verify: createCognitoVerifier({ issuer, jwksUrl: url, clientId: CLIENT_ID, log, jwksTimeoutMs: 1000 }), allowedOrigins: [], log });
    const event = structuredClone(loadEvent('authorizer'));
    event.queryStringParameters = tokenValue === undefined ? {} : { token: tokenValue };
    let outcome: string;
    try {
      const result = await authorize(event);
      outcome = result.policyDocument.Statement[0]!.Effect === 'Allow' ? 'allow' : '403';
    } catch (error) {
      expect((error as Error).message).to.equal('Unauthorized');
      outcome = '401';
    }
    for (const part of (tokenValue ?? '').split('.').filter((p) => p.length > 0)) {
      expect(text(), 'no part of the token may reach a log line').to.not.include(part.slice(0, 24));
    }
    return { outcome, lines };
  };

  it("accepts the pool's access token for this client, with the scope its groups give", async () => {
    const { log } = captureLog();
    const verify = createCognitoVerifier({ issuer, jwksUrl, clientId: CLIENT_ID, log });
    const principal = await verify(await token());
    expect(principal).to.deep.include({ sub: '0f4c1e9a-alice', devices: ['dev-1', 'dev-2'], publish: true });
    // Access ends with the token: its exp travels into the connection item like the other modes'.
    expect(principal.exp).to.be.a('number').and.be.greaterThan(Date.now() / 1000);
    expect(await verify(await token({ 'cognito:groups': ['devices:*'] }))).to.deep.include({ sub: '0f4c1e9a-alice', devices: '*', publish: false });
    expect((await connect(await token())).outcome).to.equal('allow');
  });

  it('fetches the JWKS once and keeps it between invocations', async () => {
    const { log } = captureLog();
    const verify = createCognitoVerifier({ issuer, jwksUrl, clientId: CLIENT_ID, log });
    const before = jwksFetches;
    for (let i = 0; i < 5; i++) await verify(await token());
    expect(jwksFetches - before).to.equal(1);
  });

  it('refuses a token signed by another key (unknown kid, and a known kid with a forged signature) with 401', async () => {
    expect((await connect(await token({}, { key: otherKey, kid: 'key-2' }))).outcome).to.equal('401');
    expect((await connect(await token({}, { key: otherKey }))).outcome).to.equal('401');
  });

  it('refuses a token from another issuer with 401', async () => {
    const forged = await new SignJWT({ token_use: 'access', client_id: CLIENT_ID, 'cognito:groups': ['devices:*'] })
      .setProtectedHeader({ alg: 'RS256', kid: KID })
      .setSubject('alice')
      .setIssuer('https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other')
      .setExpirationTime('1h')
      .sign(key);
    const { outcome, lines } = await connect(forged);
    expect(outcome).to.equal('401');
    expect(lines.find((l) => l.message === 'connect refused')?.extra).to.deep.equal({ reason: 'token iss check failed' });
  });

  it('refuses a token for another client with 401', async () => {
    const { outcome, lines } = await connect(await token({ client_id: 'someone-elses-client' }));
    expect(outcome).to.equal('401');
    expect(lines.find((l) => l.message === 'connect refused')?.extra).to.deep.equal({ reason: 'token is for another client' });
  });

  it('refuses an ID token where the access token is expected with 401', async () => {
    // Cognito's ID token: token_use "id", aud (not client_id) names the client.
    const { outcome, lines } = await connect(await token({ token_use: 'id', client_id: undefined, aud: CLIENT_ID, email: 'alice@example.com' }));
    expect(outcome).to.equal('401');
    expect(lines.find((l) => l.message === 'connect refused')?.extra).to.deep.equal({ reason: 'not an access token' });
  });

  it('refuses an expired token with 401', async () => {
    const { outcome, lines } = await connect(await token({}, { expiresIn: -60 }));
    expect(outcome).to.equal('401');
    expect(lines.find((l) => l.message === 'connect refused')?.extra).to.deep.equal({ reason: 'token expired' });
  });

  it('refuses alg "none" with 401', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const none = `${b64({ alg: 'none', kid: KID })}.${b64({ sub: 'mallory', iss: issuer, token_use: 'access', client_id: CLIENT_ID, 'cognito:groups': ['devices:*'], exp: now + 3600 })}.`;
    expect((await connect(none)).outcome).to.equal('401');
  });

  it('refuses a user who is in no devices: group with 403', async () => {
    expect((await connect(await token({ 'cognito:groups': ['publish'] }))).outcome).to.equal('403');
    expect((await connect(await token({ 'cognito:groups': undefined }))).outcome).to.equal('403');
  });

  it("refuses a user whose groups' scope would not fit the authorizer's 8 KB result with 403 and a reason, not a 500", async () => {
    // 100 groups of 120-character ids (random, so deflating them gains little): about 12 KB encoded.
    const ids = Array.from({ length: 100 }, (_, i) => `d${i}-${randomBytes(90).toString('base64url')}`.slice(0, 120));
    const { outcome, lines } = await connect(await token({ 'cognito:groups': ids.map((id) => `devices:${id}`) }));
    expect(outcome).to.equal('403');
    expect(JSON.stringify(lines)).to.include('8 KB authorizer result');
    // Shorter ids fit: the check refuses only what API Gateway would fail.
    expect((await connect(await token({ 'cognito:groups': ids.slice(0, 20).map((id) => `devices:${id}`) }))).outcome).to.equal('allow');
  });

  it('fails closed when the JWKS is unreachable: 401 and one clear error line, without the token', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { outcome, lines } = await connect(await token(), `http://127.0.0.1:${port}/pool/.well-known/jwks.json`);
    expect(outcome).to.equal('401');
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).to.have.length(1);
    expect(errors[0]!.message).to.match(/JWKS is unreachable.*failing closed/);
    expect(errors[0]!.extra).to.include({ jwksUrl: `http://127.0.0.1:${port}/pool/.well-known/jwks.json` });
  });

  it('fails closed when the JWKS answers with an error status', async () => {
    const { outcome, lines } = await connect(await token(), jwksUrl.replace('jwks.json', 'missing.json'));
    expect(outcome).to.equal('401');
    expect(lines.filter((l) => l.level === 'error')).to.have.length(1);
  });
});

describe('scope from Cognito groups', () => {
  it('reads devices:<id> groups as devices, devices:* as every device, and publish as the message route', () => {
    expect(scopeFromGroups(['devices:dev-1', 'devices:dev-2', 'devices:dev-1'])).to.deep.equal({ devices: ['dev-1', 'dev-2'], publish: false });
    expect(scopeFromGroups(['devices:dev-1', 'devices:*', 'publish'])).to.deep.equal({ devices: '*', publish: true });
    expect(scopeFromGroups(['admins', 'devices:'])).to.deep.equal({ devices: [], publish: false });
  });

  it('ignores groups that name no valid device id, and claims that are not lists of strings', () => {
    expect(scopeFromGroups(['devices:a/b', 'devices:+', 'devices:ok', 42])).to.deep.equal({ devices: ['ok'], publish: false });
    expect(scopeFromGroups('devices:*')).to.deep.equal({ devices: [], publish: false });
    expect(scopeFromGroups(undefined)).to.deep.equal({ devices: [], publish: false });
  });
});
