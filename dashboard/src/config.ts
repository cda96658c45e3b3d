/**
 * Where the page connects, resolved from its query string and the optional
 * `config.json` beside it (written by `npm run deploy:dashboard`, served live
 * by the local stack). The query wins, field by field.
 */
import { parseDurationMs } from '@serverless-iot-dashboard/shared/protocol';
import { type SignInConfig, parseSignInConfig } from './signIn.js';

export const DEFAULT_STALE_MS = 30_000;
export const DEFAULT_WINDOW_MS = 5 * 60_000;
// Well under API Gateway's 10 minute idle timeout, which closes a quiet connection.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html#apigateway-execution-service-websocket-limits-table
export const HEARTBEAT_MS = 4 * 60_000;

export interface FileConfig {
  url?: string;
  token?: string;
  staleSeconds?: number;
  /** Sign-in (AuthMode=cognito, or the local stack's LOCAL_AUTH=oidc): where the page signs people in. */
  auth?: SignInConfig;
}

export interface DashboardConfig {
  /** The WebSocket endpoint without credentials, e.g. wss://abc.execute-api.eu-west-1.amazonaws.com/prod */
  url: string;
  token?: string;
  /** Sign people in (no token given): the provider for this endpoint. */
  auth?: SignInConfig;
  staleMs: number;
  windowMs: number;
  /** Devices named in `?devices=a,b`; undefined means everything the token covers. */
  devices?: string[];
  /** Where the URL came from, for the status line. */
  source: 'query' | 'config.json';
}

export type ConfigResult = { ok: true; config: DashboardConfig } | { ok: false; error: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** Reads config.json leniently: unknown fields and wrong types are ignored, never fatal. */
export const parseFileConfig = (json: unknown): FileConfig => {
  if (!isObject(json)) return {};
  const config: FileConfig = {};
  const url = nonEmpty(json.url);
  const token = nonEmpty(json.token);
  if (url) config.url = url;
  if (token) config.token = token;
  if (typeof json.staleSeconds === 'number' && json.staleSeconds > 0) config.staleSeconds = json.staleSeconds;
  const auth = parseSignInConfig(json.auth);
  if (auth) config.auth = auth;
  return config;
};

/** "30" (seconds), "30s", "1.5m", "500ms" -> milliseconds; undefined when unreadable or not positive. */
export const parseDuration = parseDurationMs;

const checkWebSocketUrl = (raw: string): { ok: true; url: string } | { ok: false; error: string } => {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    return { ok: false, error: `"${raw}" is not a URL; expected wss://<api-id>.execute-api.<region>.amazonaws.com/<stage>` };
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    return { ok: false, error: `the WebSocket URL must start with ws:// or wss://, got ${parsed.protocol}//` };
  }
  // The token travels separately; drop any copy in the URL so it is never shown.
  parsed.searchParams.delete('token');
  return { ok: true, url: parsed.toString() };
};

const sameEndpoint = (a: string, b: string): boolean => {
  try {
    const x = new URL(a);
    const y = new URL(b);
    return x.protocol === y.protocol && x.host === y.host && x.pathname.replace(/\/$/, '') === y.pathname.replace(/\/$/, '');
  } catch {
    return false;
  }
};

