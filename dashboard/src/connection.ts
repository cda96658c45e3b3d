/**
 * One WebSocket that stays up: connect, heartbeat, detect a dead link, and
 * reconnect with backoff. DOM-free: the socket factory and the clock are
 * injected, so tests drive it with a fake socket and fake timers.
 */
import { Backoff } from './backoff.js';
import type { ClientFrame } from './frames.js';

export type ConnectionStatus =
  | { state: 'connecting'; attempt: number }
  | { state: 'live'; since: number }
  | { state: 'reconnecting'; attempt: number; retryAt: number; reason: string }
  | { state: 'stopped' };

/** The slice of the browser's WebSocket this needs. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
}

const OPEN = 1;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ConnectionOptions {
  /** Called before every attempt, so a reconnect can carry the current subscriptions. */
  url: () => string;
  createSocket: (url: string) => SocketLike;
  backoff?: Backoff;
  timers?: Timers;
  now?: () => number;
  /** Ping this often while open; API Gateway closes connections idle for 10 minutes. */
  heartbeatMs?: number;
  /** No frame at all this long after a ping: the link is dead (half-open TCP), reconnect. */
  pongTimeoutMs?: number;
  /** A socket still not open after this long is abandoned. */
  connectTimeoutMs?: number;
  onStatus?: (status: ConnectionStatus) => void;
  /** The socket opened (first time, after a reconnect, or replacing the last one in a renew()); `url` is what it opened. */
  onOpen?: (url: string, how: { renewed: boolean }) => void;
  onClose?: () => void;
  onFrame?: (text: unknown) => void;
  /** A renew() whose new socket never opened; the current socket stays. */
  onRenewFailed?: (reason: string) => void;
}

export class LiveConnection {
  private socket: SocketLike | undefined;
  private status: ConnectionStatus = { state: 'stopped' };
  private readonly backoff: Backoff;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly heartbeatMs: number;
  private readonly pongTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private retryTimer: unknown;
  private heartbeatTimer: unknown;
  private deadlineTimer: unknown;
  private attempt = 0;
  private everOpened = false;
  /** renew()'s socket while it opens. */
  private successor: SocketLike | undefined;
  private successorTimer: unknown;

  constructor(private readonly options: ConnectionOptions) {
    this.backoff = options.backoff ?? new Backoff();
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    };
    this.now = options.now ?? Date.now;
    this.heartbeatMs = options.heartbeatMs ?? 4 * 60_000;
    this.pongTimeoutMs = options.pongTimeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  get current(): ConnectionStatus {
    return this.status;
  }

  get isOpen(): boolean {
    return this.socket?.readyState === OPEN && this.status.state === 'live';
  }

  start(): void {
    if (this.status.state !== 'stopped') return;
    this.open();
  }

  stop(): void {
    this.abandonSuccessor();
    this.clearTimers();
    this.detach()?.close(1000, 'page closed');
    this.setStatus({ state: 'stopped' });
  }

