/**
 * The dashboard's HTTP server: static files from dashboard/dist, a live
 * /config.json that tells the page where the local stack is, and MQTT over
 * WebSocket on /mqtt so that browser devices can publish too.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

const MISSING_DASHBOARD = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>serverless-iot-dashboard (local)</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The dashboard is not built yet</h1>
<p>The local stack is running, but <code>dashboard/dist/</code> is missing. Build it with</p>
<pre>npm run build:dashboard</pre>
<p>and reload this page. (<code>npm start</code> builds it for you.) Meanwhile the WebSocket API works:
see <a href="/config.json">/config.json</a> for its URL.</p>
</body></html>
`;

/** Names that always mean this machine. https://www.rfc-editor.org/rfc/rfc6761#section-6.3 */
export const LOOPBACK_HOSTNAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** A Host header's (or an Origin's) host name, lower-case and without brackets or port; undefined when it is not one. */
export const hostnameOf = (hostHeader: string | undefined): string | undefined => {
  if (!hostHeader) return undefined;
  try {
    return new URL(`http://${hostHeader}`).hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  } catch {
    return undefined;
  }
};

const originHostname = (origin: string): string | undefined => {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? hostnameOf(url.host) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Whether a request comes from a page of this machine: its Host names a local
 * address (a DNS-rebinding page arrives with its own domain in Host), and its
 * Origin, when a browser sends one, is local too (any other web page the
 * developer visits arrives with its own Origin). Tools without an Origin
 * (curl, mqtt clients) are let through: they run on this machine anyway.
 */
export const isLocalRequest = (headers: IncomingMessage['headers'], allowed: readonly string[]): boolean => {
  const isAllowed = (name: string | undefined) => name !== undefined && (allowed.includes(name) || name.endsWith('.localhost'));
  if (!isAllowed(hostnameOf(headers.host))) return false;
  const origin = headers.origin;
  return origin === undefined || isAllowed(originHostname(origin));
};

/**
 * The file a URL path names inside `root`, or undefined when the path tries to
 * leave it (`..`, encoded slashes, NUL bytes). Pure: no file system access.
 */
export const staticFilePath = (root: string, urlPath: string): string | undefined => {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0] ?? '/');
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const base = resolve(root);
  const file = resolve(join(base, decoded));
  if (file !== base && !file.startsWith(base + sep)) return undefined;
  return file;
};

export interface WebServerOptions {
  root: string;
  /** The body of /config.json for this request (its Host header tells which host name the browser used). */
  config: (req: IncomingMessage) => Record<string, unknown>;
  /** A WebSocket accepted on /mqtt. */
  onMqttSocket: (ws: WebSocket, req: IncomingMessage) => void;
  /**
   * Host names that /config.json (it hands out the development token) and /mqtt (it reads and publishes
   * all telemetry) answer to, in Host and Origin; anything else gets 403. Default: the loopback names.
   */
  allowedHosts?: readonly string[];
  /** Another service on this port (the local sign-in provider under /oidc): true when it answered the request. */
  mounted?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export interface WebServer {
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export const createWebServer = ({ root, config, onMqttSocket, allowedHosts = LOOPBACK_HOSTNAMES, mounted }: WebServerOptions): WebServer => {
  const mqttSockets = new WebSocketServer({
    noServer: true,
    // MQTT.js asks for the "mqtt" subprotocol (older clients "mqttv3.1").
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
  });

  const send = (res: ServerResponse, status: number, type: string, body: string, head = false) => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(head ? undefined : body);
  };

  const serveFile = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const head = req.method === 'HEAD';
    const urlPath = (req.url ?? '/').split('?')[0] as string;
    const rootExists = await stat(root).then((s) => s.isDirectory(), () => false);
    if (!rootExists) {
      if (urlPath === '/' || urlPath === '/index.html') return send(res, 200, CONTENT_TYPES['.html'] as string, MISSING_DASHBOARD, head);
      return send(res, 404, 'text/plain; charset=utf-8', 'Not found: the dashboard is not built (npm run build:dashboard)\n', head);
    }
    let file = staticFilePath(root, urlPath);
    if (!file) return send(res, 403, 'text/plain; charset=utf-8', 'Forbidden\n', head);
    let info = await stat(file).catch(() => undefined);
    if (info?.isDirectory()) {
      file = join(file, 'index.html');
      info = await stat(file).catch(() => undefined);
    }
    if (!info?.isFile()) return send(res, 404, 'text/plain; charset=utf-8', 'Not found\n', head);
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    if (head) {
      res.end();
      return;
    }
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (mounted?.(req, res)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' });
      res.end();
      return;
    }
    const urlPath = (req.url ?? '/').split('?')[0];
    if (urlPath === '/config.json') {
      if (!isLocalRequest(req.headers, allowedHosts)) return send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: /config.json answers pages of this machine only\n', req.method === 'HEAD');
      send(res, 200, CONTENT_TYPES['.json'] as string, `${JSON.stringify(config(req), null, 2)}\n`, req.method === 'HEAD');
      return;
    }
    serveFile(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'Internal error\n');
      else res.destroy();
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    if ((req.url ?? '').split('?')[0] !== '/mqtt') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (!isLocalRequest(req.headers, allowedHosts)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    mqttSockets.handleUpgrade(req, socket, head, (ws) => onMqttSocket(ws, req));
  };

  let server: Server | undefined;
  return {
    listen(port, host) {
      const httpServer = createServer(onRequest);
      httpServer.on('upgrade', onUpgrade);
      server = httpServer;
      return new Promise((resolvePort, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          httpServer.off('error', reject);
          resolvePort((httpServer.address() as { port: number }).port);
        });
      });
    },
    async close() {
      for (const ws of mqttSockets.clients) ws.terminate();
      mqttSockets.close();
      const httpServer = server;
      server = undefined;
      if (!httpServer) return;
      await new Promise<void>((done) => {
        httpServer.close(() => done());
        httpServer.closeAllConnections();
      });
    },
  };
};