export const resolveConfig = (query: string | URLSearchParams, file: FileConfig | undefined): ConfigResult => {
  const params = typeof query === 'string' ? new URLSearchParams(query) : query;
  const queryUrl = nonEmpty(params.get('url'));
  const rawUrl = queryUrl ?? file?.url;
  if (!rawUrl) {
    return {
      ok: false,
      error: 'No WebSocket URL: open the page with ?url=wss://… or serve a config.json beside it (npm run deploy:dashboard writes one).',
    };
  }
  const checked = checkWebSocketUrl(rawUrl);
  if (!checked.ok) return checked;

  // config.json's token belongs to config.json's endpoint: never send it to another one named in ?url=.
  const fileTokenApplies = file?.token !== undefined && (!queryUrl || (file.url !== undefined && sameEndpoint(queryUrl, file.url)));
  const token = nonEmpty(params.get('token')) ?? (fileTokenApplies ? file?.token : undefined) ?? embeddedToken(rawUrl);
  // Sign-in, like config.json's token, belongs to config.json's endpoint; a token given outright wins (scripts, kiosks).
  const fileAuthApplies = file?.auth !== undefined && (!queryUrl || (file.url !== undefined && sameEndpoint(queryUrl, file.url)));
  const auth = !token && fileAuthApplies ? file?.auth : undefined;

  const staleMs = parseDuration(params.get('stale')) ?? (file?.staleSeconds ? file.staleSeconds * 1000 : DEFAULT_STALE_MS);
  const windowMs = parseDuration(params.get('window')) ?? DEFAULT_WINDOW_MS;
  const devicesParam = nonEmpty(params.get('devices'));
  const devices = devicesParam && devicesParam !== '*' ? [...new Set(devicesParam.split(',').map((d) => d.trim()).filter(Boolean))] : undefined;

  return {
    ok: true,
    config: {
      url: checked.url,
      ...(token ? { token } : {}),
      ...(auth ? { auth } : {}),
      staleMs,
      windowMs,
      ...(devices && devices.length > 0 ? { devices } : {}),
      source: queryUrl ? 'query' : 'config.json',
    },
  };
};

const embeddedToken = (raw: string): string | undefined => {
  try {
    return nonEmpty(new URL(raw).searchParams.get('token'));
  } catch {
    return undefined;
  }
};

/**
 * The page's own address without a token: `?token=` gone, and any token inside
 * `?url=` too. The token then lives in memory only, not in the address bar, the
 * browser history, bookmarks or a shared screenshot. Undefined when there is
 * nothing to remove (the page leaves its address alone).
 */
export const addressWithoutToken = (href: string): string | undefined => {
  let address: URL;
  try {
    address = new URL(href);
  } catch {
    return undefined;
  }
  let changed = address.searchParams.has('token');
  address.searchParams.delete('token');
  const endpoint = address.searchParams.get('url');
  if (endpoint) {
    try {
      const inner = new URL(endpoint);
      if (inner.searchParams.has('token')) {
        inner.searchParams.delete('token');
        address.searchParams.set('url', inner.toString());
        changed = true;
      }
    } catch {
      // Not a URL: resolveConfig reports it; nothing to strip.
    }
  }
  return changed ? address.toString() : undefined;
};

/** The URL one connection attempt opens: endpoint + token + (optionally) the devices to subscribe on connect. */
export const connectUrl = (base: string, { token, devices }: { token?: string; devices?: readonly string[] }): string => {
  const url = new URL(base);
  if (token) url.searchParams.set('token', token);
  if (devices && devices.length > 0) url.searchParams.set('devices', devices.join(','));
  else url.searchParams.delete('devices');
  return url.toString();
};

/**
 * The token's `devices` claim, read without verification (the server verifies;
 * the page only needs to know which devices to offer). No token: the server's
 * anonymous principal, which covers every device. Unreadable: undefined.
 */
export const tokenScope = (token: string | undefined): string[] | '*' | undefined => {
  if (!token) return '*';
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const claims: unknown = JSON.parse(decodeURIComponent(escapeBytes(atob(base64))));
    if (!isObject(claims)) return undefined;
    const { devices } = claims;
    // A Cognito access token: the scope is its groups (devices:<id>, devices:*), as the authorizer reads them.
    const groups = claims['cognito:groups'];
    if (devices === undefined && Array.isArray(groups)) {
      const ids = groups.filter((g): g is string => typeof g === 'string' && g.startsWith('devices:')).map((g) => g.slice('devices:'.length));
      return ids.includes('*') ? '*' : ids;
    }
    if (devices === '*') return '*';
    if (Array.isArray(devices) && devices.every((d) => typeof d === 'string')) return devices.includes('*') ? '*' : devices;
    return undefined;
  } catch {
    return undefined;
  }
};

// atob yields one char per byte; turn UTF-8 bytes into %XX so decodeURIComponent rebuilds the text.
const escapeBytes = (binary: string): string =>
  Array.from(binary, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