  /** Sends a frame if the socket is open; false otherwise (the caller re-plans after the next open). */
  send(frame: ClientFrame): boolean {
    if (!this.isOpen || !this.socket) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Drops the current socket and reconnects after the usual backoff (e.g. the server forgot us). */
  reconnect(reason: string): void {
    if (this.status.state === 'stopped') return;
    this.abandonSuccessor();
    this.detach()?.close(4000, reason.slice(0, 120));
    this.scheduleRetry(reason);
  }

  /**
   * Make-before-break, for a renewed token: opens a second socket with a fresh
   * url() and, once it is open, closes the current one (1000). Until then
   * frames keep arriving on the current socket; one that both deliver is
   * dropped by its id upstream. So a renewal loses no reading. When not live,
   * it connects at once instead of waiting out a backoff.
   */
  renew(reason = 'token renewed'): void {
    if (this.status.state === 'stopped') return;
    this.abandonSuccessor();
    if (!this.isOpen) {
      this.detach()?.close(1000, reason);
      this.backoff.reset();
      this.open();
      return;
    }
    const url = this.options.url();
    let next: SocketLike;
    try {
      next = this.options.createSocket(url);
    } catch (error) {
      this.options.onRenewFailed?.(`cannot open: ${(error as Error).message}`);
      return;
    }
    this.successor = next;
    const giveUp = (why: string) => {
      if (this.successor !== next) return;
      this.abandonSuccessor();
      this.options.onRenewFailed?.(why);
    };
    this.successorTimer = this.timers.setTimeout(() => giveUp('the new connection did not open in time'), this.connectTimeoutMs);
    next.onerror = () => undefined;
    next.onclose = (event) => giveUp(describeClose(event.code, event.reason));
    next.onopen = () => {
      if (this.successor !== next) return;
      this.timers.clearTimeout(this.successorTimer);
      this.successor = undefined;
      this.clearTimers();
      const previous = this.detach();
      this.socket = next;
      this.listen(next);
      previous?.close(1000, reason);
      this.setStatus({ state: 'live', since: this.now() });
      this.options.onOpen?.(url, { renewed: true });
      this.ping();
    };
  }

  private abandonSuccessor(): void {
    const next = this.successor;
    this.successor = undefined;
    this.timers.clearTimeout(this.successorTimer);
    if (!next) return;
    next.onopen = null;
    next.onclose = null;
    next.onerror = null;
    next.onmessage = null;
    next.close(1000, 'renewal abandoned');
  }

  private open(): void {
    this.clearTimers();
    this.attempt++;
    if (!this.everOpened) this.setStatus({ state: 'connecting', attempt: this.attempt });
    const url = this.options.url();
    let socket: SocketLike;
    try {
      socket = this.options.createSocket(url);
    } catch (error) {
      this.scheduleRetry(`cannot open: ${(error as Error).message}`);
      return;
    }
    this.socket = socket;
    this.deadlineTimer = this.timers.setTimeout(() => this.reconnect('connect timed out'), this.connectTimeoutMs);

    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.timers.clearTimeout(this.deadlineTimer);
      this.everOpened = true;
      this.setStatus({ state: 'live', since: this.now() });
      this.options.onOpen?.(url, { renewed: false });
      // An immediate ping proves the route works end to end; its pong resets the backoff.
      this.ping();
    };
    this.listen(socket);
  }

  /** Frames, errors and the close of the current socket. */
  private listen(socket: SocketLike): void {
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      // Any frame proves the link is alive; a server that answers is a server worth trying quickly next time.
      this.timers.clearTimeout(this.deadlineTimer);
      this.attempt = 0;
      this.backoff.reset();
      this.options.onFrame?.(event.data);
    };
    socket.onerror = () => {
      // Always followed by onclose, which carries the code.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.detach();
      this.scheduleRetry(describeClose(event.code, event.reason));
    };
  }

  private ping(): void {
    this.timers.clearTimeout(this.heartbeatTimer);
    if (!this.send({ action: 'ping' })) return;
    // Any frame before the deadline clears it (onmessage); silence means a dead link.
    this.deadlineTimer = this.timers.setTimeout(() => this.reconnect('no reply to ping'), this.pongTimeoutMs);
    this.heartbeatTimer = this.timers.setTimeout(() => this.ping(), this.heartbeatMs);
  }

  private scheduleRetry(reason: string): void {
    this.clearTimers();
    const wasLive = this.status.state === 'live';
    if (wasLive) this.options.onClose?.();
    const delay = this.backoff.next();
    this.setStatus({ state: 'reconnecting', attempt: this.attempt, retryAt: this.now() + delay, reason });
    this.retryTimer = this.timers.setTimeout(() => this.open(), delay);
  }

  private detach(): SocketLike | undefined {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.onopen = null;
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
    }
    return socket;
  }

  private clearTimers(): void {
    this.timers.clearTimeout(this.retryTimer);
    this.timers.clearTimeout(this.heartbeatTimer);
    this.timers.clearTimeout(this.deadlineTimer);
  }

  private setStatus(status: ConnectionStatus): void {
    this.status = status;
    this.options.onStatus?.(status);
  }
}

/** Browsers hide the HTTP status of a refused upgrade (401/403 arrive as 1006), so say what it may be. */
export const describeClose = (code: number, reason: string): string => {
  if (reason) return `closed (${code}): ${reason}`;
  switch (code) {
    case 1000:
      return 'closed by the server';
    case 1001:
      return 'the server went away';
    case 1006:
      return 'connection lost or refused (a bad token or origin also looks like this)';
    case 1009:
      return 'a frame was too large';
    case 1011:
      return 'server error';
    default:
      return `closed (${code})`;
  }
};
