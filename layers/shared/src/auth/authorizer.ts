/** The $connect REQUEST authorizer's logic: verify the token, check the Origin, return an IAM policy. */
import { type Principal, principalToContext } from './principal.js';
import { Forbidden, Unauthorized } from '../protocol/errors.js';
import type { Log } from '../runtime/observability.js';

export interface AuthorizerEvent {
  type?: string;
  methodArn: string;
  headers?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  requestContext?: { connectionId?: string; [key: string]: unknown };
}

export interface AuthorizerResult {
  principalId: string;
  policyDocument: {
    Version: '2012-10-17';
    Statement: { Action: 'execute-api:Invoke'; Effect: 'Allow' | 'Deny'; Resource: string }[];
  };
  context?: Record<string, string>;
}

const policy = (principalId: string, effect: 'Allow' | 'Deny', resource: string, context?: Record<string, string>): AuthorizerResult => ({
  principalId,
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
  ...(context ? { context } : {}),
});

const header = (headers: AuthorizerEvent['headers'], name: string): string | undefined => {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
};

/**
 * API Gateway turns a thrown `Error('Unauthorized')` into HTTP 401 and a Deny
 * policy into 403; both fail the WebSocket upgrade before any integration runs.
 */
export const createAuthorizer =
  ({ verify, allowedOrigins, log }: { verify: (token: string | undefined) => Promise<Principal>; allowedOrigins: string[]; log: Log }) =>
  async (event: AuthorizerEvent): Promise<AuthorizerResult> => {
    const origin = header(event.headers, 'origin');
    if (allowedOrigins.length > 0 && (!origin || !allowedOrigins.includes(origin))) {
      log.warn('connect refused: origin not allowed', { origin: origin ?? null });
      return policy('anonymous', 'Deny', event.methodArn);
    }
    try {
      const principal = await verify(event.queryStringParameters?.token);
      log.info('connect authorized', { sub: principal.sub, devices: principal.devices, publish: principal.publish });
      return policy(principal.sub, 'Allow', event.methodArn, principalToContext(principal));
    } catch (error) {
      if (error instanceof Unauthorized) {
        log.warn('connect refused', { reason: error.message });
        throw new Error('Unauthorized');
      }
      if (error instanceof Forbidden) {
        log.warn('connect refused', { reason: error.message, status: 403 });
        return policy('anonymous', 'Deny', event.methodArn);
      }
      throw error;
    }
  };
