/**
 * The API Gateway WebSocket API, locally: route selection, the $connect
 * authorizer, API Gateway-shaped events, the service quotas, and the
 * @connections management API on the same port.
 *
 * Event shapes follow what API Gateway sends to Lambda proxy integrations:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html
 * Quotas: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html#apigateway-execution-service-websocket-limits-table
 */
import { tokenBucket } from './throttle.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { AuthorizerSpec, WebSocketApiSpec } from '../template/stackModel.js';

export interface GatewayLimits {
  /** 128 KB: the WebSocket message payload quota. A larger message closes the socket with 1009. */
  maxPayloadBytes: number;
  /** 10 min: the idle connection timeout. Only frames from the client count as activity. */
  idleTimeoutMs: number;
  /** 2 h: the maximum connection duration. */
  maxConnectionMs: number;
  /** How often a WebSocket ping checks that the peer is still there (finds sockets that vanished without a FIN). */
  heartbeatMs: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxPayloadBytes: 128 * 1024,
  idleTimeoutMs: 10 * 60 * 1000,
  maxConnectionMs: 2 * 60 * 60 * 1000,
  heartbeatMs: 30 * 1000,
};

/** What the management API answers instead of doing the call: the seam for fault injection. */
export interface ManagementFault {
  status: number;
  errorType: string;
  message?: string;
  headers?: Record<string, string>;
  /** The connection really is gone: its socket is dropped, without a $disconnect (which API Gateway only attempts). */
  vanish?: boolean;
}

export interface GatewayHooks {
  /** Consulted before every management API call; a returned fault is the answer. */
  management?: (call: { method: string; connectionId: string }) => ManagementFault | undefined;
}

export interface InvokeMeta {
  kind: 'authorizer' | 'route';
  routeKey: string;
  connectionId: string;
}

export interface GatewayLog {
  (level: 'debug' | 'info' | 'warn' | 'error', source: 'ws' | 'mgmt', text: string): void;
}

export interface GatewayOptions {
  api: WebSocketApiSpec;
  region: string;
  accountId: string;
  /** Runs a function synchronously and returns its result; rejects with the function's error. */
  invoke: (functionId: string, event: unknown, meta: InvokeMeta) => Promise<unknown>;
  /** Whether routes with AuthorizationType CUSTOM run their authorizer. */
  auth: boolean;
  limits?: Partial<GatewayLimits>;
  log: GatewayLog;
  hooks?: GatewayHooks;
}

export interface ConnectionInfo {
  connectionId: string;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  authorizer?: Record<string, unknown>;
}

