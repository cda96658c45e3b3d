import { expect } from 'chai';
import { type FleetSources, buildRows, countRows, formatCounts, rowState, valueColumns, viewRows, visibleWindow } from '../../../dashboard/src/fleet/fleetRows.js';
import { PresenceBook } from '../../../dashboard/src/fleet/presenceBook.js';
import { SilenceDetector } from '../../../dashboard/src/fleet/silence.js';
import { DashboardModel } from '../../../dashboard/src/model.js';
import { parseRoute, routeHref } from '../../../dashboard/src/shell/router.js';

const T0 = 1_764_057_600_000;

describe('fleet: silence learned from each device’s own rhythm', () => {
  it('calls a once-a-second device silent after a few seconds, and an hourly one not for hours', () => {
    const silence = new SilenceDetector({ intervals: 3, floorMs: 5_000, fallbackMs: 30_000 });
    for (let i = 0; i < 10; i++) silence.observe('fast', T0 + i * 1000);
    for (let i = 0; i < 5; i++) silence.observe('hourly', T0 + i * 3_600_000);

    expect(silence.thresholdMs('fast')).to.equal(5_000);
    expect(silence.isSilent('fast', T0 + 9_000 + 4_000)).to.equal(false);
    expect(silence.isSilent('fast', T0 + 9_000 + 6_000)).to.equal(true);
    expect(silence.isSilent('hourly', T0 + 4 * 3_600_000 + 2 * 3_600_000)).to.equal(false);
    expect(silence.isSilent('hourly', T0 + 4 * 3_600_000 + 4 * 3_600_000)).to.equal(true);
  });

  it('judges a device against the fallback until it has shown its rhythm, and never a device it has not heard', () => {
    const silence = new SilenceDetector({ fallbackMs: 30_000, minSamples: 3 });
    silence.observe('new', T0);
    silence.observe('new', T0 + 1000);
    expect(silence.usualInterval('new')).to.equal(undefined);
    expect(silence.isSilent('new', T0 + 20_000)).to.equal(false);
    expect(silence.isSilent('new', T0 + 32_000)).to.equal(true);
    expect(silence.isSilent('never', T0 + 1e9)).to.equal(false);
  });

  it('ignores readings that arrive out of order (history) when it learns', () => {
    const silence = new SilenceDetector({ minSamples: 1 });
    silence.observe('d', T0 + 10_000);
    silence.observe('d', T0);
    silence.observe('d', T0 + 12_000);
    expect(silence.usualInterval('d')).to.equal(2_000);
  });
});

describe('fleet: presence on the page', () => {
  it('keeps the newer of two presences, so a snapshot that raced a live frame never turns a device back', () => {
    const book = new PresenceBook();
    expect(book.apply('d', { state: 'offline', since: T0 + 10, reason: 'CONNECTION_LOST' })).to.equal(true);
    expect(book.apply('d', { state: 'online', since: T0 })).to.equal(false);
    expect(book.apply('d', { state: 'offline', since: T0 + 10, reason: 'CONNECTION_LOST' })).to.equal(false);
    expect(book.get('d')).to.deep.equal({ state: 'offline', since: T0 + 10, reason: 'CONNECTION_LOST' });
  });

  it('takes presence from presence frames and snapshot entries, and follows the devices cursor page by page', () => {
    const model = new DashboardModel({ scope: '*' });
    const first = model.receive(
      JSON.stringify({ type: 'snapshot', requestId: 'r', done: true, cursor: 'c2', devices: [{ deviceId: 'quiet', presence: { state: 'online', since: T0 } }, { deviceId: 'busy', ts: T0, receivedAt: T0, data: { t: 1 }, presence: { state: 'online', since: T0 - 5 } }] }),
      T0 + 100,
    );
    expect(first).to.deep.include({ kind: 'snapshot', next: { action: 'devices', cursor: 'c2', requestId: 'r' } });
    // A presence-only device has nothing to chart.
    expect(model.store.device('quiet')).to.equal(undefined);
    expect(model.store.device('busy')).to.not.equal(undefined);
    // Not the last frame of a page: no request yet.
    expect(model.receive(JSON.stringify({ type: 'snapshot', done: false, cursor: 'c3', devices: [] }), T0)).to.not.have.property('next');

    const outcome = model.receive(JSON.stringify({ type: 'presence', deviceId: 'quiet', state: 'offline', since: T0 + 50, reason: 'MQTT_KEEP_ALIVE_TIMEOUT' }), T0 + 200);
    expect(outcome).to.deep.equal({ kind: 'presence', deviceId: 'quiet', changed: true });
    expect(model.presence.get('quiet')).to.deep.equal({ state: 'offline', since: T0 + 50, reason: 'MQTT_KEEP_ALIVE_TIMEOUT' });
    expect(model.receive(JSON.stringify({ type: 'presence', deviceId: 'quiet', state: 'sleeping', since: 1 }), T0)).to.deep.include({ kind: 'invalid' });
  });
});

