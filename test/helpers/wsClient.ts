/**
 * A WebSocket test client: collects every frame it receives and awaits the
 * first one matching a predicate (received before or after the call), each
 * frame handed out once. Every wait is bounded.
 */
import { request } from 'node:http';
import WebSocket from 'ws';

export type Frame = Record<string, any>;

/**
 * Upper bounds, not expectations: a passing spec never waits them out, and a loaded CI host (two cores, a suite
 * and a bench at once) can take seconds to answer one handshake among fifty at once.
 */
const HANDSHAKE_TIMEOUT_MS = 20_000;
const FRAME_TIMEOUT_MS = 15_000;

export interface TestClient {
  readonly ws: WebSocket;
  /** Every frame so far: parsed JSON, or `{ raw }` for text that is not JSON, or `{ binary }`. */
  readonly frames: Frame[];
  send(frame: unknown): void;
  /** The first frame not yet taken that matches; rejects after `timeoutMs`. */
  next(predicate?: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Sends a frame and awaits the first matching answer. */
  request(frame: unknown, predicate?: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Resolves once no matching frame has arrived for `quietMs` (to prove something does not come). */
  none(predicate: (frame: Frame) => boolean, quietMs: number): Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  close(code?: number): Promise<{ code: number; reason: string }>;
  /** Drops the TCP connection without a close frame, like a laptop lid or a dead network. */
  kill(): void;
}

export const connectClient = (url: string, { timeoutMs = HANDSHAKE_TIMEOUT_MS, headers }: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<TestClient> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs });
    const frames: Frame[] = [];
    const taken = new Set<Frame>();
    const waiters = new Set<() => void>();
    let closeInfo: { code: number; reason: string } | undefined;
    const closed = new Promise<{ code: number; reason: string }>((done) => {
      ws.on('close', (code, reason) => {
        closeInfo = { code, reason: reason.toString() };
        done(closeInfo);
        for (const wake of waiters) wake();
      });
    });
    ws.on('message', (data: Buffer, isBinary) => {
      let frame: Frame;
      if (isBinary) frame = { binary: data };
      else {
        const text = data.toString('utf8');
        try {
          const parsed = JSON.parse(text);
          frame = parsed && typeof parsed === 'object' ? parsed : { raw: text };
        } catch {
          frame = { raw: text };
        }
      }
      frames.push(frame);
      for (const wake of waiters) wake();
    });
    ws.once('error', reject);

    const next = (predicate: (frame: Frame) => boolean = () => true, wait = FRAME_TIMEOUT_MS) =>
      new Promise<Frame>((found, fail) => {
        const check = () => {
          const frame = frames.find((f) => !taken.has(f) && predicate(f));
          if (frame) {
            taken.add(frame);
            cleanup();
            found(frame);
            return true;
          }
          if (closeInfo) {
            cleanup();
            fail(new Error(`socket closed (${closeInfo.code} ${closeInfo.reason}) before a matching frame; got ${JSON.stringify(frames).slice(0, 500)}`));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          cleanup();
          fail(new Error(`no matching frame within ${wait} ms; got ${JSON.stringify(frames).slice(0, 500)}`));
        }, wait);
        const wake = () => void check();
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        if (!check()) waiters.add(wake);
      });

    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => undefined);
      resolve({
        ws,
        frames,
        send: (frame) => ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame)),
        next,
        request(frame, predicate, wait) {
          ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
          return next(predicate, wait);
        },
        none: (predicate, quietMs) =>
          new Promise((done, fail) =>
            setTimeout(() => {
              const frame = frames.find((f) => !taken.has(f) && predicate(f));
              if (frame) fail(new Error(`unexpected frame: ${JSON.stringify(frame).slice(0, 300)}`));
              else done();
            }, quietMs),
          ),
        closed,
        close(code = 1000) {
          if (ws.readyState === WebSocket.OPEN) ws.close(code);
          const timer = setTimeout(() => ws.terminate(), 2000);
          return closed.finally(() => clearTimeout(timer));
        },
        kill() {
          (ws as unknown as { _socket: import('node:net').Socket })._socket.destroy();
        },
      });
    });
  });

/** The HTTP status a WebSocket upgrade is refused with (rejects if the upgrade succeeds). */
export const upgradeStatus = (url: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        ws.terminate();
      });
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`the upgrade to ${url} succeeded`));
    });
    ws.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });

/** A plain HTTP GET, for static files and /config.json. */
export const httpGet = (url: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