export interface Gateway {
  /** Listens (again) on `port`; resolves with the bound port. */
  listen(port: number, host: string): Promise<number>;
  /** Closes every connection with `code`, fires $disconnect for each, and closes the server. The gateway can listen again. */
  close(code?: number, reason?: string): Promise<void>;
  readonly listening: boolean;
  connections(): ConnectionInfo[];
  /** Resolves when every $disconnect in flight has run. */
  settled(): Promise<void>;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** An id shaped like API Gateway's connection and request ids (`L0SM9cOFvHcCIhw=`), URL-safe. */
export const apiGatewayId = (): string => {
  const bytes = randomBytes(15);
  let id = '';
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return `${id}=`;
};

const formatDuration = (ms: number): string => (ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');
/** `09/Feb/2024:18:11:43 +0000`, API Gateway's requestTime. */
export const requestTime = (ms: number): string => {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
};

/** `$request.body.action` (or `${request.body.action}`) → ['action']. */
export const selectionPath = (expression: string): string[] => {
  const bare = expression.replace(/^\$\{(.*)\}$/, '$$$1').trim();
  const prefix = '$request.body.';
  if (!bare.startsWith(prefix)) throw new Error(`route selection expression ${JSON.stringify(expression)} is not supported locally (only $request.body.*)`);
  return bare.slice(prefix.length).split('.');
};

/** API Gateway's route selection: the value at the path, if it names a route; otherwise $default. */
export const selectRoute = (body: string | undefined, path: string[], routeKeys: ReadonlySet<string>): string => {
  if (body === undefined) return '$default';
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return '$default';
  }
  for (const part of path) {
    value = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[part] : undefined;
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return '$default';
  const key = String(value);
  return !key.startsWith('$') && routeKeys.has(key) ? key : '$default';
};

/** Whether an IAM-style resource pattern (with * and ?) covers an ARN. */
const arnMatches = (pattern: string, arn: string): boolean =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(arn);

type PolicyStatement = { Effect?: string; Action?: string | string[]; Resource?: string | string[] };

/** Evaluates an authorizer's policy for one method ARN: an explicit Deny wins, then an Allow, else deny. */
export const policyAllows = (result: unknown, methodArn: string): boolean => {
  const document = (result as { policyDocument?: { Statement?: PolicyStatement | PolicyStatement[] } })?.policyDocument;
  const statements = document?.Statement === undefined ? [] : Array.isArray(document.Statement) ? document.Statement : [document.Statement];
  const applies = (s: PolicyStatement) => {
    const actions = ([] as string[]).concat(s.Action ?? []);
    const resources = ([] as string[]).concat(s.Resource ?? []);
    return actions.some((a) => a === '*' || a === 'execute-api:*' || a === 'execute-api:Invoke') && resources.some((r) => arnMatches(r, methodArn));
  };
  if (statements.some((s) => s.Effect === 'Deny' && applies(s))) return false;
  return statements.some((s) => s.Effect === 'Allow' && applies(s));
};

const single = (values: Record<string, string[]>): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [key, list] of Object.entries(values)) out[key] = list[list.length - 1] as string;
  return out;
};

interface Connection extends ConnectionInfo {
  ws: WebSocket;
  alive: boolean;
  idleTimer?: NodeJS.Timeout;
  maxTimer?: NodeJS.Timeout;
  /** Why the gateway closed it, when it did: reported in $disconnect. */
  serverClose?: { code: number; reason: string };
  /** Dropped by an injected fault: no $disconnect fires. */
  vanished?: boolean;
  domainName: string;
}

