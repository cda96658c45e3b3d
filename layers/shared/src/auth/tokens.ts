/**
 * Tokens: JWTs whose claims scope what a dashboard may do.
 *   devices: string[] | "*"  the devices the holder may receive
 *   publish: boolean          whether the `message` route is open to it
 * The $connect authorizer verifies the token once and passes the claims in its
 * context; the connect handler stores them with the connection, so no later
 * route verifies anything again.
 */
import { SignJWT, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { parseDurationMs } from '../protocol/duration.js';
import { Unauthorized } from '../protocol/errors.js';
import { type DeviceSelection, MAX_SCOPE_DEVICES, validateDeviceSelection } from '../protocol/frames.js';
import type { Principal } from './principal.js';
import { MAX_SCOPE_CONTEXT_BYTES, encodeScope } from './scopeEncoding.js';

export const DEFAULT_ISSUER = 'serverless-iot-dashboard';
export const DEFAULT_AUDIENCE = 'serverless-iot-dashboard';

export * from './principal.js';

export interface VerifierOptions {
  /** HS256 shared secret: a function so that it can be fetched once, lazily, and cached. */
  secret?: () => Promise<string>;
  /** OIDC: the issuer's JWKS URL (for example a Cognito user pool's). */
  jwksUrl?: string;
  issuer: string;
  audience: string;
  clockToleranceSeconds?: number;
}

/** Builds `verify(token) → Principal`. Rejects with Unauthorized, never with jose's own messages. */
export const createTokenVerifier = ({ secret, jwksUrl, issuer, audience, clockToleranceSeconds = 5 }: VerifierOptions) => {
  if (!secret && !jwksUrl) throw new Error('token verifier needs a secret or a JWKS URL');
  let key: Promise<Uint8Array> | undefined;
  const jwks: JWTVerifyGetKey | undefined = jwksUrl ? createRemoteJWKSet(new URL(jwksUrl)) : undefined;
  const secretKey = () => {
    key ??= secret!().then((s) => new TextEncoder().encode(s));
    // A failed fetch is not cached: the next cold path tries again.
    key.catch(() => (key = undefined));
    return key;
  };

  return async (token: string | undefined): Promise<Principal> => {
    if (!token) throw new Unauthorized('missing token');
    try {
      const { payload } = jwks
        ? await jwtVerify(token, jwks, { issuer, audience, algorithms: ['RS256', 'ES256'], clockTolerance: clockToleranceSeconds })
        : await jwtVerify(token, await secretKey(), { issuer, audience, algorithms: ['HS256'], clockTolerance: clockToleranceSeconds });
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new Unauthorized('token has no subject');
      let devices: DeviceSelection;
      try {
        // The scope limit, not the per-frame one: a token for 51 devices is an ordinary token.
        devices = validateDeviceSelection(payload.devices ?? [], { max: MAX_SCOPE_DEVICES, per: 'token' });
      } catch {
        throw new Unauthorized(`token has an invalid "devices" claim (a list of at most ${MAX_SCOPE_DEVICES} device ids, or "*")`);
      }
      if (encodeScope(devices).length > MAX_SCOPE_CONTEXT_BYTES) {
        throw new Unauthorized(`token's "devices" claim does not fit API Gateway's 8 KB authorizer result: use shorter ids, fewer devices, or "*"`);
      }
      // Access ends when the token does: exp travels to the connection item, and every route and delivery checks it.
      if (typeof payload.exp !== 'number') throw new Unauthorized('token has no expiry (exp)');
      return { sub: payload.sub, devices, publish: payload.publish === true, ...(payload.alarms === true ? { alarms: true } : {}), exp: payload.exp };
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new Unauthorized('token expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed) throw new Unauthorized(`token ${error.claim} check failed`);
      if (error instanceof joseErrors.JOSEError) throw new Unauthorized('invalid token');
      throw error;
    }
  };
};

export interface SignOptions {
  secret: string;
  sub: string;
  devices: DeviceSelection;
  publish?: boolean;
  /** The `alarms` claim: may manage and acknowledge alarm rules. */
  alarms?: boolean;
  ttlSeconds: number;
  issuer?: string;
  audience?: string;
}

export const signToken = async ({ secret, sub, devices, publish = false, alarms = false, ttlSeconds, issuer = DEFAULT_ISSUER, audience = DEFAULT_AUDIENCE }: SignOptions) =>
  new SignJWT({ devices, publish, ...(alarms ? { alarms } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(new TextEncoder().encode(secret));

/** Parses "1h", "30m", "45s", "2d" or a number of seconds. */
/** Seconds (a whole number), for a token's lifetime; throws on anything else. */
export const parseDuration = (text: string): number => {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms < 1000) throw new Error(`invalid duration "${text}": use e.g. 30m, 1h, 7d`);
  return Math.round(ms / 1000);
};
