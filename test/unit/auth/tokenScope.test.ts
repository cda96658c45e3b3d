/**
 * The scope limit: how many devices a token's `devices` claim may list. It is
 * not the per-frame limit (50), and the list must fit API Gateway's 8 KB
 * authorizer result on its way to $connect.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import {
  MAX_DEVICES_PER_FRAME,
  MAX_SCOPE_DEVICES,
  Unauthorized,
  createAuthorizer,
  createTokenVerifier,
  principalFromContext,
  signToken,
} from '@serverless-iot-dashboard/shared';
import { loadEvent } from '../../helpers/events.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
const verify = createTokenVerifier({ secret: async () => SECRET, issuer: 'serverless-iot-dashboard', audience: 'serverless-iot-dashboard' });
const fleet = (n: number, name = (i: number) => `dev-${i + 1}`) => Array.from({ length: n }, (_, i) => name(i));
const tokenFor = (devices: string[]) => signToken({ secret: SECRET, sub: 'ops', devices, ttlSeconds: 60 });

describe('token scope limit', () => {
  it(`accepts a token that lists ${MAX_DEVICES_PER_FRAME + 1} devices, one more than a frame may name`, async () => {
    const devices = fleet(MAX_DEVICES_PER_FRAME + 1);

    const principal = await verify(await tokenFor(devices));

    expect(principal.devices).to.deep.equal(devices);
  });

  it(`accepts a token at the limit of ${MAX_SCOPE_DEVICES} devices, and its authorizer result stays under 8 KB`, async () => {
    // Arrange
    const devices = fleet(MAX_SCOPE_DEVICES);
    const authorize = createAuthorizer({ verify, allowedOrigins: [], log: silentLog });
    const event = loadEvent('authorizer');
    event.queryStringParameters = { token: await tokenFor(devices) };

    // Act
    const result = await authorize(event);

    // Assert
    expect(result.policyDocument.Statement[0]!.Effect).to.equal('Allow');
    expect(Buffer.byteLength(JSON.stringify(result))).to.be.below(8 * 1024);
    expect(principalFromContext(result.context)!.devices).to.deep.equal(devices);
  });

  it(`refuses a token that lists ${MAX_SCOPE_DEVICES + 1} devices, naming the limit`, async () => {
    const error = await verify(await tokenFor(fleet(MAX_SCOPE_DEVICES + 1))).catch((e: Error) => e);

    expect(error).to.be.instanceOf(Unauthorized);
    expect((error as Error).message).to.include(`at most ${MAX_SCOPE_DEVICES}`);
  });

  it('refuses a scope within the count that cannot fit the 8 KB authorizer result', async () => {
    // 128-character ids that do not compress: 300 of them are ~38 KB.
    const devices = fleet(300, (i) => createHash('sha512').update(String(i)).digest('hex').slice(0, 128));

    const error = await verify(await tokenFor(devices)).catch((e: Error) => e);

    expect(error).to.be.instanceOf(Unauthorized);
    expect((error as Error).message).to.match(/8 KB/);
  });
});
