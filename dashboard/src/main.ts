/**
 * The page's shell: wires config -> connection -> model, and routes between the views
 * (docs/decisions/012-dashboard-page-structure.md): the header (connection, fleet counts, the active-alarms
 * slot), the fleet view (./fleet/, the default), the device page (./device/, `?devices=a,b`), and the
 * diagnostics panel (./shell/diagnostics.ts). Panels plug in through ./shell/hooks.ts. Everything that can be
 * decided without a DOM lives in the modules beside this one, with tests.
 */
import { Backoff } from './backoff.js';
import { RangeView } from './charts/rangeView.js';
import { StoreSeries } from './charts/storeSeries.js';
import { type DashboardConfig, type FileConfig, HEARTBEAT_MS, addressWithoutToken, connectUrl, parseFileConfig, resolveConfig, tokenScope } from './config.js';
import { type ConnectionStatus, LiveConnection, type SocketLike } from './connection.js';
import { DevicePage } from './device/devicePage.js';
import { formatCounts } from './fleet/fleetRows.js';
import { FleetView } from './fleet/fleetView.js';
import { displayUrl, formatClock, formatMs } from './format.js';
import { DashboardModel } from './model.js';
import { SessionKeeper } from './sessionKeeper.js';
import { type Session, SignIn, displayName, isCallback, withoutCallbackParams } from './signIn.js';
import { DiagnosticsPanel } from './shell/diagnostics.js';
import { alarmsChanged, inAlarm, mounts, onAlarmsChanged, setAlarmSource } from './shell/hooks.js';
import { type Route, Router, routeHref } from './shell/router.js';
import type { DeviceState } from './view/deviceCard.js';
import { AlarmsPanel } from './alarms/alarmsPanel.js';
import { byTestId, h, setAttr, setText } from './view/dom.js';

// Up to this many devices, every chart fills from history on open (the sparklines too); beyond, only those on screen.
const SMALL_FLEET = 50;

// layers/shared/src/frames.ts DEVICE_ID_PATTERN: refuse locally what the server would refuse.
const DEVICE_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

