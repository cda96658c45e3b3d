import { expect } from 'chai';
import { SignJWT, UnsecuredJWT } from 'jose';
import {
  Forbidden,
  Unauthorized,
  assertInScope,
  createAuthorizer,
  createTokenVerifier,
  parseDuration,
  principalFromContext,
  principalToContext,
  signToken,
} from '@serverless-iot-dashboard/shared';
import { loadEvent } from '../../helpers/events.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const verify = createTokenVerifier({ secret: async () => SECRET, issuer: 'serverless-iot-dashboard', audience: 'serverless-iot-dashboard' });

const rejection = async (token: string | undefined) => {
  try {
    await verify(token);
  } catch (error) {
    expect(error).to.be.instanceOf(Unauthorized);
    return (error as Error).message;
  }
  throw new Error('expected the token to be rejected');
};

describe('tokens', () => {
  it('accepts a token signed with the secret and returns its scope', async () => {
    const token = await signToken({ secret: SECRET, sub: 'alice', devices: ['dev-1', 'dev-2'], publish: true, ttlSeconds: 60 });

    const before = Math.floor(Date.now() / 1000);

    const principal = await verify(token);

    expect(principal).to.deep.include({ sub: 'alice', devices: ['dev-1', 'dev-2'], publish: true });
    expect(principal.exp).to.be.within(before + 59, before + 61);
  });

  it('rejects a missing token', async () => {
    expect(await rejection(undefined)).to.equal('missing token');
  });

  it('rejects a bad signature', async () => {
    const token = await signToken({ secret: SECRET, sub: 'alice', devices: '*', ttlSeconds: 60 });
    const [h, p] = token.split('.');
    expect(await rejection(`${h}.${p}.AAAA${token.split('.')[2]!.slice(4)}`)).to.equal('invalid token');
  });

  it('rejects a token signed with another secret', async () => {
    const token = await signToken({ secret: 'another-secret-another-secret-another', sub: 'alice', devices: '*', ttlSeconds: 60 });
    expect(await rejection(token)).to.equal('invalid token');
  });

  it('rejects an expired token', async () => {
    const token = await new SignJWT({ devices: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('serverless-iot-dashboard')
      .setAudience('serverless-iot-dashboard')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(SECRET));
    expect(await rejection(token)).to.equal('token expired');
  });

  it('rejects a token that is not valid yet', async () => {
    const token = await new SignJWT({ devices: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('serverless-iot-dashboard')
      .setAudience('serverless-iot-dashboard')
      .setNotBefore(Math.floor(Date.now() / 1000) + 3600)
      .setExpirationTime('2h')
      .sign(new TextEncoder().encode(SECRET));
    expect(await rejection(token)).to.equal('token nbf check failed');
  });

  it('rejects the wrong audience and the wrong issuer', async () => {
    const wrongAud = await signToken({ secret: SECRET, sub: 'alice', devices: '*', ttlSeconds: 60, audience: 'someone-else' });
    const wrongIss = await signToken({ secret: SECRET, sub: 'alice', devices: '*', ttlSeconds: 60, issuer: 'evil' });
    expect(await rejection(wrongAud)).to.equal('token aud check failed');
    expect(await rejection(wrongIss)).to.equal('token iss check failed');
  });

  it('rejects alg "none"', async () => {
    const token = new UnsecuredJWT({ devices: '*' }).setSubject('alice').setIssuer('serverless-iot-dashboard').setAudience('serverless-iot-dashboard').setExpirationTime('1h').encode();
    expect(await rejection(token)).to.equal('invalid token');
  });

  it('rejects a token whose devices claim holds a wildcard topic', async () => {
    const token = await signToken({ secret: SECRET, sub: 'alice', devices: ['dev/#'], ttlSeconds: 60 });
    expect(await rejection(token)).to.match(/invalid "devices" claim/);
  });

  it('round-trips a principal through the authorizer context', () => {
    const principal = { sub: 'bob', devices: ['a', 'b'], publish: false, exp: 1_795_600_000 };
    expect(principalFromContext(principalToContext(principal))).to.deep.equal(principal);
  });

  it('parses durations for the token CLI', () => {
    expect(parseDuration('1h')).to.equal(3600);
    expect(parseDuration('30m')).to.equal(1800);
    expect(parseDuration('90')).to.equal(90);
    expect(() => parseDuration('soon')).to.throw(/invalid duration/);
  });

  it('keeps a scoped holder inside its devices', () => {
    expect(() => assertInScope(['dev-1'], ['dev-1'])).to.not.throw();
    expect(() => assertInScope(['dev-1'], ['dev-2'])).to.throw(Forbidden, /"dev-2"/);
    expect(() => assertInScope(['dev-1'], '*')).to.throw(Forbidden);
    expect(() => assertInScope('*', '*')).to.not.throw();
  });
});

describe('the $connect authorizer', () => {
  it('denies a connect from an origin outside the allow-list with a Deny policy (403)', async () => {
    const authorize = createAuthorizer({ verify, allowedOrigins: ['https://ok.example.com'], log: silentLog });
    const event = loadEvent('authorizer');

    const result = await authorize(event);

    expect(result.policyDocument.Statement[0]!.Effect).to.equal('Deny');
  });

  it('throws exactly "Unauthorized" for a bad token, which API Gateway turns into 401', async () => {
    const authorize = createAuthorizer({ verify, allowedOrigins: [], log: silentLog });

    let error: unknown;
    await authorize(loadEvent('authorizer')).catch((e) => (error = e));

    expect((error as Error).message).to.equal('Unauthorized');
  });
});
