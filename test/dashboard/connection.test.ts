import { expect } from 'chai';
import sinon from 'sinon';
import { Backoff } from '../../dashboard/src/backoff.js';
import { type ConnectionOptions, type ConnectionStatus, LiveConnection, type SocketLike, describeClose } from '../../dashboard/src/connection.js';

/** A WebSocket stand-in that the test opens, feeds and drops. */
class FakeSocket implements SocketLike {
  readyState = 0;
  readonly sent: unknown[] = [];
  closedWith: { code?: number; reason?: string } | undefined;
  onopen: SocketLike['onopen'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  onmessage: SocketLike['onmessage'] = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code?: number, reason?: string) {
    this.readyState = 3;
    this.closedWith = { code, reason };
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(frame: object) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code, reason: '' });
  }
}

describe('dashboard live connection', () => {
  let clock: sinon.SinonFakeTimers;
  let sockets: FakeSocket[];
  let statuses: ConnectionStatus[];
  let opened: string[];
  let frames: unknown[];

  const connect = (options: Partial<ConnectionOptions> = {}) => {
    const connection = new LiveConnection({
      url: () => 'ws://127.0.0.1:3001/?token=t',
      createSocket: (url) => {
        const socket = new FakeSocket(url);
        sockets.push(socket);
        return socket;
      },
      // Jitter pinned to its lower bound: delays are exactly 0.5 s, 1 s, 2 s, ...
      backoff: new Backoff({ random: () => 0 }),
      heartbeatMs: 240_000,
      pongTimeoutMs: 30_000,
      connectTimeoutMs: 10_000,
      onStatus: (status) => statuses.push(status),
      onOpen: (url) => opened.push(url),
      onFrame: (text) => frames.push(text),
      ...options,
    });
    connection.start();
    return connection;
  };
  const latest = () => sockets[sockets.length - 1];
  const states = () => statuses.map((s) => s.state);

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    sockets = [];
    statuses = [];
    opened = [];
    frames = [];
  });

  afterEach(() => clock.restore());

  it('reports connecting, then live when the socket opens, and pings at once', () => {
    const connection = connect();

    latest().open();

    expect(states()).to.deep.equal(['connecting', 'live']);
    expect(connection.isOpen).to.equal(true);
    expect(latest().sent).to.deep.equal([{ action: 'ping' }]);
    expect(opened).to.deep.equal(['ws://127.0.0.1:3001/?token=t']);
  });

  it('passes every frame through and treats any frame as proof of life', () => {
    connect();
    latest().open();

    latest().receive({ type: 'pong', ts: 1 });
    clock.tick(60_000); // far past the pong deadline: the pong cleared it

    expect(frames).to.deep.equal(['{"type":"pong","ts":1}']);
    expect(sockets).to.have.length(1);
  });

  it('reconnects after a drop, reporting when it will retry', () => {
    connect();
    latest().open();
    latest().receive({ type: 'pong' });

    latest().drop();

    const status = statuses.at(-1)!;
    expect(status.state).to.equal('reconnecting');
    expect(status).to.include({ retryAt: Date.now() + 500 });
    expect(status.state === 'reconnecting' && status.reason).to.match(/lost or refused/);
    clock.tick(499);
    expect(sockets).to.have.length(1);
    clock.tick(1);
    expect(sockets).to.have.length(2);
  });

  it('backs off further on each failed attempt and starts over once the server answers', () => {
    connect();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = sockets.length;
      const start = Date.now();
      latest().drop();
      while (sockets.length === before) clock.tick(100);
      waits.push(Date.now() - start);
    }
    latest().open();
    latest().receive({ type: 'pong' });
    latest().drop();
    const after = statuses.at(-1)!;

    expect(waits).to.deep.equal([500, 1000, 2000, 4000]);
    expect(after.state === 'reconnecting' && after.retryAt - Date.now()).to.equal(500);
  });

  it('asks for the url again on every attempt, so a reconnect carries the current subscriptions', () => {
    let devices = 'a';
    connect({ url: () => `ws://h/?devices=${devices}` });
    latest().open();
    devices = 'a,b';

    latest().drop();
    clock.tick(500);
    latest().open();

    expect(opened).to.deep.equal(['ws://h/?devices=a', 'ws://h/?devices=a,b']);
  });

  it('pings every heartbeat interval while the connection is open', () => {
    connect();
    latest().open();
    latest().receive({ type: 'pong' });

    clock.tick(240_000);
    latest().receive({ type: 'pong' });
    clock.tick(240_000);

    expect(latest().sent).to.deep.equal([{ action: 'ping' }, { action: 'ping' }, { action: 'ping' }]);
  });

  it('reconnects when nothing at all comes back after a ping (a half-open link)', () => {
    connect();
    latest().open();

    clock.tick(30_000);

    expect(latest().closedWith).to.deep.equal({ code: 4000, reason: 'no reply to ping' });
    expect(statuses.at(-1)!.state).to.equal('reconnecting');
  });

  it('abandons a socket that never opens and tries again', () => {
    connect();

    clock.tick(10_000);
    clock.tick(500);

    expect(sockets[0].closedWith?.reason).to.equal('connect timed out');
    expect(sockets).to.have.length(2);
  });

  it('can be told to reconnect, for example when the server forgot the connection', () => {
    const connection = connect();
    latest().open();

    connection.reconnect('the server forgot this connection');
    clock.tick(500);

    expect(sockets).to.have.length(2);
    expect(sockets[0].closedWith?.code).to.equal(4000);
  });

  it('sends only while open', () => {
    const connection = connect();

    const beforeOpen = connection.send({ action: 'subscribe', devices: ['a'] });
    latest().open();
    const afterOpen = connection.send({ action: 'subscribe', devices: ['a'] });

    expect(beforeOpen).to.equal(false);
    expect(afterOpen).to.equal(true);
    expect(latest().sent.at(-1)).to.deep.equal({ action: 'subscribe', devices: ['a'] });
  });

  it('stops for good: closes the socket and never reconnects', () => {
    const connection = connect();
    latest().open();

    connection.stop();
    clock.tick(120_000);

    expect(sockets).to.have.length(1);
    expect(latest().closedWith?.code).to.equal(1000);
    expect(states().at(-1)).to.equal('stopped');
  });

  it('ignores events from a socket it has already replaced', () => {
    connect();
    const old = latest();
    old.open();
    old.drop();
    clock.tick(500);

    old.receive({ type: 'pong' });
    old.onclose?.({ code: 1006, reason: '' });

    expect(frames).to.deep.equal([]);
    expect(sockets).to.have.length(2);
  });

  it('says what a close code means, including a refused upgrade', () => {
    expect(describeClose(1006, '')).to.match(/bad token or origin/);
    expect(describeClose(1001, '')).to.equal('the server went away');
    expect(describeClose(4001, 'kicked')).to.equal('closed (4001): kicked');
  });
  describe('renew (a renewed token, make-before-break)', () => {
    it('opens the new socket with a fresh URL, keeps taking frames on the old one until it opens, then closes the old one', () => {
      let token = 'old';
      const closes: number[] = [];
      const renewedFlags: boolean[] = [];
      const connection = connect({
        url: () => `ws://127.0.0.1:3001/?token=${token}`,
        onClose: () => closes.push(1),
        onOpen: (url, how) => (opened.push(url), renewedFlags.push(how.renewed)),
      });
      const first = latest()!;
      first.open();
      token = 'new';

      connection.renew();
      const second = latest()!;
      first.receive({ type: 'telemetry', id: 'a' });

      expect(second).to.not.equal(first);
      expect(second.url).to.equal('ws://127.0.0.1:3001/?token=new');
      expect(first.closedWith).to.equal(undefined);
      expect(frames).to.deep.equal([JSON.stringify({ type: 'telemetry', id: 'a' })]);

      second.open();
      first.receive({ type: 'telemetry', id: 'late' });
      second.receive({ type: 'telemetry', id: 'b' });

      expect(first.closedWith).to.deep.equal({ code: 1000, reason: 'token renewed' });
      expect(frames.map((f) => JSON.parse(f as string).id)).to.deep.equal(['a', 'b']);
      expect(opened).to.deep.equal(['ws://127.0.0.1:3001/?token=old', 'ws://127.0.0.1:3001/?token=new']);
      expect(renewedFlags).to.deep.equal([false, true]);
      expect(second.sent).to.deep.equal([{ action: 'ping' }]);
      expect(connection.current.state).to.equal('live');
      expect(closes).to.deep.equal([]);
    });

    it('keeps the current socket when the new one is refused or never opens, and says why', () => {
      const failures: string[] = [];
      const connection = connect({ onRenewFailed: (reason) => failures.push(reason) });
      const first = latest()!;
      first.open();

      connection.renew();
      latest()!.drop(1006);
      connection.renew();
      clock.tick(10_000);

      expect(failures).to.have.length(2);
      expect(failures[0]).to.match(/refused/);
      expect(failures[1]).to.equal('the new connection did not open in time');
      expect(first.closedWith).to.equal(undefined);
      expect(connection.isOpen).to.equal(true);
      expect(sockets[2]!.closedWith).to.deep.equal({ code: 1000, reason: 'renewal abandoned' });
    });

    it('connects at once, without waiting out the backoff, when renewed while reconnecting', () => {
      const connection = connect();
      latest()!.drop();
      const before = sockets.length;

      connection.renew();

      expect(sockets.length).to.equal(before + 1);
    });

    it('stop() also closes a new socket that is still opening', () => {
      const connection = connect();
      latest()!.open();
      connection.renew();
      const next = latest()!;

      connection.stop();

      expect(next.closedWith).to.deep.equal({ code: 1000, reason: 'renewal abandoned' });
      expect(connection.current.state).to.equal('stopped');
    });
  });
});
