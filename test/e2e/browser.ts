/**
 * Shared pieces of the dashboard's browser tests: Debian's Chromium through
 * playwright-core, a static server for dashboard/dist, and a scripted gateway
 * that plays the server's side of the wire format on cue.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type WebSocket, WebSocketServer } from 'ws';
import { contentTypeFor } from '../../dashboard/deploy.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const MISSING = () =>
  `The dashboard browser test needs Chromium at ${CHROMIUM} and this machine has none. ` +
  'Install it with: sudo apt-get install -y chromium (or set CHROMIUM_PATH). playwright-core never downloads a browser here.';

/**
 * Without Chromium a developer's `npm test` skips the browser specs with a loud
 * warning; CI (CI=true, which installs Chromium) fails instead, so the suite
 * can never pass there without a browser.
 */
export const skipWithoutChromium = (context: Mocha.Context): void => {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return;
  console.warn(`\n  ⚠ SKIPPING the browser specs. ${MISSING()}\n`);
  context.skip();
};

/** Fails with the fix when Chromium is missing. */
export const launchChromium = async (): Promise<Browser> => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(MISSING());
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 30_000,
  });
};

/** Console errors and uncaught exceptions of a page, minus the expected noise of a dropped WebSocket. */
export const watchPageErrors = (page: Page): string[] => {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // Chromium logs every failed or dropped WebSocket: that is the reconnect test doing its job.
    if (/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET/.test(text)) return;
    errors.push(`console: ${text}`);
  });
  return errors;
};

/** Pixels of a device's range chart of a field close to its colour: proof the line was drawn, not just the axes. */
export const chartPixels = (page: Page, deviceId: string, field: string, rgb: [number, number, number]): Promise<number> =>
  page.evaluate(
    ({ deviceId, field, rgb }) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`[data-testid="range-charts"][data-device-id="${deviceId}"] [data-testid="range-chart"][data-field="${field}"] canvas`);
      const context = canvas?.getContext('2d');
      if (!canvas || !context || canvas.width === 0) return 0;
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) < 40 && Math.abs(data[i + 1] - rgb[1]) < 40 && Math.abs(data[i + 2] - rgb[2]) < 40) count++;
      }
      return count;
    },
    { deviceId, field, rgb },
  );

export interface StaticSite {
  url: string;
  close(): Promise<void>;
}

/** Serves a built dashboard and a config.json of our choosing. */
export const serveDashboard = async (root: string, config: () => object): Promise<StaticSite> => {
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(config()));
      return;
    }
    const file = path === '/' ? 'index.html' : path.slice(1);
    if (file.includes('..')) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(join(root, file));
      res.writeHead(200, { 'Content-Type': contentTypeFor(extname(file) ? file : 'x.html') }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
};

/**
 * The server side of the wire contract (docs/asyncapi.yaml), scripted: answers ping and (un)subscribe like
 * the real routes do, records what the page sends, and lets a test push frames.
 */
export class ScriptedGateway {
  readonly received: Record<string, unknown>[] = [];
  /** The `devices` query parameter of each connection ('' when none). */
  readonly connects: string[] = [];
  /** The `token` query parameter of each connection (null when none). */
  readonly tokens: (string | null)[] = [];
  private readonly server: WebSocketServer;
  private sockets = new Set<WebSocket>();
  private subscriptions = new Set<string>();

  private constructor(server: WebSocketServer) {
    this.server = server;
    server.on('connection', (socket, req) => {
      this.sockets.add(socket);
      const url = new URL(req.url ?? '/', 'ws://localhost');
      this.connects.push(url.searchParams.get('devices') ?? '');
      this.tokens.push(url.searchParams.get('token'));
      this.subscriptions = new Set(url.searchParams.get('devices')?.split(',') ?? ['*']);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('message', (raw) => this.answer(socket, JSON.parse(String(raw)) as Record<string, unknown>));
    });
  }

  static async start(): Promise<ScriptedGateway> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    return new ScriptedGateway(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Frames the page sent, other than heartbeats and reads (devices, history, alarms): the subscription changes. */
  actions(): Record<string, unknown>[] {
    return this.received.filter((frame) => !['ping', 'devices', 'history', 'alarms'].includes(frame.action as string));
  }

  send(frame: object): void {
    for (const socket of this.sockets) socket.send(JSON.stringify(frame));
  }

  /** Drops every connection the way a crashed gateway would (no close frame). */
  dropAll(): void {
    for (const socket of this.sockets) socket.terminate();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private answer(socket: WebSocket, frame: Record<string, unknown>): void {
    this.received.push(frame);
    const devices = frame.devices === '*' ? ['*'] : ((frame.devices as string[] | undefined) ?? []);
    switch (frame.action) {
      case 'ping':
        socket.send(JSON.stringify({ type: 'pong', ts: Date.now() }));
        return;
      // No stored data here: an empty snapshot and empty history, as a stack with no readings answers.
      case 'devices':
        socket.send(JSON.stringify({ type: 'snapshot', requestId: frame.requestId, done: true, devices: [] }));
        return;
      case 'history':
        socket.send(JSON.stringify({ type: 'history', requestId: frame.requestId, deviceId: frame.deviceId, downsampled: false, done: true, points: [] }));
        return;
      case 'subscribe':
        for (const id of devices) this.subscriptions.add(id);
        break;
      case 'unsubscribe':
        if (frame.devices === '*') this.subscriptions.clear();
        else for (const id of devices) this.subscriptions.delete(id);
        break;
      default:
        socket.send(JSON.stringify({ type: 'error', code: 'bad_request', message: 'unknown action' }));
        return;
    }
    socket.send(JSON.stringify({ type: `${frame.action}d`, devices: frame.devices, subscriptions: [...this.subscriptions].sort() }));
  }
}

/** Waits for a condition in Node, bounded, with a message that says what never happened. */
export const eventually = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
