/**
 * The page: wires config -> connection -> model -> view. Everything that can be
 * decided without a DOM lives in the modules beside this one, with tests.
 */
import { Backoff } from './backoff.js';
import { type DashboardConfig, type FileConfig, HEARTBEAT_MS, addressWithoutToken, connectUrl, parseFileConfig, resolveConfig, tokenScope } from './config.js';
import { type ConnectionStatus, LiveConnection, type SocketLike } from './connection.js';
import { displayUrl, formatAgo, formatClock, formatMs, formatRate } from './format.js';
import { DashboardModel } from './model.js';
import { SessionKeeper } from './sessionKeeper.js';
import { type Session, SignIn, displayName, isCallback, withoutCallbackParams } from './signIn.js';
import { DeviceCard, type DeviceState } from './view/deviceCard.js';
import { AlarmsPanel } from './alarms/alarmsPanel.js';
import { byTestId, h, setAttr, setText } from './view/dom.js';

// layers/shared/src/frames.ts DEVICE_ID_PATTERN: refuse locally what the server would refuse.
const DEVICE_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

const ui = {
  status: byTestId('connection-status'),
  statusLabel: byTestId('connection-label'),
  statusDetail: byTestId('connection-detail'),
  endpoint: byTestId('endpoint'),
  lastMessage: byTestId('last-message'),
  latency: byTestId('latency'),
  rate: byTestId('rate'),
  deviceCount: byTestId('device-count'),
  duplicates: byTestId('duplicates'),
  notices: byTestId('error-banner'),
  mode: byTestId('subscription-mode'),
  subscribeAll: byTestId<HTMLButtonElement>('subscribe-all'),
  addForm: byTestId<HTMLFormElement>('add-device'),
  addInput: byTestId<HTMLInputElement>('add-device-input'),
  list: byTestId('device-list'),
  empty: byTestId('empty-state'),
  settings: byTestId('settings'),
  account: byTestId('account'),
  userName: byTestId('user-name'),
  userScope: byTestId('user-scope'),
  signIn: byTestId<HTMLButtonElement>('sign-in'),
  signOut: byTestId<HTMLButtonElement>('sign-out'),
};

/** A signed-in page: the provider, and the session that it renews. */
interface Account {
  signIn: SignIn;
  session: Session;
}

const describeScope = (scope: string[] | '*', publish: boolean): string =>
  `${scope === '*' ? 'every device' : scope.length === 0 ? 'no devices' : `devices ${scope.join(', ')}`}${publish ? ' · may publish' : ''}`;

const loadFileConfig = async (): Promise<FileConfig | undefined> => {
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    return response.ok ? parseFileConfig(await response.json()) : undefined;
  } catch {
    return undefined;
  }
};

class Dashboard {
  private readonly model: DashboardModel;
  /** Alarms (dashboard/src/alarms/): its own panel; the charts read its state through alarmOverlayPlugin. */
  readonly alarms: AlarmsPanel;
  private readonly connection: LiveConnection;
  private readonly cards = new Map<string, DeviceCard>();
  private readonly visibility: IntersectionObserver;
  private renderQueued = false;
  private noticesShown = '';
  private readonly keeper: SessionKeeper | undefined;
  /** Signed out: the page shows Sign in and stops drawing. */
  private ended = false;

