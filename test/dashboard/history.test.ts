/** The page's gap-fill (dashboard/src/history.ts) through the model, one server frame at a time. */
import { expect } from 'chai';
import { DashboardModel } from '../../dashboard/src/model.js';

const T0 = 1_764_057_600_000;
const live = (seq: number, deviceId = 'dev-1') =>
  JSON.stringify({ type: 'telemetry', id: `${deviceId}:${seq}`, deviceId, ts: T0 + seq * 1000, receivedAt: T0 + seq * 1000 + 5, data: { temperature: 20 + seq / 10, seq } });
const history = (requestId: string, seqs: number[], done = true, deviceId = 'dev-1') =>
  JSON.stringify({ type: 'history', requestId, deviceId, downsampled: false, done, points: seqs.map((seq) => ({ ts: T0 + seq * 1000, data: { temperature: 20 + seq / 10, seq } })) });
const snapshot = (requestId: string, devices: { deviceId: string; seq: number }[]) =>
  JSON.stringify({ type: 'snapshot', requestId, done: true, devices: devices.map(({ deviceId, seq }) => ({ deviceId, ts: T0 + seq * 1000, receivedAt: T0 + seq * 1000 + 5, data: { temperature: 20, seq } })) });

let ids = 0;
const model = () => new DashboardModel({ scope: '*', windowMs: 5 * 60_000 });
const gapFill = (m: DashboardModel) => {
  ids = 0;
  (m.history as unknown as { newRequestId: () => string }).newRequestId = () => `r${++ids}`;
  return m.history;
};

describe('dashboard gap-fill: history on open and after a reconnect', () => {
  it('asks for a snapshot on open, then each snapshot device its window of history', () => {
    const m = model();
    const fill = gapFill(m);
    const now = T0 + 300_000;

    expect(fill.onOpen()).to.deep.equal([{ action: 'devices', requestId: 'r1' }]);
    const outcome = m.receive(snapshot('r1', [{ deviceId: 'dev-1', seq: 290 }, { deviceId: 'quiet', seq: 10 }]), now);

    expect(outcome).to.deep.equal({
      kind: 'snapshot',
      requests: [
        { action: 'history', deviceId: 'dev-1', since: now - 300_000, maxPoints: 5000, requestId: 'r2' },
        { action: 'history', deviceId: 'quiet', since: now - 300_000, maxPoints: 5000, requestId: 'r3' },
      ],
    });
    // A quiet device is there at once, last seen when its latest reading arrived.
    expect(m.store.device('quiet')).to.include({ lastTs: T0 + 10_000, lastSeen: T0 + 10_005 });
    expect(m.store.device('quiet')!.latest).to.deep.include({ seq: 10 });
  });

  it('fills the chart from history before live points, and merges the overlap with no duplicates', () => {
    const m = model();
    gapFill(m).onOpen();
    m.receive(snapshot('r1', [{ deviceId: 'dev-1', seq: 9 }]), T0 + 10_000);
    m.receive(live(10), T0 + 10_010);
    m.receive(history('r2', [0, 1, 2, 3, 4], false), T0 + 10_020);
    m.receive(history('r2', [5, 6, 7, 8, 9, 10]), T0 + 10_030);

    const device = m.store.device('dev-1')!;
    expect(Array.from(device.x)).to.deep.equal(Array.from({ length: 11 }, (_, i) => T0 + i * 1000));
    expect(m.counters.duplicates).to.equal(0);
    expect(device).to.include({ gaps: 0, missed: 0, messages: 1, seq: 10 });
    expect(m.history.pending).to.equal(0);
  });

  it('after a reconnect asks only from where the chart stood, and closes the seq gap it fills', () => {
    const m = model();
    const fill = gapFill(m);
    fill.onOpen();
    for (let s = 0; s <= 20; s++) m.receive(live(s), T0 + s * 1000 + 10);
    fill.onClose();

    // Down for 30 readings; the first live reading after the reconnect opens a gap of 30.
    expect(fill.onOpen()).to.deep.equal([{ action: 'devices', requestId: 'r2' }]);
    m.receive(live(51), T0 + 51_010);
    expect(m.store.device('dev-1')).to.include({ gaps: 1, missed: 30 });
    const { requests } = m.receive(snapshot('r2', [{ deviceId: 'dev-1', seq: 51 }]), T0 + 51_020) as { requests: { since: number }[] };
    expect(requests).to.deep.equal([{ action: 'history', deviceId: 'dev-1', since: T0 + 20_000, maxPoints: 5000, requestId: 'r3' }]);
    m.receive(history('r3', Array.from({ length: 32 }, (_, i) => 20 + i)), T0 + 51_100);

    const device = m.store.device('dev-1')!;
    expect(device).to.include({ gaps: 0, missed: 0 });
    expect(device.x).to.have.length(52);
    expect(new Set(device.x).size).to.equal(52);
    expect(m.counters.duplicates).to.equal(0);
  });

  it('keeps a gap that history cannot fill: a reading really lost', () => {
    const m = model();
    const fill = gapFill(m);
    fill.onOpen();
    for (let s = 0; s <= 5; s++) m.receive(live(s), T0 + s * 1000 + 10);
    fill.onClose();
    fill.onOpen();
    m.receive(live(10), T0 + 10_010);
    m.receive(snapshot('r2', [{ deviceId: 'dev-1', seq: 10 }]), T0 + 10_020);
    m.receive(history('r3', [5, 6, 8, 9, 10]), T0 + 10_100); // 7 never reached storage

    expect(m.store.device('dev-1')).to.include({ gaps: 1, missed: 1 });
  });

  it('asks for history once per device per socket, and again on resync', () => {
    const m = model();
    const fill = gapFill(m);
    fill.onOpen();
    m.receive(snapshot('r1', [{ deviceId: 'dev-1', seq: 1 }]), T0 + 2000);
    const again = m.receive(snapshot('x', [{ deviceId: 'dev-1', seq: 1 }]), T0 + 2000) as { requests: unknown[] };
    expect(again.requests).to.deep.equal([]);
    expect(fill.resync(T0 + 3000, ['dev-1'])).to.deep.equal([{ action: 'history', deviceId: 'dev-1', since: T0 + 1000, maxPoints: 5000, requestId: 'r3' }]);
  });

  it('shows an error answering a history request as a notice, without touching the subscriptions', () => {
    const m = model();
    const outcome = m.receive(JSON.stringify({ type: 'error', code: 'forbidden', message: 'your token does not cover "x"', requestId: 'r9' }), T0);
    expect(outcome.kind).to.equal('error');
    expect(m.notices[0]!.message).to.match(/^history: /);
  });

  it('draws two live readings that share a ts, but a live reading that history brought already only once', () => {
    const m = model();
    const same = (id: string, seq: number) => JSON.stringify({ type: 'telemetry', id, deviceId: 'd', ts: T0, receivedAt: T0, data: { seq } });
    m.receive(same('a', 1), T0 + 1);
    m.receive(same('b', 2), T0 + 2);
    expect(m.store.device('d')!.x).to.have.length(2);

    m.receive(history('r1', [5], true, 'e'), T0 + 5000);
    m.receive(live(5, 'e'), T0 + 5010);
    expect(m.store.device('e')!.x).to.have.length(1);
    expect(m.counters.duplicates).to.equal(0);
  });
});
