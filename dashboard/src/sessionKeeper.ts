/**
 * Keeps a signed-in session alive: renews the tokens before the access token
 * expires, hands each new session to the page (which reconnects with it), and
 * ends the session with a message when renewal is refused. A network failure
 * is retried while the current token is still valid. DOM-free, timers injected.
 */
import { type Session, describeRefreshError, renewalDelayMs } from './signIn.js';

export interface Renewer {
  refresh(session: Session): Promise<Session>;
}

export interface KeeperTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface SessionKeeperOptions {
  renewer: Renewer;
  session: Session;
  onRenewed: (session: Session) => void;
  onEnded: (message: string) => void;
  timers?: KeeperTimers;
  now?: () => number;
  /** After a network failure, try again this much later (while the token lasts). */
  retryMs?: number;
}

export class SessionKeeper {
  private session: Session;
  private timer: unknown;
  private stopped = false;
  private readonly timers: KeeperTimers;
  private readonly now: () => number;

  constructor(private readonly options: SessionKeeperOptions) {
    this.session = options.session;
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    };
    this.now = options.now ?? Date.now;
  }

  get current(): Session {
    return this.session;
  }

  start(): void {
    this.schedule(renewalDelayMs(this.session, this.now()));
  }

  stop(): void {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
  }

  /** Renews now (e.g. the server said the token expired). */
  renewNow(): void {
    this.timers.clearTimeout(this.timer);
    void this.renew();
  }

  private schedule(ms: number): void {
    this.timers.clearTimeout(this.timer);
    if (!this.stopped) this.timer = this.timers.setTimeout(() => void this.renew(), ms);
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    try {
      const renewed = await this.options.renewer.refresh(this.session);
      if (this.stopped) return;
      this.session = renewed;
      this.options.onRenewed(renewed);
      this.schedule(renewalDelayMs(renewed, this.now()));
    } catch (error) {
      if (this.stopped) return;
      const retryMs = this.options.retryMs ?? 5000;
      // Unreachable, not refused: worth another try while the current token still opens connections.
      if (error instanceof TypeError && this.now() + retryMs < this.session.expiresAt) {
        this.schedule(retryMs);
        return;
      }
      this.stopped = true;
      this.options.onEnded(`You are signed out: ${describeRefreshError(error)}. Sign in again.`);
    }
  }
}