  constructor(
    private readonly config: DashboardConfig,
    private readonly account?: Account,
  ) {
    const scope = tokenScope(account ? account.session.accessToken : config.token) ?? '*';
    this.model = new DashboardModel({ scope, devices: config.devices, windowMs: config.windowMs });
    // Signed in: the token of the moment, renewed before it expires; the socket then reconnects make-before-break.
    this.keeper = account
      ? new SessionKeeper({
          renewer: account.signIn,
          session: account.session,
          onRenewed: () => this.connection.renew('token renewed'),
          onEnded: (message) => this.endSession(message),
        })
      : undefined;
    const token = () => (this.keeper ? this.keeper.current.accessToken : config.token);
    this.connection = new LiveConnection({
      url: () => connectUrl(config.url, { token: token(), devices: this.model.subscriptions.connectDevices() }),
      // The DOM WebSocket fits SocketLike; only its handlers' event types are narrower (Event, MessageEvent).
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      backoff: new Backoff({ initialMs: 500, maxMs: 30_000 }),
      heartbeatMs: HEARTBEAT_MS,
      onStatus: (status) => this.renderStatus(status),
      onOpen: (url, { renewed }) => {
        const devices = new URL(url).searchParams.get('devices');
        this.model.subscriptions.onConnected(devices ? devices.split(',') : undefined);
        // Fill the charts: a snapshot first, then each device's history (dashboard/src/history.ts).
        // A token renewal's new socket overlapped the old one: each chart asks only for what came after its
        // newest point, which also covers devices that the new socket subscribes after it opens.
        const fill = renewed ? this.model.history.resync(Date.now()) : this.model.history.onOpen();
        for (const frame of fill) this.connection.send(frame);
        this.alarms.onOpen();
        this.pump();
        this.queueRender();
      },
      onClose: () => {
        this.model.history.onClose();
        this.model.subscriptions.onDisconnected();
        this.queueRender();
      },
      onFrame: (text) => this.onFrame(text),
      onRenewFailed: (reason) => {
        this.model.notify('auth', `Reconnecting with the renewed token failed (${reason}); the current connection stays.`, Date.now());
        this.queueRender();
      },
    });
    this.alarms = new AlarmsPanel((frame) => this.connection.send(frame as never), document.querySelector('[data-testid="device-list"]'));
    this.visibility = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const card = this.cards.get((entry.target as HTMLElement).dataset.deviceId ?? '');
        if (card) card.visible = entry.isIntersecting;
      }
      this.queueRender();
    });
  }

  start(): void {
    setText(ui.endpoint, displayUrl(this.config.url));
    ui.endpoint.title = `from ${this.config.source}${this.config.token ? ', with a token' : ''}`;
    const windowText = this.config.windowMs % 60_000 === 0 ? `${this.config.windowMs / 60_000} min` : formatMs(this.config.windowMs);
    setText(ui.settings, `${windowText} window · stale after ${formatMs(this.config.staleMs)}`);
    if (location.protocol === 'https:' && this.config.url.startsWith('ws:')) {
      this.model.notify('config', 'This page is served over https, so the browser blocks a ws:// connection: use wss://.', Date.now());
    }
    ui.subscribeAll.addEventListener('click', () => {
      this.model.subscriptions.subscribeAll();
      this.pump();
      this.queueRender();
    });
    ui.addForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const id = ui.addInput.value.trim();
      if (!DEVICE_ID.test(id)) {
        ui.addInput.setCustomValidity('1 to 128 characters of A-Z a-z 0-9 _ . : @ -');
        ui.addInput.reportValidity();
        return;
      }
      const scope = this.model.subscriptions.scope;
      if (scope !== '*' && !scope.includes(id)) {
        ui.addInput.setCustomValidity(`${id} is outside your scope (${describeScope(scope, false)}): ask an administrator for the devices:${id} group`);
        ui.addInput.reportValidity();
        return;
      }
      ui.addInput.setCustomValidity('');
      ui.addInput.value = '';
      this.model.subscriptions.subscribe(id);
      this.pump();
      this.queueRender();
    });
    ui.addInput.addEventListener('input', () => ui.addInput.setCustomValidity(''));
    ui.notices.addEventListener('click', (event) => {
      const key = (event.target as HTMLElement).closest<HTMLElement>('[data-notice]')?.dataset.notice;
      if (key !== undefined && (event.target as HTMLElement).closest('button')) {
        this.model.dismiss(key);
        this.queueRender();
      }
    });
    // Timers keep running in a background tab (at >= 1 s) where animation frames do not:
    // trim the window there too, so a hidden page's memory stays bounded.
    setInterval(() => {
      if (this.ended) return;
      this.model.store.trim(Date.now());
      this.pump();
      this.renderStatus(this.connection.current);
      this.queueRender();
    }, 1000);
    if (this.account && this.keeper) {
      this.renderAccount();
      ui.signOut.addEventListener('click', () => void this.signOut());
      this.keeper.start();
      const scope = this.model.subscriptions.scope;
      if (scope !== '*' && scope.length === 0) {
        // The authorizer refuses a user in no devices: group (403): say so instead of retrying.
        this.model.notify('auth', 'Your account covers no device yet: ask an administrator to add you to a devices:<id> group (npm run user).', Date.now());
        this.queueRender();
        return;
      }
    }
    this.connection.start();
    this.queueRender();
  }

  private renderAccount(): void {
    if (!this.keeper) return;
    const claims = this.keeper.current.claims;
    const groups = Array.isArray(claims['cognito:groups']) ? (claims['cognito:groups'] as unknown[]) : [];
    ui.account.hidden = false;
    ui.signIn.hidden = true;
    ui.signOut.hidden = false;
    setText(ui.userName, displayName(claims));
    setText(ui.userScope, describeScope(this.model.subscriptions.scope, groups.includes('publish')));
  }

  /** Sign out: the provider revokes the refresh token, then the socket closes, then the provider ends its session. */
  private async signOut(): Promise<void> {
    if (!this.account || !this.keeper) return;
    ui.signOut.disabled = true;
    this.ended = true;
    this.keeper.stop();
    const logoutUrl = await this.account.signIn.signOut(this.keeper.current, location.href);
    this.connection.stop();
    if (logoutUrl) location.assign(logoutUrl);
    else showSignIn(this.account.signIn, 'You are signed out.');
  }

  /** Renewal refused (revoked, expired): back to Sign in, with the reason. */
  private endSession(message: string): void {
    this.ended = true;
    this.keeper?.stop();
    this.connection.stop();
    ui.list.replaceChildren();
    if (this.account) showSignIn(this.account.signIn, message);
  }

  private onFrame(text: unknown): void {
    if (this.alarms.receive(text)) return;
    const outcome = this.model.receive(text, Date.now());
    if (outcome.kind === 'subscription') this.pump();
    if (outcome.kind === 'snapshot') for (const request of outcome.requests) this.connection.send(request);
    // The server shed readings (resync), or a seq gap opened: refill that range from history.
    if ((outcome.kind === 'resync' || outcome.kind === 'telemetry') && outcome.requests) for (const request of outcome.requests) this.connection.send(request);
    if (outcome.kind === 'error') {
      // not_found: the server no longer knows this connection (TTL expired); a new one re-registers.
      if (outcome.notice.code === 'not_found') this.connection.reconnect('the server forgot this connection');
      else this.pump();
    }
    if (outcome.kind === 'invalid') console.warn('ignored a frame:', outcome.reason);
    if (outcome.kind === 'batch' && outcome.invalid > 0) console.warn(`ignored ${outcome.invalid} reading(s) of a telemetry-batch frame`);
    this.queueRender();
  }

  private onToggle(deviceId: string): void {
    const subscriptions = this.model.subscriptions;
    if (subscriptions.wants(deviceId)) subscriptions.unsubscribe(deviceId, this.model.knownDevices());
    else subscriptions.subscribe(deviceId);
    this.pump();
    this.queueRender();
  }

  /** Sends the next subscription change, if one is due and the socket is open. */
  private pump(): void {
    if (!this.connection.isOpen) return;
    const frame = this.model.subscriptions.next(Date.now());
    if (frame) this.connection.send(frame);
  }

  /** Coalesces any number of frames into one redraw per animation frame. */
  private queueRender(): void {
    if (this.renderQueued || this.ended) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render(Date.now());
    });
  }

  private render(now: number): void {
    this.model.store.trim(now);
    const ids = this.model.knownDevices();
    ids.forEach((id, index) => {
      let card = this.cards.get(id);
      if (!card) {
        card = new DeviceCard(id, (deviceId) => this.onToggle(deviceId));
        this.cards.set(id, card);
        ui.list.insertBefore(card.root, ui.list.children[index] ?? null);
        this.visibility.observe(card.root);
      }
      card.update(this.model.store.device(id), this.deviceState(id, now), now);
    });
    ui.empty.hidden = ids.length > 0;
    this.renderSummary(now, ids.length);
    this.renderNotices();
  }

  private deviceState(deviceId: string, now: number): DeviceState {
    const subscriptions = this.model.subscriptions;
    const wanted = subscriptions.wants(deviceId);
    if (subscriptions.connected && wanted !== subscriptions.receives(deviceId)) return 'pending';
    if (!wanted) return 'off';
    const device = this.model.store.device(deviceId);
    if (!device) return 'waiting';
    return now - device.lastSeen > this.config.staleMs ? 'stale' : 'live';
  }

  private renderSummary(now: number, deviceCount: number): void {
    const last = this.model.lastTelemetryAt;
    setText(ui.lastMessage, last === undefined ? '—' : `${formatClock(last)} · ${formatAgo(now - last)}`);
    const stats = this.model.latency.stats();
    setText(ui.latency, stats ? `${formatMs(stats.p50)} / ${formatMs(stats.p95)}` : '—');
    ui.latency.title = stats ? `last ${stats.count} messages: min ${formatMs(stats.min)}, max ${formatMs(stats.max)} (page clock − device ts)` : '';
    setText(ui.rate, `${formatRate(this.model.rate(now))} msg/s`);
    setText(ui.deviceCount, String(deviceCount));
    setText(ui.duplicates, this.model.counters.duplicates.toLocaleString());

    const subscriptions = this.model.subscriptions;
    const scope = subscriptions.scope;
    if (subscriptions.mode === 'all') {
      setText(ui.mode, scope === '*' ? 'Receiving every device' : `Receiving the ${scope.length} devices your token covers`);
    } else {
      const count = this.model.knownDevices().filter((id) => subscriptions.wants(id)).length;
      setText(ui.mode, `Receiving ${count} selected device${count === 1 ? '' : 's'}`);
    }
    ui.subscribeAll.hidden = subscriptions.mode === 'all';
  }

  private renderStatus(status: ConnectionStatus): void {
    const now = Date.now();
    setAttr(ui.status, 'data-state', status.state);
    switch (status.state) {
      case 'connecting':
        setText(ui.statusLabel, 'Connecting');
        setText(ui.statusDetail, status.attempt > 1 ? `attempt ${status.attempt}` : '');
        break;
      case 'live':
        setText(ui.statusLabel, 'Live');
        setText(ui.statusDetail, `since ${formatClock(status.since)}`);
        break;
      case 'reconnecting': {
        const wait = Math.max(0, Math.ceil((status.retryAt - now) / 1000));
        setText(ui.statusLabel, 'Reconnecting');
        setText(ui.statusDetail, `${wait > 0 ? `retry in ${wait} s` : 'retrying'} · ${status.reason}`);
        break;
      }
      case 'stopped':
        setText(ui.statusLabel, 'Not connected');
        setText(ui.statusDetail, '');
        break;
    }
  }

  private renderNotices(): void {
    const notices = this.model.notices;
    const key = notices.map((n) => `${n.key}\n${n.count}`).join('\n\n');
    if (key === this.noticesShown) return;
    this.noticesShown = key;
    ui.notices.hidden = notices.length === 0;
    ui.notices.replaceChildren(
      ...notices.map((notice) =>
        h(
          'div',
          { class: 'notice', 'data-testid': 'error-notice', 'data-code': notice.code, 'data-notice': notice.key },
          h('strong', {}, notice.code),
          h('span', { class: 'text' }, notice.message),
          h('span', { class: 'when' }, `${notice.count > 1 ? `×${notice.count} · ` : ''}${formatClock(notice.lastAt)}`),
          h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss' }, '×'),
        ),
      ),
    );
  }
}