const ui = {
  status: byTestId('connection-status'),
  statusLabel: byTestId('connection-label'),
  statusDetail: byTestId('connection-detail'),
  endpoint: byTestId('endpoint'),
  fleetCounts: byTestId('fleet-counts'),
  fleetView: byTestId('fleet-view'),
  deviceView: byTestId('device-view'),
  backToFleet: byTestId<HTMLAnchorElement>('back-to-fleet'),
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
  private readonly router = new Router();
  private readonly fleet: FleetView;
  private readonly devicePage: DevicePage;
  private readonly diagnostics = new DiagnosticsPanel();
  /** Pinned devices: the `?devices=` list, kept while the fleet is on screen. */
  private pins: string[] = [];
  /** The devices cursor still has pages to fetch. */
  private loadingFleet = false;
  private renderQueued = false;
  private noticesShown = '';
  private readonly keeper: SessionKeeper | undefined;
  /** Signed out: the page shows Sign in and stops drawing. */
  private ended = false;
  /** The page's time range and each device's range charts (dashboard/src/charts/). */
  private readonly range = new RangeView({
    send: (frame) => this.connection.send(frame as never),
    isOpen: () => this.connection.isOpen,
    liveSeries: (deviceId) => new StoreSeries(deviceId, () => this.model.store.device(deviceId)),
    onWindow: (deviceId, since, until) => this.alarms.askTransitions(deviceId, since, until),
  });

  constructor(
    private readonly config: DashboardConfig,
    private readonly account?: Account,
  ) {
    const scope = tokenScope(account ? account.session.accessToken : config.token) ?? '*';
    this.model = new DashboardModel({ scope, devices: config.devices, windowMs: config.windowMs, silence: { fallbackMs: config.staleMs } });
    if (this.router.current.view === 'devices' && !this.router.current.all) this.pins = [...this.router.current.ids];
    const store = this.model.store;
    this.fleet = new FleetView({
      sources: {
        ids: () => this.fleetIds(),
        presence: this.model.presence,
        silence: this.model.silence,
        latest: (id) => store.device(id),
        inAlarm,
      },
      spark: { series: (id) => store.device(id) },
      onOpen: (id) => this.router.go({ view: 'devices', ids: [id] }),
      onPin: (id) => {
        this.pins = this.pins.includes(id) ? this.pins.filter((p) => p !== id) : [...this.pins, id];
        this.queueRender();
      },
      pins: () => this.pins,
      onOpenPinned: () => this.router.go({ view: 'devices', ids: this.pins }),
    });
    ui.fleetView.append(this.fleet.root);
    // The alarms panel (dashboard/src/alarms/) in the shell's mount point; it tells the fleet table and the header
    // which devices are in alarm (shell/hooks.ts).
    this.alarms = new AlarmsPanel((frame) => this.connection.send(frame as never), mounts.alarmsPanel(), (state) => {
      const count = state.alarmCount();
      setText(mounts.headerAlarms(), count === 0 ? '' : `${count} active alarm${count === 1 ? '' : 's'}`);
      alarmsChanged();
    });
    setAlarmSource({ inAlarm: (deviceId) => this.alarms.state.activeList().some((a) => a.deviceId === deviceId && a.state === 'ALARM') });
    this.devicePage = new DevicePage({
      list: ui.list,
      onToggle: (id) => this.onToggle(id),
      onVisibility: () => this.queueRender(),
      onCardAdded: (id, root) => this.range.attach(id, root),
      onCardRemoved: (id) => this.range.detach(id),
    });
    this.router.onChange((route) => this.onRoute(route));
    onAlarmsChanged(() => {
      this.fleet.table.changed();
      this.range.redraw();
      this.queueRender();
    });
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
        const fill = renewed ? this.model.history.resync(Date.now(), this.charted()) : this.model.history.onOpen();
        this.loadingFleet = !renewed;
        for (const frame of fill) this.connection.send(frame);
        this.range.onOpen();
        this.alarms.onOpen();
        this.pump();
        this.queueRender();
      },
      onClose: () => {
        this.model.history.onClose();
        this.range.onClose();
        this.model.subscriptions.onDisconnected();
        this.queueRender();
      },
      onFrame: (text) => this.onFrame(text),
      onRenewFailed: (reason) => {
        this.model.notify('auth', `Reconnecting with the renewed token failed (${reason}); the current connection stays.`, Date.now());
        this.queueRender();
      },
    });
  }

  /** Devices on the fleet table: everything the page knows of. */
  private *fleetIds(): Iterable<string> {
    const seen = new Set<string>();
    const scope = this.model.subscriptions.scope;
    for (const ids of [this.model.store.deviceIds(), this.model.presence.deviceIds(), scope === '*' ? [] : scope]) {
      for (const id of ids) {
        if (seen.has(id)) continue;
        seen.add(id);
        yield id;
      }
    }
  }

  /** Devices whose charts are on screen: the device page's; on the fleet, every device of a small fleet. */
  private charted(): string[] {
    const route = this.router.current;
    if (route.view === 'devices') return route.all ? this.model.store.deviceIds() : route.ids;
    return this.model.store.size <= SMALL_FLEET ? this.model.store.deviceIds() : [];
  }

  private onRoute(route: Route): void {
    if (route.view === 'devices' && route.all) {
      if (this.model.subscriptions.mode !== 'all') this.model.subscriptions.subscribeAll();
      this.pump();
    } else if (route.view === 'devices') {
      // Several devices: that is the pin list (?devices=a,b); one opened row leaves the pins as they were.
      if (route.ids.length > 1) this.pins = [...route.ids];
      const subscriptions = this.model.subscriptions;
      for (const id of route.ids) if (!subscriptions.wants(id)) subscriptions.subscribe(id);
      // Opened from the fleet: these charts fill from history now (the fleet asked for none of a large fleet).
      if (this.connection.isOpen) for (const frame of this.model.history.resync(Date.now(), route.ids)) this.connection.send(frame);
      this.pump();
    } else if (this.model.subscriptions.mode !== 'all') {
      // The fleet shows every device in scope.
      this.model.subscriptions.subscribeAll();
      this.pump();
    }
    this.queueRender();
  }

  start(): void {
    ui.list.before(this.range.bar);
    setText(ui.endpoint, displayUrl(this.config.url));
    ui.endpoint.title = `from ${this.config.source}${this.config.token ? ', with a token' : ''}`;
    const windowText = this.config.windowMs % 60_000 === 0 ? `${this.config.windowMs / 60_000} min` : formatMs(this.config.windowMs);
    setText(ui.settings, `${windowText} window · stale after 3 of a device's usual intervals (${formatMs(this.config.staleMs)} until learned)`);
    if (location.protocol === 'https:' && this.config.url.startsWith('ws:')) {
      this.model.notify('config', 'This page is served over https, so the browser blocks a ws:// connection: use wss://.', Date.now());
    }
    ui.backToFleet.addEventListener('click', (event) => {
      event.preventDefault();
      this.router.go({ view: 'fleet' });
    });
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
    if (this.range.onFrame(text)) return;
    if (this.alarms.receive(text)) return;
    const outcome = this.model.receive(text, Date.now());
    if (outcome.kind === 'subscription') this.pump();
    if (outcome.kind === 'snapshot') {
      // History only for charts on screen: a fleet of thousands asks for none until a device page opens.
      const charted = new Set(this.charted());
      const small = this.model.store.size <= SMALL_FLEET;
      for (const request of outcome.requests) if (small || charted.has(request.deviceId)) this.connection.send(request);
      // The fleet loads progressively: the next page of devices as soon as this one is in.
      if (outcome.next) this.connection.send(outcome.next);
      else this.loadingFleet = false;
      this.fleet.table.changed();
    }
    if (outcome.kind === 'presence' && outcome.changed) this.fleet.table.changed();
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
    const route = this.router.current;
    const onFleet = route.view === 'fleet';
    ui.fleetView.hidden = !onFleet;
    ui.deviceView.hidden = onFleet;
    setAttr(document.body, 'data-view', route.view);
    // The fleet's rows are counted on either view: the header shows the counts everywhere.
    this.fleet.loadingMore = this.loadingFleet;
    this.fleet.render(now, this.pins);
    const counts = this.fleet.table.counts;
    setText(ui.fleetCounts, counts.total === 0 ? '' : formatCounts(counts));
    if (onFleet) {
      this.devicePage.clear();
      ui.empty.hidden = counts.total > 0;
    } else {
      ui.backToFleet.href = routeHref(location.href, { view: 'fleet' });
      this.devicePage.render(route.all ? this.model.knownDevices() : route.ids, (id) => this.model.store.device(id), (id) => this.deviceState(id, now), now);
      ui.empty.hidden = true;
    }
    this.renderSummary(now, counts.total);
    this.renderNotices();
  }

  private deviceState(deviceId: string, now: number): DeviceState {
    const subscriptions = this.model.subscriptions;
    const wanted = subscriptions.wants(deviceId);
    if (subscriptions.connected && wanted !== subscriptions.receives(deviceId)) return 'pending';
    if (!wanted) return 'off';
    const device = this.model.store.device(deviceId);
    if (!device) return 'waiting';
    // Silent after a few of the device's own usual intervals (fleet/silence.ts), as on the fleet page; `?stale=` until learned.
    return now - device.lastSeen > this.model.silence.thresholdMs(deviceId) ? 'stale' : 'live';
  }

  private renderSummary(now: number, deviceCount: number): void {
    this.diagnostics.render(this.model, now, deviceCount);

    const subscriptions = this.model.subscriptions;
    const scope = subscriptions.scope;
    if (subscriptions.mode === 'all') {
      setText(ui.mode, scope === '*' ? 'Receiving every device' : `Receiving the ${scope.length} devices your token covers`);
    } else {
      // Not knownDevices(): it sorts every device, and this runs every frame.
      const ids = new Set([...this.model.store.deviceIds(), ...(subscriptions.confirmed() ?? [])]);
      ids.delete('*');
      let count = 0;
      for (const id of ids) if (subscriptions.wants(id)) count++;
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
