/**
 * AuthMode=cognito: the dashboard connects with a Cognito access token, and
 * the scope comes from the user pool's groups (the `cognito:groups` claim):
 *   devices:<id>  may receive device <id>
 *   devices:*     may receive every device
 *   publish       may use the `message` route
 *   alarms        may create, change, delete and acknowledge alarm rules
 * An administrator manages them in the console (or with `npm run user`), and
 * both of Cognito's tokens carry the claim, so no pre-token-generation
 * trigger is needed. The local OpenID Connect provider issues the same claims.
 *
 * jose, not aws-jwt-verify: the authorizer already loads jose for the other
 * modes (nothing added to its bundle or its cold start), the same code checks
 * Cognito on AWS and the local provider (aws-jwt-verify's Cognito verifier
 * derives the issuer from a pool id), and what it adds over jwtVerify is the
 * two checks below. The JWKS is cached in module scope, so between
 * invocations of one container, exactly as aws-jwt-verify does it.
 */
import { type JWTVerifyGetKey, createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { Forbidden, Unauthorized } from '../protocol/errors.js';
import { ALL_DEVICES, DEVICE_ID_PATTERN, type DeviceSelection } from '../protocol/frames.js';
import type { Log } from '../runtime/observability.js';
import type { Principal } from './principal.js';
import { MAX_SCOPE_CONTEXT_BYTES, encodeScope } from './scopeEncoding.js';

export const DEVICE_GROUP_PREFIX = 'devices:';
export const PUBLISH_GROUP = 'publish';
/** May manage and acknowledge alarm rules (the development token's `alarms` claim). */
export const ALARMS_GROUP = 'alarms';
export const GROUPS_CLAIM = 'cognito:groups';

/** The scope that a user's groups give. Groups that name no valid device id are ignored (they could match nothing). */
export const scopeFromGroups = (groups: unknown): { devices: DeviceSelection; publish: boolean; alarms?: boolean } => {
  const names = Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [];
  const ids = names.filter((g) => g.startsWith(DEVICE_GROUP_PREFIX)).map((g) => g.slice(DEVICE_GROUP_PREFIX.length));
  const devices: DeviceSelection = ids.includes(ALL_DEVICES) ? ALL_DEVICES : [...new Set(ids.filter((id) => DEVICE_ID_PATTERN.test(id)))];
  return { devices, publish: names.includes(PUBLISH_GROUP), ...(names.includes(ALARMS_GROUP) ? { alarms: true } : {}) };
};

/** The JWKS could not be fetched: no token can be checked, so every one is refused (fail closed). */
export class JwksUnavailable extends Error {
  override name = 'JwksUnavailable';
}

export interface CognitoVerifierOptions {
  /** https://cognito-idp.<region>.amazonaws.com/<pool id>, or the local provider's issuer. */
  issuer: string;
  jwksUrl: string;
  /** The app client whose tokens open a connection (the access token's client_id). */
  clientId: string;
  log: Log;
  clockToleranceSeconds?: number;
  /** How long one JWKS fetch may take before the connection is refused. */
  jwksTimeoutMs?: number;
  /** Tests: another key source. */
  keys?: JWTVerifyGetKey;
}

/**
 * Builds `verify(token) → Principal` for Cognito access tokens: signature
 * (RS256, the pool's JWKS), `iss`, `exp`/`nbf`, `token_use: access` and
 * `client_id`. Rejects with Unauthorized (401), or Forbidden (403) for a user
 * with no device group. Never logs or echoes the token.
 */
export const createCognitoVerifier = ({ issuer, jwksUrl, clientId, log, clockToleranceSeconds = 5, jwksTimeoutMs = 3000, keys }: CognitoVerifierOptions) => {
  // Cognito rotates keys rarely; a kid not in the cached set refetches (at most every 30 s).
  const remote = keys ?? createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: jwksTimeoutMs, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      // A key that is not in the set is the token's fault; anything else is the JWKS's.
      if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) throw error;
      throw new JwksUnavailable((error as Error).message);
    }
  };

  return async (token: string | undefined): Promise<Principal> => {
    if (!token) throw new Unauthorized('missing token');
    try {
      const { payload } = await jwtVerify(token, getKey, { issuer, algorithms: ['RS256'], clockTolerance: clockToleranceSeconds, requiredClaims: ['exp'] });
      // An ID token (token_use "id") says who someone is to the page; only an access token opens the API.
      if (payload.token_use !== 'access') throw new Unauthorized('not an access token');
      if (payload.client_id !== clientId) throw new Unauthorized('token is for another client');
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new Unauthorized('token has no subject');
      const scope = scopeFromGroups(payload[GROUPS_CLAIM]);
      if (scope.devices !== ALL_DEVICES && scope.devices.length === 0) throw new Forbidden(`user is in no ${DEVICE_GROUP_PREFIX}<id> group`);
      // The same bound as a signed token's scope (tokens.ts): past it, the authorizer's context would pass API
      // Gateway's 8 KB result and every $connect would fail with a 500. A user's groups are theirs, not the
      // token's, so this is a refusal (403) that says what to change.
      if (encodeScope(scope.devices).length > MAX_SCOPE_CONTEXT_BYTES) {
        throw new Forbidden(`user's ${DEVICE_GROUP_PREFIX}<id> groups do not fit API Gateway's 8 KB authorizer result: use shorter ids, fewer groups, or ${DEVICE_GROUP_PREFIX}${ALL_DEVICES}`);
      }
      // Access ends when the token does (exp is required above): the connection item and every route carry it.
      return { sub: payload.sub, ...scope, exp: payload.exp as number };
    } catch (error) {
      if (error instanceof Unauthorized || error instanceof Forbidden) throw error;
      if (error instanceof JwksUnavailable) {
        log.error('connect refused: the JWKS is unreachable, so no token can be verified (failing closed)', { jwksUrl, cause: error.message });
        throw new Unauthorized('signing keys unavailable');
      }
      if (error instanceof joseErrors.JWTExpired) throw new Unauthorized('token expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed) throw new Unauthorized(`token ${error.claim} check failed`);
      if (error instanceof joseErrors.JOSEError) throw new Unauthorized('invalid token');
      throw error;
    }
  };
};