const showFatal = (message: string): void => {
  setAttr(ui.status, 'data-state', 'stopped');
  setText(ui.statusLabel, 'Not connected');
  ui.notices.hidden = false;
  ui.notices.replaceChildren(h('div', { class: 'notice', 'data-testid': 'error-notice', 'data-code': 'config' }, h('strong', {}, 'config'), h('span', { class: 'text' }, message)));
  setText(ui.empty, 'Nothing to show until the page knows where to connect.');
};

/** Signed out: the Sign in button, and why (a failed or ended session). */
const showSignIn = (signIn: SignIn, message?: string): void => {
  setAttr(ui.status, 'data-state', 'stopped');
  setText(ui.statusLabel, 'Signed out');
  setText(ui.statusDetail, '');
  ui.account.hidden = false;
  ui.signOut.hidden = true;
  ui.signIn.hidden = false;
  ui.signIn.disabled = false;
  setText(ui.userName, '');
  setText(ui.userScope, '');
  ui.notices.hidden = !message;
  ui.notices.replaceChildren(...(message ? [h('div', { class: 'notice', 'data-testid': 'error-notice', 'data-code': 'auth' }, h('strong', {}, 'sign-in'), h('span', { class: 'text' }, message))] : []));
  ui.empty.hidden = false;
  setText(ui.empty, 'Sign in to see your devices.');
  ui.signIn.onclick = async () => {
    ui.signIn.disabled = true;
    location.assign(await signIn.begin(location.href));
  };
};

