/** Tokens for auth tests: validly signed ones with any claims, and the classic forgeries. */
import { SignJWT } from 'jose';

export const TEST_ISSUER = 'serverless-iot-dashboard';
export const TEST_AUDIENCE = 'serverless-iot-dashboard';

export interface TokenClaims {
  secret: string;
  sub?: string;
  devices?: string[] | '*';
  publish?: boolean;
  issuer?: string;
  audience?: string;
  /** Seconds since the epoch; default one hour from now. Use a past value for an expired token. */
  expiresAt?: number;
}

export const signedToken = ({ secret, sub = 'tester', devices = '*', publish = false, issuer = TEST_ISSUER, audience = TEST_AUDIENCE, expiresAt }: TokenClaims): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ devices, publish })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt(Math.min(now, (expiresAt ?? now + 3600) - 60))
    .setExpirationTime(expiresAt ?? now + 3600)
    .sign(new TextEncoder().encode(secret));
};

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** `alg: none` with an empty signature: must never be accepted. */
export const unsignedToken = (claims: Record<string, unknown> = {}): string => {
  const now = Math.floor(Date.now() / 1000);
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'mallory', devices: '*', publish: true, iss: TEST_ISSUER, aud: TEST_AUDIENCE, iat: now, exp: now + 3600, ...claims })}.`;
};

/** A valid token with its payload swapped after signing. */
export const tamperedToken = (token: string, claims: Record<string, unknown>): string => {
  const [header, payload, signature] = token.split('.');
  const decoded = JSON.parse(Buffer.from(payload as string, 'base64url').toString('utf8'));
  return `${header}.${base64url({ ...decoded, ...claims })}.${signature}`;
};