class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused with ${status}`);
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

const refuseUpgrade = (socket: Duplex, status: number, body: string) => {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nx-amzn-RequestId: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
  );
};

const parseQuery = (search: URLSearchParams) => {
  const multi: Record<string, string[]> = {};
  for (const [key, value] of search) (multi[key] ??= []).push(value);
  return multi;
};

export const createGateway = (options: GatewayOptions): Gateway => {
  const { api, invoke, log, hooks = {} } = options;
  const limits: GatewayLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const routeKeys = new Set(api.routes.keys());
  const path = selectionPath(api.routeSelectionExpression);
  const connections = new Map<string, Connection>();
  const inFlight = new Set<Promise<unknown>>();
  const methodArn = (routeKey: string) => `arn:aws:execute-api:${options.region}:${options.accountId}:${api.apiId}/${api.stage}/${routeKey}`;

  let server: Server | undefined;
  let wss: WebSocketServer | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let closing = false;

  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise)).catch(() => undefined);
    return promise;
  };

  const baseContext = (conn: Pick<Connection, 'connectionId' | 'connectedAt' | 'sourceIp' | 'userAgent' | 'domainName' | 'authorizer'>, routeKey: string, eventType: 'CONNECT' | 'DISCONNECT' | 'MESSAGE') => {
    const now = Date.now();
    const requestId = apiGatewayId();
    return {
      routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: requestTime(now),
      messageDirection: 'IN',
      stage: api.stage,
      connectedAt: conn.connectedAt,
      requestTimeEpoch: now,
      identity: { sourceIp: conn.sourceIp, userAgent: conn.userAgent },
      requestId,
      domainName: conn.domainName,
      connectionId: conn.connectionId,
      apiId: api.apiId,
      ...(conn.authorizer ? { authorizer: conn.authorizer } : {}),
    };
  };

  const route = (routeKey: string) => api.routes.get(routeKey);
  const connectThrottle = tokenBucket(api.throttles?.get('$connect') ?? api.throttles?.get('*'));

  // ---------------------------------------------------------------- $connect

  const authorize = async (authorizer: AuthorizerSpec, request: Record<string, unknown>, connectionId: string) => {
    const query = request.queryStringParameters as Record<string, string> | undefined;
    const headers = request.headers as Record<string, string>;
    for (const source of authorizer.identitySources) {
      // API Gateway answers 401 without calling the authorizer when an identity source is missing.
      const [, , where, name] = source.split('.');
      const present =
        where === 'querystring'
          ? query?.[name as string] !== undefined && query[name as string] !== ''
          : where === 'header'
            ? Object.keys(headers).some((h) => h.toLowerCase() === name?.toLowerCase())
            : true;
      if (!present) throw new UpgradeRefused(401, JSON.stringify({ message: 'Unauthorized' }));
    }
    const event = { type: 'REQUEST', methodArn: methodArn('$connect'), ...request, stageVariables: {} };
    let result: unknown;
    try {
      result = await invoke(authorizer.functionId, event, { kind: 'authorizer', routeKey: '$connect', connectionId });
    } catch (error) {
      // The Lambda authorizer contract: `throw new Error('Unauthorized')` is 401; any other failure is a 500.
      if ((error as Error).message === 'Unauthorized') throw new UpgradeRefused(401, JSON.stringify({ message: 'Unauthorized' }));
      throw new UpgradeRefused(500, JSON.stringify({ message: null }));
    }
    if (!policyAllows(result, event.methodArn)) throw new UpgradeRefused(403, JSON.stringify({ message: 'Forbidden' }));
    const { principalId, context } = (result ?? {}) as { principalId?: unknown; context?: Record<string, unknown> };
    return { ...(context ?? {}), principalId: principalId === undefined ? null : principalId };
  };

  const validUpgrade = (req: IncomingMessage) =>
    req.method === 'GET' &&
    (req.headers.upgrade ?? '').toLowerCase() === 'websocket' &&
    /^[+/0-9A-Za-z]{22}==$/.test(req.headers['sec-websocket-key'] ?? '') &&
    (req.headers['sec-websocket-version'] === '13' || req.headers['sec-websocket-version'] === '8');

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const pathname = url.pathname.replace(/\/+$/, '');
    if (pathname !== '' && pathname !== `/${api.stage}`) {
      refuseUpgrade(socket, 404, JSON.stringify({ message: `no WebSocket API here: connect to / or /${api.stage}` }));
      return;
    }
    if (!validUpgrade(req)) {
      refuseUpgrade(socket, 400, JSON.stringify({ message: 'Bad Request' }));
      return;
    }
    if (closing || !wss) {
      refuseUpgrade(socket, 503, JSON.stringify({ message: 'Service Unavailable' }));
      return;
    }

    const multiValueHeaders: Record<string, string[]> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) (multiValueHeaders[req.rawHeaders[i] as string] ??= []).push(req.rawHeaders[i + 1] as string);
    const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    // What API Gateway adds in front of the integration.
    multiValueHeaders['X-Amzn-Trace-Id'] = [`Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`];
    multiValueHeaders['X-Forwarded-For'] = [sourceIp];
    multiValueHeaders['X-Forwarded-Port'] = [String(req.socket.localPort ?? '')];
    multiValueHeaders['X-Forwarded-Proto'] = ['http'];
    const multiValueQuery = parseQuery(url.searchParams);
    const hasQuery = Object.keys(multiValueQuery).length > 0;

    const conn = {
      connectionId: apiGatewayId(),
      connectedAt: Date.now(),
      lastActiveAt: Date.now(),
      sourceIp,
      userAgent: req.headers['user-agent'] ?? '',
      domainName: req.headers.host ?? `localhost`,
      authorizer: undefined as Record<string, unknown> | undefined,
    };
    const request = {
      headers: single(multiValueHeaders),
      multiValueHeaders,
      ...(hasQuery ? { queryStringParameters: single(multiValueQuery), multiValueQueryStringParameters: multiValueQuery } : {}),
      requestContext: baseContext(conn, '$connect', 'CONNECT'),
      isBase64Encoded: false,
    };

    // The stage's throttling of $connect (its RouteSettings, else DefaultRouteSettings): past it, 429 before the
    // authorizer runs, as API Gateway answers a throttled request.
    if (!connectThrottle.take()) {
      log('info', 'ws', `$connect     ${conn.connectionId} 429 Too Many Requests (route throttling)`);
      refuseUpgrade(socket, 429, JSON.stringify({ message: 'Too Many Requests' }));
      return;
    }
    const connectRoute = route('$connect');
    const timings: string[] = [];
    const timed = async <T>(label: string, call: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await call();
      } finally {
        timings.push(`${label} ${formatDuration(performance.now() - started)}`);
      }
    };
    let connected = false;
    try {
      if (options.auth && connectRoute?.authorizer) {
        const authorizer = connectRoute.authorizer;
        conn.authorizer = await timed(authorizer.functionId, () => authorize(authorizer, request, conn.connectionId));
      }
      if (connectRoute?.functionId) {
        const functionId = connectRoute.functionId;
        const event = { ...request, requestContext: baseContext(conn, '$connect', 'CONNECT') };
        let result: unknown;
        try {
          result = await timed(functionId, () => invoke(functionId, event, { kind: 'route', routeKey: '$connect', connectionId: conn.connectionId }));
        } catch {
          throw new UpgradeRefused(500, JSON.stringify({ message: 'Internal server error', connectionId: conn.connectionId, requestId: event.requestContext.requestId }));
        }
        const status = Number((result as { statusCode?: unknown } | null)?.statusCode ?? 200);
        connected = true;
        if (!(status >= 200 && status < 300)) {
          connected = false;
          const body = (result as { body?: unknown }).body;
          throw new UpgradeRefused(status, typeof body === 'string' ? body : JSON.stringify({ message: STATUS_TEXT[status] ?? 'Error' }));
        }
      }
    } catch (error) {
      const refused = error instanceof UpgradeRefused ? error : new UpgradeRefused(500, JSON.stringify({ message: 'Internal server error' }));
      log('info', 'ws', `$connect     ${conn.connectionId} ${refused.status} ${STATUS_TEXT[refused.status] ?? ''} (${timings.join(', ') || 'no function ran'})`);
      refuseUpgrade(socket, refused.status, refused.body);
      return;
    }

    if (socket.destroyed || closing || !wss) {
      // The client left (or the gateway stopped) while $connect ran: the stored connection still gets its $disconnect.
      refuseUpgrade(socket, 503, JSON.stringify({ message: 'Service Unavailable' }));
      if (connected) await fireDisconnect({ ...conn, ws: undefined as unknown as WebSocket, alive: false }, 1006, 'Client left during $connect');
      return;
    }
    const principal = conn.authorizer?.principalId;
    log('info', 'ws', `$connect     ${conn.connectionId} 200 from ${conn.sourceIp}${principal ? ` as ${String(principal)}` : ''} (${timings.join(', ') || 'no function ran'}; ${connections.size + 1} open)`);
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws, conn));
  };

  // ---------------------------------------------------------------- connected sockets

  const closeConnection = (conn: Connection, code: number, reason: string, disconnectReason = reason) => {
    conn.serverClose ??= { code, reason: disconnectReason };
    if (conn.ws.readyState === WebSocket.OPEN || conn.ws.readyState === WebSocket.CONNECTING) conn.ws.close(code, reason);
  };

  const attach = (ws: WebSocket, info: Omit<Connection, 'ws' | 'alive'>) => {
    const conn: Connection = { ...info, ws, alive: true };
    connections.set(conn.connectionId, conn);

    conn.idleTimer = setTimeout(() => closeConnection(conn, 1001, 'Going away', 'Connection Idle Timeout'), limits.idleTimeoutMs);
    conn.maxTimer = setTimeout(() => closeConnection(conn, 1001, 'Going away', 'Connection exceeded maximum duration'), limits.maxConnectionMs);
    conn.idleTimer.unref();
    conn.maxTimer.unref();

    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('error', (error) => {
      // ws closes the socket itself (1009 for an oversized message, 1002/1007 for protocol errors) and the
      // peer's reply may never come: the code ws sent is what $disconnect reports. 'close' follows.
      const status = Object.getOwnPropertySymbols(error).find((s) => s.description === 'status-code');
      const code = status ? (error as unknown as Record<symbol, number>)[status] : undefined;
      if (typeof code === 'number') conn.serverClose ??= { code, reason: code === 1009 ? 'Message too big' : error.message };
      log('debug', 'ws', `socket error ${conn.connectionId}: ${error.message}`);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      conn.lastActiveAt = Date.now();
      conn.idleTimer?.refresh();
      void track(onMessage(conn, data, isBinary));
    });
    ws.on('close', (code: number, reasonBuffer: Buffer) => {
      clearTimeout(conn.idleTimer);
      clearTimeout(conn.maxTimer);
      connections.delete(conn.connectionId);
      if (conn.vanished) {
        log('info', 'ws', `vanished     ${conn.connectionId} (injected fault: no $disconnect; ${connections.size} open)`);
        return;
      }
      const reason = reasonBuffer.toString();
      const described =
        conn.serverClose?.reason ??
        (code === 1005 ? 'Client-side close frame status not set' : code === 1006 ? 'Connection closed abnormally (no close frame)' : reason || `Client closed with status ${code}`);
      void track(fireDisconnect(conn, conn.serverClose?.code ?? code, described));
    });
  };

  const onMessage = async (conn: Connection, data: Buffer, isBinary: boolean) => {
    const body = isBinary ? data.toString('base64') : data.toString('utf8');
    const routeKey = isBinary ? '$default' : selectRoute(body, path, routeKeys);
    const target = route(routeKey);
    const requestContext = { ...baseContext(conn, routeKey, 'MESSAGE'), messageId: apiGatewayId() };
    const reply = (text: string) => {
      if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(text);
    };
    if (!target?.functionId) {
      // No route and no $default: API Gateway's own answer.
      reply(JSON.stringify({ message: 'Forbidden', connectionId: conn.connectionId, requestId: requestContext.requestId }));
      return;
    }
    const event = { requestContext, body, isBase64Encoded: isBinary };
    const started = performance.now();
    let result: unknown;
    try {
      result = await invoke(target.functionId, event, { kind: 'route', routeKey, connectionId: conn.connectionId });
    } catch (error) {
      log('warn', 'ws', `${routeKey.padEnd(12)} ${conn.connectionId} → ${target.functionId} failed: ${(error as Error).name} (${formatDuration(performance.now() - started)})`);
      if (target.twoWay) reply(JSON.stringify({ message: 'Internal server error', connectionId: conn.connectionId, requestId: requestContext.requestId }));
      return;
    }
    const status = (result as { statusCode?: unknown } | null)?.statusCode;
    log('info', 'ws', `${routeKey.padEnd(12)} ${conn.connectionId} → ${target.functionId} ${status ?? ''} (${formatDuration(performance.now() - started)})`);
    if (!target.twoWay || result === null || result === undefined) return;
    const replyBody = typeof result === 'object' ? (result as { body?: unknown }).body : result;
    if (replyBody === undefined || replyBody === null) return;
    reply(typeof replyBody === 'string' ? replyBody : JSON.stringify(replyBody));
  };

  const fireDisconnect = async (conn: Connection, code: number, reason: string) => {
    const target = route('$disconnect');
    if (!target?.functionId) {
      log('info', 'ws', `$disconnect  ${conn.connectionId} ${code} ${reason} (${connections.size} open)`);
      return;
    }
    const event = {
      headers: { Host: conn.domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' },
      multiValueHeaders: { Host: [conn.domainName], 'x-api-key': [''], 'X-Forwarded-For': [''], 'x-restapi': [''] },
      requestContext: { ...baseContext(conn, '$disconnect', 'DISCONNECT'), disconnectStatusCode: code, disconnectReason: reason },
      isBase64Encoded: false,
    };
    const started = performance.now();
    let outcome = 'ok';
    try {
      await invoke(target.functionId, event, { kind: 'route', routeKey: '$disconnect', connectionId: conn.connectionId });
    } catch (error) {
      // API Gateway does not retry $disconnect either: the item's TTL is the backstop.
      outcome = `failed: ${(error as Error).name}`;
    }
    log(outcome === 'ok' ? 'info' : 'warn', 'ws', `$disconnect  ${conn.connectionId} ${code} ${reason} → ${target.functionId} ${outcome} (${formatDuration(performance.now() - started)}; ${connections.size} open)`);
  };

  // ---------------------------------------------------------------- management API

  const MANAGEMENT_PATH = /^\/(?:([^/]+)\/)?@connections\/([^/?]+)\/?(?:\?.*)?$/;

  const answer = (res: ServerResponse, status: number, body?: unknown, errorType?: string, extraHeaders?: Record<string, string>) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'x-amzn-RequestId': randomUUID(),
      ...extraHeaders,
    };
    if (errorType) headers['x-amzn-ErrorType'] = errorType;
    res.writeHead(status, headers);
    res.end(text);
  };

  const readBody = (req: IncomingMessage, limit: number): Promise<Buffer | undefined> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) over = true;
        else chunks.push(chunk);
      });
      req.on('end', () => resolve(over ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const match = MANAGEMENT_PATH.exec(req.url ?? '');
    if (!match) {
      req.resume();
      if (req.method === 'GET' && (req.url === '/' || req.url === `/${api.stage}`)) {
        res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' });
        res.end(`This is the local WebSocket API. Connect with a WebSocket client, e.g. wscat -c ws://${req.headers.host ?? 'localhost'}\n`);
        return;
      }
      answer(res, 404, { message: 'Not Found' }, 'NotFoundException');
      return;
    }
    const [, stage, rawId] = match;
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(rawId as string);
    } catch {
      req.resume();
      answer(res, 400, { message: 'Invalid connection id' }, 'BadRequestException');
      return;
    }
    if (stage !== undefined && stage !== api.stage) {
      req.resume();
      answer(res, 403, { message: 'Forbidden' }, 'ForbiddenException');
      return;
    }
    const method = req.method ?? 'GET';
    const fault = hooks.management?.({ method, connectionId });
    const conn = connections.get(connectionId);
    if (fault) {
      req.resume();
      if (fault.vanish && conn) {
        conn.vanished = true;
        connections.delete(connectionId);
        conn.ws.terminate();
      }
      answer(res, fault.status, { message: fault.message ?? fault.errorType }, fault.errorType, fault.headers);
      return;
    }

    if (method === 'POST') {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > limits.maxPayloadBytes) {
        req.resume();
        answer(res, 413, { message: 'Request entity too large' }, 'PayloadTooLargeException', { Connection: 'close' });
        return;
      }
      const body = await readBody(req, limits.maxPayloadBytes);
      if (body === undefined) {
        answer(res, 413, { message: 'Request entity too large' }, 'PayloadTooLargeException');
        return;
      }
      if (!conn || conn.ws.readyState !== WebSocket.OPEN) {
        answer(res, 410, { message: 'Gone' }, 'GoneException');
        return;
      }
      conn.ws.send(body, { binary: !isUtf8(body) });
      conn.lastActiveAt = Date.now();
      answer(res, 200);
      return;
    }
    req.resume();
    if (!conn) {
      answer(res, 410, { message: 'Gone' }, 'GoneException');
      return;
    }
    if (method === 'GET') {
      // The wire names are camelCase; the SDK maps them to ConnectedAt, Identity and LastActiveAt.
      answer(res, 200, {
        connectedAt: new Date(conn.connectedAt).toISOString(),
        identity: { sourceIp: conn.sourceIp, userAgent: conn.userAgent },
        lastActiveAt: new Date(conn.lastActiveAt).toISOString(),
      });
      return;
    }
    if (method === 'DELETE') {
      log('info', 'mgmt', `DELETE       ${connectionId}`);
      closeConnection(conn, 1000, '', 'Connection deleted by the @connections API');
      answer(res, 204);
      return;
    }
    answer(res, 404, { message: 'Not Found' }, 'NotFoundException');
  };

  // ---------------------------------------------------------------- lifecycle

  return {
    get listening() {
      return server?.listening ?? false;
    },

    connections: () =>
      [...connections.values()].map(({ connectionId, connectedAt, lastActiveAt, sourceIp, userAgent, authorizer }) => ({
        connectionId,
        connectedAt,
        lastActiveAt,
        sourceIp,
        userAgent,
        authorizer,
      })),

    settled: async () => {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },

    listen(port, host) {
      if (server?.listening) throw new Error('the gateway is already listening');
      closing = false;
      const httpServer = createServer((req, res) => {
        onRequest(req, res).catch((error: Error) => {
          log('error', 'mgmt', `${req.method} ${req.url}: ${error.message}`);
          if (!res.headersSent) answer(res, 500, { message: 'Internal server error' }, 'InternalServerErrorException');
        });
      });
      // Keep-alive friendly: the fan-out's SDK client reuses its sockets across invocations.
      httpServer.keepAliveTimeout = 65_000;
      httpServer.headersTimeout = 66_000;
      const wsServer = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayloadBytes, clientTracking: false });
      httpServer.on('upgrade', (req, socket, head) => {
        void track(
          onUpgrade(req, socket, head).catch((error: Error) => {
            log('error', 'ws', `upgrade failed: ${error.message}`);
            refuseUpgrade(socket, 500, JSON.stringify({ message: 'Internal server error' }));
          }),
        );
      });
      server = httpServer;
      wss = wsServer;
      heartbeat = setInterval(() => {
        for (const conn of connections.values()) {
          if (!conn.alive) {
            conn.ws.terminate();
            continue;
          }
          conn.alive = false;
          conn.ws.ping();
        }
      }, limits.heartbeatMs);
      heartbeat.unref();
      return new Promise<number>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          httpServer.off('error', reject);
          resolve((httpServer.address() as { port: number }).port);
        });
      });
    },

    async close(code = 1001, reason = 'Going away') {
      closing = true;
      clearInterval(heartbeat);
      const open = [...connections.values()];
      // Close frames first; a peer that does not answer within a second is cut off (its 'close' still fires $disconnect).
      const closed = open.map(
        (conn) =>
          new Promise<void>((resolve) => {
            if (conn.ws.readyState === WebSocket.CLOSED) return resolve();
            conn.ws.once('close', () => resolve());
            closeConnection(conn, code, reason, reason === 'Going away' ? 'Gateway stopped' : reason);
            setTimeout(() => conn.ws.terminate(), 1000).unref();
          }),
      );
      await Promise.all(closed);
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      const httpServer = server;
      server = undefined;
      wss?.close();
      wss = undefined;
      if (httpServer) {
        await new Promise<void>((resolve) => {
          httpServer.close(() => resolve());
          httpServer.closeAllConnections();
        });
      }
    },
  };
};