const boot = async (): Promise<void> => {
  const params = new URLSearchParams(location.search);
  // The token is read once, kept in memory (the config), and taken out of the address bar and the history.
  const cleaned = addressWithoutToken(location.href);
  if (cleaned) history.replaceState(history.state, '', cleaned);
  const result = resolveConfig(params, await loadFileConfig());
  if (!result.ok) {
    showFatal(result.error);
    return;
  }
  const config = result.config;
  if (!config.auth) {
    new Dashboard(config).start();
    return;
  }
  const signIn = new SignIn(config.auth, sessionStorage);
  let session: Session | undefined;
  if (isCallback(location.href)) {
    try {
      const done = await signIn.complete(location.href);
      session = done.session;
      // The code and state leave the address bar (and the history) at once.
      history.replaceState(null, '', done.returnTo);
    } catch (error) {
      history.replaceState(null, '', withoutCallbackParams(location.href));
      showSignIn(signIn, (error as Error).message);
      return;
    }
  } else {
    session = await signIn.resume();
  }
  if (!session) {
    showSignIn(signIn);
    return;
  }
  // ?devices= etc. as before sign-in: resolve again from the restored address.
  const restored = resolveConfig(new URLSearchParams(location.search), await loadFileConfig());
  new Dashboard(restored.ok ? restored.config : config, { signIn, session }).start();
};

void boot();
