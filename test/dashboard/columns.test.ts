/** The live window's typed columns (dashboard/src/columns.ts) and the column layouts built on them. */
import { expect } from 'chai';
import fc from 'fast-check';
import { RangeSeries } from '../../dashboard/src/charts/rangeSeries.js';
import { f64, idHash, lowerBound, u32, upperBound } from '../../dashboard/src/columns.js';
import type { TelemetryFrame } from '../../dashboard/src/frames.js';
import { TelemetryStore } from '../../dashboard/src/telemetryStore.js';

const T0 = Date.UTC(2026, 0, 1);

describe('dashboard typed columns', () => {
  it('grows past its first buffer, keeps every value, and hands a view of exactly what it holds', () => {
    const col = f64();
    for (let i = 0; i < 10_000; i++) col.push(i * 0.5);
    expect(col.length).to.equal(10_000);
    expect(col.view()).to.be.instanceOf(Float64Array);
    expect(col.view().length).to.equal(10_000);
    expect(col.get(9_999)).to.equal(4_999.5);
    // The unused tail stays under a fifth of the values held.
    expect(col.bytes).to.be.at.most(8 * Math.ceil(10_000 * 1.2));
  });

  it('keeps a scrolling window (as many dropped from the front as added) in a buffer at most a fifth too large', () => {
    const col = f64();
    for (let i = 0; i < 3_000; i++) col.push(i);
    for (let i = 3_000; i < 30_000; i++) {
      col.push(i);
      col.dropFront(1);
      expect(col.bytes).to.be.at.most(8 * Math.ceil(3_001 * 1.2));
    }
    expect([col.length, col.get(0), col.get(2_999)]).to.deep.equal([3_000, 27_000, 29_999]);
  });

  it('leaves a view it handed out as it was when it moves to a new buffer', () => {
    const col = f64();
    for (let i = 0; i < 100; i++) col.push(i);
    const before = col.view();
    for (let i = 100; i < 1_000; i++) {
      col.push(i);
      col.dropFront(1);
    }
    expect(Array.from(before)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    expect(col.get(0)).to.equal(900);
  });

  it('behaves as a plain array under any mix of push, late insert and trim from the front (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), v: fc.double({ noNaN: true }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), v: fc.double({ noNaN: true }) }),
      fc.record({ kind: fc.constant('drop' as const), n: fc.nat({ max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const col = f64();
        const model: number[] = [];
        for (const o of ops) {
          if (o.kind === 'push') {
            col.push(o.v);
            model.push(o.v);
          } else if (o.kind === 'insert') {
            const at = model.length === 0 ? 0 : o.at % (model.length + 1);
            col.insert(at, o.v);
            model.splice(at, 0, o.v);
          } else {
            col.dropFront(o.n);
            model.splice(0, o.n);
          }
          expect(col.length).to.equal(model.length);
        }
        expect(Array.from(col.view())).to.deep.equal(model);
      }),
    );
  });

  it('fills a column added late with NaN (none) for the points already held, and finds bounds in a sorted one', () => {
    const late = f64(3);
    late.push(7);
    expect(Array.from(late.view())).to.deep.equal([Number.NaN, Number.NaN, Number.NaN, 7]);
    const ids = u32(2);
    expect(Array.from(ids.view())).to.deep.equal([0, 0]);
    const x = f64();
    for (const v of [10, 20, 20, 30]) x.push(v);
    expect([lowerBound(x, 20), upperBound(x, 20), lowerBound(x, 5), upperBound(x, 99)]).to.deep.equal([1, 3, 0, 4]);
  });

  it('hashes an id to 32 bits, never 0 (no id), the same every time, different for near ids', () => {
    const a = idHash('bench-pin-001-17-0');
    expect(a).to.equal(idHash('bench-pin-001-17-0'));
    expect(a).to.be.within(1, 2 ** 32 - 1);
    expect(idHash('')).to.not.equal(0);
    const near = new Set(Array.from({ length: 10_000 }, (_, i) => idHash(`dev-1-${i}-0`)));
    expect(near.size).to.equal(10_000);
  });
});

describe('dashboard range series columns', () => {
  it('hands the chart its own columns (no copy) while every point has the field', () => {
    const series = new RangeSeries('d');
    for (let i = 0; i < 100; i++) series.addLive({ ts: T0 + i * 100, data: { temperature: 20 + (i % 7) / 2, seq: i }, id: `d-${i}` });
    const a = series.columns('temperature');
    expect(a.x.length).to.equal(100);
    expect(a.y[99]).to.equal(20.5);
    expect(a.min.slice(0, 100).every((v) => v === null)).to.equal(true);
    // Same buffer as the next call's: nothing copied per draw.
    expect(series.columns('temperature').y.buffer).to.equal(a.y.buffer);
    expect(series.fields()).to.deep.equal({ charted: ['temperature'], values: ['seq'] });
    expect(series.latest().get('seq')).to.equal(99);
  });

  it('leaves a point without the field out of that field\'s chart (NaN gap), as the readings had it', () => {
    const series = new RangeSeries('d');
    series.addLive({ ts: 1, data: { t: 1, h: 10 }, id: 'a' });
    series.addLive({ ts: 2, data: { h: 11 }, id: 'b' });
    series.addLive({ ts: 3, data: { t: 3, h: 12, state: 'ok' }, id: 'c' });
    const t = series.columns('t');
    expect([Array.from(t.x), Array.from(t.y), t.min.slice(0, t.x.length)]).to.deep.equal([[1, 3], [1, 3], [null, null]]);
    expect(Array.from(series.columns('h').y)).to.deep.equal([10, 11, 12]);
    expect(series.fields()).to.deep.equal({ charted: ['t', 'h'], values: ['state'] });
  });

  it('drops a repeated id only at its own time; a different id at one time is a second reading', () => {
    const series = new RangeSeries('d');
    expect(series.addLive({ ts: 5, data: { v: 1 }, id: 'r-1' })).to.equal(true);
    expect(series.addLive({ ts: 5, data: { v: 1 }, id: 'r-2' })).to.equal(true);
    expect(series.addLive({ ts: 5, data: { v: 1 }, id: 'r-1' })).to.equal(false);
    expect(series.addLive({ ts: 5, data: { v: 1 }, id: 'r-2' })).to.equal(false);
    expect(series.length).to.equal(2);
  });

  it('inserts a late reading in time order, and judges counters over the points in time order after it', () => {
    const series = new RangeSeries('d');
    // An integer that only grows is a counter, once it has 8 points.
    for (let i = 0; i < 9; i++) if (i !== 4) series.addLive({ ts: i, data: { n: i * 10 }, id: `a${i}` });
    expect(series.fields().values).to.deep.equal(['n']);
    // The late reading at ts 4 falls below its neighbour: n is a measurement after all.
    series.addLive({ ts: 4, data: { n: 5 }, id: 'a4' });
    expect(Array.from(series.columns('n').x)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(series.columns('n').y)).to.deep.equal([0, 10, 20, 30, 5, 50, 60, 70, 80]);
    expect(series.fields().charted).to.deep.equal(['n']);
    // Trimmed to the rising part, it is a counter again; a field no point has any more is gone.
    series.addLive({ ts: 9, data: { n: 90, note: 'x' }, id: 'a9' });
    series.trim(5);
    expect(series.fields()).to.deep.equal({ charted: ['n'], values: ['note'] });
    series.trim(9);
    series.addLive({ ts: 20, data: { n: 1 }, id: 'b' });
    expect(series.fields().values).to.deep.equal(['note']);
    series.trim(15);
    expect(series.fields()).to.deep.equal({ charted: ['n'], values: [] });
    expect([...series.latest().keys()]).to.deep.equal(['n']);
  });

  it('replaces with a rollup reply: band columns only where buckets bring min and max', () => {
    const series = new RangeSeries('d');
    series.addLive({ ts: 1, data: { v: 1 }, id: 'a' });
    series.replace([{ ts: 120_000, data: { v: 3 }, min: { v: 2 }, max: { v: 4 } }, { ts: 60_000, data: { v: 1 } }], '1m', 60_000);
    const v = series.columns('v');
    expect([Array.from(v.x), Array.from(v.y), v.min, v.max]).to.deep.equal([[60_000, 120_000], [1, 3], [null, 2], [null, 4]]);
    expect(series.fields().charted).to.deep.equal(['v']);
  });
});

describe('dashboard telemetry store columns', () => {
  const frame = (deviceId: string, ts: number, data: Record<string, unknown>, id: string, receivedAt = ts): TelemetryFrame =>
    ({ type: 'telemetry', id, deviceId, ts, receivedAt, data }) as TelemetryFrame;

  it('matches a history point to its live frame by id at the same time, and draws a different reading at that time', () => {
    const store = new TelemetryStore();
    store.ingest(frame('d', T0, { v: 1 }, 'r-1'), T0);
    expect(store.merge('d', { ts: T0, id: 'r-1', data: { v: 1 } }, T0 + 10).merged).to.equal(true);
    expect(store.merge('d', { ts: T0, id: 'r-2', data: { v: 2 } }, T0 + 10).merged).to.equal(undefined);
    expect(store.ingest(frame('d', T0, { v: 2 }, 'r-2'), T0 + 20).merged).to.equal(true);
    expect(store.chartData('d')).to.deep.equal([[T0, T0], [1, 2]]);
  });

  it('gives a snapshot point the id of the history point that matched it by time', () => {
    const store = new TelemetryStore();
    store.merge('d', { ts: T0, data: { v: 1 } }, T0);
    expect(store.merge('d', { ts: T0, id: 'r-1', data: { v: 1 } }, T0).merged).to.equal(true);
    expect(store.ingest(frame('d', T0, { v: 1 }, 'r-1'), T0 + 5).merged).to.equal(true);
    expect(store.device('d')!.x.length).to.equal(1);
  });

  it('matches by device time for a device without a clock, whose chart time is the receive time', () => {
    const store = new TelemetryStore({ windowMs: 60_000 });
    store.ingest(frame('d', T0 - 30_000, { v: 0 }, 'a'), T0 - 30_000);
    store.ingest(frame('d', 5, { v: 1 }, 'b', T0), T0); // uptime, not a time
    store.ingest(frame('d', 6, { v: 2 }, 'c', T0 + 1000), T0 + 1000);
    expect(store.ingest(frame('d', 5, { v: 1 }, 'b', T0), T0 + 1500).merged).to.equal(true);
    expect(store.merge('d', { ts: 6, id: 'c', receivedAt: T0 + 1000, data: { v: 2 } }, T0 + 1500).merged).to.equal(true);
    expect(store.chartData('d')).to.deep.equal([[T0 - 30_000, T0, T0 + 1000], [0, 1, 2]]);
    // Trimmed out, the reading's id goes with it.
    store.trim(T0 + 62_000);
    expect(store.device('d')!.x.length).to.equal(0);
    expect(store.ingest(frame('d', 5, { v: 1 }, 'b', T0 + 62_000), T0 + 62_000).merged).to.equal(undefined);
  });

  it('holds a field that appeared later as NaN (none) for the points before it, y aligned with x', () => {
    const store = new TelemetryStore();
    store.ingest(frame('d', T0, { t: 1 }, 'a'), T0);
    store.ingest(frame('d', T0 + 1, { t: 2, h: 5 }, 'b'), T0 + 1);
    const device = store.device('d')!;
    expect(device.y.map((ys) => Array.from(ys))).to.deep.equal([
      [1, 2],
      [Number.NaN, 5],
    ]);
  });
});
