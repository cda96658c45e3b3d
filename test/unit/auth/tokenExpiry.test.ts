/** A token's exp leaves the authorizer: it is required, and it travels in the context to $connect. */
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { Unauthorized, createAuthorizer, createConnectRoute, createTokenVerifier, principalFromContext, signToken } from '@serverless-iot-dashboard/shared';
import { loadEvent } from '../../helpers/events.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const verify = createTokenVerifier({ secret: async () => SECRET, issuer: 'serverless-iot-dashboard', audience: 'serverless-iot-dashboard' });

describe('token expiry at the authorizer', () => {
  it('refuses a token without exp: it would never end', async () => {
    const token = await new SignJWT({ devices: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('serverless-iot-dashboard')
      .setAudience('serverless-iot-dashboard')
      .sign(new TextEncoder().encode(SECRET));

    const error = await verify(token).catch((e: Error) => e);

    expect(error).to.be.instanceOf(Unauthorized);
    expect((error as Error).message).to.equal('token has no expiry (exp)');
  });

  it("passes the token's exp in the authorizer context, and $connect stores it with the connection", async () => {
    // Arrange
    const token = await signToken({ secret: SECRET, sub: 'alice', devices: ['dev-1'], ttlSeconds: 300 });
    const event = loadEvent('authorizer');
    event.queryStringParameters = { token };
    const stored: unknown[] = [];
    const store = { putConnection: async (c: unknown) => void stored.push(c) } as never;

    // Act
    const result = await createAuthorizer({ verify, allowedOrigins: [], log: silentLog })(event);
    const connect = loadEvent('connect');
    connect.requestContext.authorizer = result.context;
    delete connect.queryStringParameters;
    await createConnectRoute({ store, log: silentLog, requireAuth: true })(connect);

    // Assert
    const exp = principalFromContext(result.context)!.exp!;
    expect(exp).to.be.within(Math.floor(Date.now() / 1000) + 299, Math.floor(Date.now() / 1000) + 301);
    expect(stored[0]).to.deep.include({ sub: 'alice', tokenExpiresAt: exp });
  });
});