describe('fleet: rows, counts, sort and search', () => {
  const sources = (): FleetSources & { alarms: Set<string> } => {
    const presence = new PresenceBook();
    const silence = new SilenceDetector({ minSamples: 1, floorMs: 1000, fallbackMs: 30_000 });
    const latest = new Map<string, { lastSeen: number; latest: Record<string, unknown> }>();
    const alarms = new Set<string>();
    const reading = (id: string, at: number, data: Record<string, unknown>) => {
      latest.set(id, { lastSeen: at, latest: data });
      silence.observe(id, at);
    };
    reading('pump-2', T0, { temperature: 30, seq: 1 });
    reading('pump-2', T0 + 1000, { temperature: 31, seq: 2 });
    reading('pump-10', T0 + 500, { temperature: 12, humidity: 40 });
    reading('pump-10', T0 + 1500, { temperature: 12, humidity: 41 });
    reading('valve-1', T0 - 60_000, { pressure: 2 });
    reading('valve-1', T0 - 59_000, { pressure: 2 });
    presence.apply('valve-1', { state: 'online', since: T0 - 120_000 });
    presence.apply('gate-3', { state: 'offline', since: T0 - 10_000, reason: 'CONNECTION_LOST' });
    presence.apply('cam-1', { state: 'online', since: T0 - 1000 });
    return {
      ids: () => ['pump-2', 'pump-10', 'valve-1', 'gate-3', 'cam-1', 'pump-2'].filter((id, i, all) => all.indexOf(id) === i),
      presence,
      silence,
      latest: (id) => latest.get(id),
      inAlarm: (id) => alarms.has(id),
      alarms,
    };
  };

  it('gives each device one state: in alarm, offline (with why), silent, online, or not heard from', () => {
    const s = sources();
    s.alarms.add('pump-10');
    const rows = buildRows(s, T0 + 2000);
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(byId['pump-2'].state).to.equal('online');
    expect(byId['pump-10'].state).to.equal('alarm');
    expect(byId['valve-1'].state, 'connected, but quiet for 60 of its 1 s intervals').to.equal('silent');
    expect(byId['gate-3']).to.deep.include({ state: 'offline', reason: 'CONNECTION_LOST', lastSeen: T0 - 10_000 });
    expect(byId['cam-1'].state, 'connected, not reported yet').to.equal('online');
    expect(rowState({ ...s, ids: () => ['x'] }, 'x', T0)).to.equal('unknown');
  });

  it('counts them the way the header says it: "1,204 online · 13 offline · 2 silent"', () => {
    const s = sources();
    expect(formatCounts(countRows(buildRows(s, T0 + 2000)))).to.equal('3 online · 1 offline · 1 silent');
    expect(formatCounts({ online: 1204, offline: 13, silent: 2, alarm: 1, unknown: 0, total: 1220 })).to.equal('1,204 online · 13 offline · 2 silent · 1 in alarm');
  });

  it('sorts by id the way people count, by state worst first, by last seen, and by any value column (missing values last)', () => {
    const rows = buildRows(sources(), T0 + 2000);
    const ids = (key: Parameters<typeof viewRows>[2]) => viewRows(rows, '', key).map((r) => r.id);
    expect(ids({ key: 'id', descending: false })).to.deep.equal(['cam-1', 'gate-3', 'pump-2', 'pump-10', 'valve-1']);
    expect(ids({ key: 'id', descending: true })).to.deep.equal(['valve-1', 'pump-10', 'pump-2', 'gate-3', 'cam-1']);
    expect(ids({ key: 'state', descending: false })).to.deep.equal(['gate-3', 'valve-1', 'cam-1', 'pump-2', 'pump-10']);
    expect(ids({ key: 'field:temperature', descending: false })).to.deep.equal(['pump-10', 'pump-2', 'cam-1', 'gate-3', 'valve-1']);
    expect(ids({ key: 'field:temperature', descending: true })).to.deep.equal(['pump-2', 'pump-10', 'cam-1', 'gate-3', 'valve-1']);
    expect(ids({ key: 'lastSeen', descending: true })[0]).to.equal('pump-10');
  });

  it('searches by any part of the id, ignoring case', () => {
    const rows = buildRows(sources(), T0 + 2000);
    expect(viewRows(rows, '  PUMP ', { key: 'id', descending: false }).map((r) => r.id)).to.deep.equal(['pump-2', 'pump-10']);
    expect(viewRows(rows, 'nothing', { key: 'id', descending: false })).to.deep.equal([]);
  });

  it('offers the first few numeric fields as value columns, never seq', () => {
    expect(valueColumns(buildRows(sources(), T0))).to.deep.equal(['temperature', 'humidity', 'pressure']);
  });

  it('draws only the rows on screen, plus a few either side', () => {
    expect(visibleWindow(10_000, 34, 0, 680, 8)).to.deep.equal({ start: 0, end: 28 });
    expect(visibleWindow(10_000, 34, 34 * 5000, 680, 8)).to.deep.equal({ start: 4992, end: 5028 });
    expect(visibleWindow(10_000, 34, 34 * 20_000, 680, 8)).to.deep.equal({ start: 10_000, end: 10_000 });
    expect(visibleWindow(3, 34, 0, 680)).to.deep.equal({ start: 0, end: 3 });
  });
});

describe('shell: the address picks the view', () => {
  it('opens the fleet by default, pinned devices with ?devices=a,b, every card with ?devices=*', () => {
    expect(parseRoute('')).to.deep.equal({ view: 'fleet' });
    expect(parseRoute('?devices=a,b,a,')).to.deep.equal({ view: 'devices', ids: ['a', 'b'] });
    expect(parseRoute('?devices=*')).to.deep.equal({ view: 'devices', ids: [], all: true });
  });

  it('keeps every other parameter when it moves between views, and writes the pin list readably', () => {
    expect(routeHref('http://h/?range=24h&url=ws%3A%2F%2Fx', { view: 'devices', ids: ['a', 'b'] })).to.equal('/?range=24h&url=ws%3A%2F%2Fx&devices=a,b');
    expect(routeHref('http://h/?devices=a,b&range=24h', { view: 'fleet' })).to.equal('/?range=24h');
    expect(routeHref('http://h/', { view: 'devices', ids: [], all: true })).to.equal('/?devices=*');
  });
});
