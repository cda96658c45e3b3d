/**
 * Who a connection belongs to and what it may receive: the claims that the
 * $connect authorizer passes on in its context. No JWT library here, so that
 * the route and telemetry functions, which only read the context, never load one.
 */
import { Forbidden } from '../protocol/errors.js';
import { ALL_DEVICES, type DeviceSelection } from '../protocol/frames.js';
import { decodeScope, encodeScope } from './scopeEncoding.js';

export interface Principal {
  sub: string;
  devices: DeviceSelection;
  publish: boolean;
  /** Whether it may create, change, delete and acknowledge alarm rules (token claim `alarms`, Cognito group `alarms`). */
  alarms?: boolean;
  /** The token's `exp` (epoch seconds): the connection ends then. Absent only when auth is off. */
  exp?: number;
}

/** What API Gateway hands the integration as `requestContext.authorizer` (context values are strings). */
export type AuthorizerContext = { sub: string; devices: string; publish: 'true' | 'false'; alarms?: 'true'; exp?: string };

export const principalToContext = (p: Principal): AuthorizerContext => ({
  sub: p.sub,
  devices: encodeScope(p.devices),
  publish: p.publish ? 'true' : 'false',
  ...(p.alarms ? { alarms: 'true' as const } : {}),
  ...(p.exp !== undefined ? { exp: String(p.exp) } : {}),
});

export const principalFromContext = (context: Record<string, unknown> | null | undefined): Principal | undefined => {
  if (!context || typeof context.sub !== 'string' || typeof context.devices !== 'string') return undefined;
  const devices = decodeScope(context.devices);
  const exp = Number(context.exp);
  return {
    sub: context.sub,
    devices,
    publish: context.publish === 'true' || context.publish === true,
    ...(context.alarms === 'true' || context.alarms === true ? { alarms: true } : {}),
    ...(context.exp !== undefined && Number.isFinite(exp) ? { exp } : {}),
  };
};

/** The principal a connection gets when auth is off (local development only). */
export const ANONYMOUS: Principal = { sub: 'anonymous', devices: ALL_DEVICES, publish: true };

export const inScope = (scope: DeviceSelection, devices: DeviceSelection): boolean => {
  if (scope === ALL_DEVICES) return true;
  if (devices === ALL_DEVICES) return false;
  const allowed = new Set(scope);
  return devices.every((d) => allowed.has(d));
};

export const assertInScope = (scope: DeviceSelection, devices: DeviceSelection): void => {
  if (inScope(scope, devices)) return;
  const outside = devices === ALL_DEVICES ? ['*'] : devices.filter((d) => !(scope as string[]).includes(d));
  throw new Forbidden(`your token does not cover ${outside.map((d) => JSON.stringify(d)).join(', ')}`);
};
