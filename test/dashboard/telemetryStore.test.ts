import { expect } from 'chai';
import fc from 'fast-check';
import type { TelemetryFrame } from '../../dashboard/src/frames.js';
import { TelemetryStore } from '../../dashboard/src/telemetryStore.js';

const T0 = 1_764_057_600_000;
let nextId = 0;
const frame = (deviceId: string, ts: number, data: Record<string, unknown>, receivedAt = ts): TelemetryFrame => ({
  type: 'telemetry',
  id: `m${nextId++}`,
  deviceId,
  ts,
  receivedAt,
  data,
});

describe('dashboard telemetry store', () => {
  it("keeps each device's latest values and when it was last seen", () => {
    const store = new TelemetryStore();

    store.ingest(frame('dev-1', T0, { temperature: 20, humidity: 40 }), T0 + 15);
    store.ingest(frame('dev-2', T0 + 5, { temperature: 30 }), T0 + 20);
    store.ingest(frame('dev-1', T0 + 1000, { temperature: 21.5, humidity: 41 }), T0 + 1012);

    const dev1 = store.device('dev-1')!;
    expect(dev1.latest).to.deep.equal({ temperature: 21.5, humidity: 41 });
    expect(dev1).to.include({ lastTs: T0 + 1000, lastSeen: T0 + 1012, messages: 2, lastLatencyMs: 12 });
    expect(store.deviceIds()).to.have.members(['dev-1', 'dev-2']);
  });

  it('charts one series per numeric field, with null where a message lacks the field', () => {
    const store = new TelemetryStore();

    store.ingest(frame('d', T0, { temperature: 20, status: 'ok' }), T0);
    store.ingest(frame('d', T0 + 1000, { temperature: 21, humidity: 40 }), T0 + 1000);
    store.ingest(frame('d', T0 + 2000, { humidity: 41 }), T0 + 2000);

    expect(store.device('d')!.fields).to.deep.equal(['temperature', 'humidity']);
    expect(store.chartData('d')).to.deep.equal([
      [T0, T0 + 1000, T0 + 2000],
      [20, 21, null],
      [null, 40, 41],
    ]);
  });

  it('shows seq as a value but does not chart it', () => {
    const store = new TelemetryStore();

    store.ingest(frame('d', T0, { temperature: 20, seq: 1 }), T0);

    expect(store.device('d')!.fields).to.deep.equal(['temperature']);
    expect(store.device('d')!.latest).to.include({ seq: 1 });
  });

  it('drops points older than the rolling window', () => {
    const store = new TelemetryStore({ windowMs: 60_000 });
    for (let s = 0; s < 120; s++) store.ingest(frame('d', T0 + s * 1000, { v: s }), T0 + s * 1000);

    store.trim(T0 + 150_000);

    const [x, v] = store.chartData('d')!;
    expect(x[0]).to.equal(T0 + 90_000);
    expect(v[0]).to.equal(90);
    expect(x).to.have.length(30);
  });

  it('never holds points older than the window, keeps x ascending and y aligned with x (property)', () => {
    const event = fc.record({
      device: fc.constantFrom('a', 'b', 'c'),
      advance: fc.integer({ min: 0, max: 20_000 }),
      skew: fc.integer({ min: -90_000, max: 5_000 }),
      fields: fc.dictionary(fc.constantFrom('t', 'h', 'seq', 'x'), fc.oneof(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), fc.constant('text'))),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 120_000 }), fc.array(event, { maxLength: 150 }), (windowMs, events) => {
        const store = new TelemetryStore({ windowMs, maxPointsPerDevice: 40 });
        let now = T0;
        for (const e of events) {
          now += e.advance;
          const { device: ingested } = store.ingest(frame(e.device, now + e.skew, e.fields, now), now);
          // ingest trims the device it touched; trim(now) (every animation frame) trims the rest.
          const checked = e.advance % 2 === 0 ? [ingested] : (store.trim(now), store.deviceIds().map((id) => store.device(id)!));
          for (const device of checked) {
            expect(device.x.every((x) => x >= now - windowMs)).to.equal(true);
            expect(device.x.length).to.be.at.most(40);
            expect(device.x.every((x, i) => i === 0 || device.x[i - 1] <= x)).to.equal(true);
            expect(device.y.every((ys) => ys.length === device.x.length)).to.equal(true);
          }
        }
      }),
    );
  });

  it('caps the points per device whatever the rate', () => {
    const store = new TelemetryStore({ maxPointsPerDevice: 100 });

    for (let i = 0; i < 1000; i++) store.ingest(frame('d', T0 + i, { v: i }), T0 + i);

    const [x, v] = store.chartData('d')!;
    expect(x).to.have.length(100);
    expect(v[0]).to.equal(900);
  });

  it('inserts a late message in time order without rolling the latest values back', () => {
    const store = new TelemetryStore();
    store.ingest(frame('d', T0, { v: 1 }), T0);
    store.ingest(frame('d', T0 + 2000, { v: 3 }), T0 + 2000);

    store.ingest(frame('d', T0 + 1000, { v: 2 }), T0 + 2100);

    expect(store.chartData('d')).to.deep.equal([
      [T0, T0 + 1000, T0 + 2000],
      [1, 2, 3],
    ]);
    expect(store.device('d')!.latest).to.deep.equal({ v: 3 });
  });

  it("charts at the server's receive time when the device clock is further off than the window", () => {
    const store = new TelemetryStore({ windowMs: 60_000 });

    const { x } = store.ingest(frame('d', 12_345, { v: 1 }, T0), T0 + 20); // a device without a clock: ts is uptime

    expect(x).to.equal(T0);
    expect(store.chartData('d')![0]).to.deep.equal([T0]);
  });

  it('bumps a device version on every change, so a view redraws only what moved', () => {
    const store = new TelemetryStore();
    store.ingest(frame('d', T0, { v: 1 }), T0);
    const before = store.device('d')!.version;

    store.ingest(frame('d', T0 + 1, { v: 2 }), T0 + 1);

    expect(store.device('d')!.version).to.be.greaterThan(before);
  });

  describe('sequence gaps', () => {
    const run = (seqs: number[]) => {
      const store = new TelemetryStore();
      const gaps = seqs.map((seq, i) => store.ingest(frame('d', T0 + i, { seq }), T0 + i).gap);
      return { gaps, device: store.device('d')! };
    };

    it('flags the messages missing between two seq values', () => {
      const { gaps, device } = run([1, 2, 5, 6, 8]);

      expect(gaps).to.deep.equal([undefined, undefined, 2, undefined, 1]);
      expect(device).to.include({ gaps: 2, missed: 3, seq: 8 });
    });

    it('follows a device restart without flagging a gap', () => {
      const { device } = run([500, 501, 0, 1, 2]);

      expect(device).to.include({ gaps: 0, missed: 0, seq: 2 });
    });

    it('does not take a late first reading for a restart (seq 2 before seq 1, as a cold start overtaken)', () => {
      const { gaps, device } = run([2, 1, 3, 4]);

      expect(gaps).to.deep.equal([undefined, undefined, undefined, undefined]);
      expect(device).to.include({ gaps: 0, missed: 0, seq: 4 });
    });

    it('leaves no gap open once every reading has come, in any order a few places late (property)', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 60 }), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 60, maxLength: 60 }), fc.integer({ min: 0, max: 1 }), (count, lateness, first) => {
          // Reading i arrives at i + lateness[i]: each at most 4 places late, as concurrent invocations deliver them.
          const seqs = Array.from({ length: count }, (_, i) => ({ seq: first + i, at: i + lateness[i] + i / 100 }))
            .sort((a, b) => a.at - b.at)
            .map((r) => r.seq);
          const { device } = run(seqs);

          expect(device).to.include({ gaps: 0, missed: 0, seq: first + count - 1 });
          expect(device.openGaps).to.deep.equal([]);
        }),
        { numRuns: 300 },
      );
    });

    it('does not flag a gap after a slightly late message', () => {
      const { gaps } = run([10, 12, 11, 13]);

      expect(gaps).to.deep.equal([undefined, 1, undefined, undefined]);
    });

    it('ignores a seq that is not an integer', () => {
      const { device } = run([1.5, 7.25]);

      expect(device.seq).to.equal(undefined);
      expect(device.gaps).to.equal(0);
    });
  });

  describe('history points are matched to live frames by id', () => {
    it('draws two stored readings that share a ts (a one-second clock) both, and each once', () => {
      const store = new TelemetryStore({ windowMs: 60_000 });
      const now = T0 + 10_000;
      store.merge('dev-1', { ts: T0, id: 'a', data: { v: 1 } }, now);
      store.merge('dev-1', { ts: T0, id: 'b', data: { v: 2 } }, now);
      expect(store.merge('dev-1', { ts: T0, id: 'a', data: { v: 1 } }, now).merged).to.equal(true);
      expect(Array.from(store.device('dev-1')!.x)).to.deep.equal([T0, T0]);
    });

    it('does not draw a history point twice when a snapshot (no id) drew its reading first', () => {
      const store = new TelemetryStore({ windowMs: 60_000 });
      const now = T0 + 10_000;
      store.merge('dev-3', { ts: T0, data: { v: 1 } }, now);
      expect(store.merge('dev-3', { ts: T0, id: 'r1', data: { v: 1 } }, now).merged).to.equal(true);
      expect(Array.from(store.device('dev-3')!.x)).to.deep.equal([T0]);
    });

    it('does not draw a history point twice when its live frame was drawn, nor the live frame after its point', () => {
      const store = new TelemetryStore({ windowMs: 60_000 });
      const now = T0 + 10_000;
      const live = frame('dev-2', T0, { v: 1 });
      store.ingest(live, now);
      expect(store.merge('dev-2', { ts: T0, id: live.id, data: { v: 1 } }, now).merged).to.equal(true);
      store.merge('dev-2', { ts: T0 + 1000, id: 'later', data: { v: 2 } }, now);
      expect(store.ingest({ ...frame('dev-2', T0 + 1000, { v: 2 }), id: 'later' }, now).merged).to.equal(true);
      expect(Array.from(store.device('dev-2')!.x)).to.deep.equal([T0, T0 + 1000]);
    });
  });
});
