/**
 * The development secret and token that `npm start` prints. The authorizer
 * gets the secret as AUTH_SECRET (its handler prefers that over the Secrets
 * Manager ARN), so local tokens are checked by the same code as on AWS.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER, signToken } from '@serverless-iot-dashboard/shared';

export interface DevAuth {
  secret: string;
  /** Scope "*", publish and alarms true: everything, for local development only. */
  token: string;
}

export const DEV_TOKEN_TTL_SECONDS = 24 * 60 * 60;

export const createDevAuth = async ({
  secret = randomBytes(32).toString('base64url'),
  issuer = DEFAULT_ISSUER,
  audience = DEFAULT_AUDIENCE,
  ttlSeconds = DEV_TOKEN_TTL_SECONDS,
}: { secret?: string; issuer?: string; audience?: string; ttlSeconds?: number } = {}): Promise<DevAuth> => ({
  secret,
  token: await signToken({ secret, sub: 'local-dev', devices: '*', publish: true, alarms: true, ttlSeconds, issuer, audience }),
});
