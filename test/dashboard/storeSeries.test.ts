import { expect } from 'chai';
import { RangeSeries } from '../../dashboard/src/charts/rangeSeries.js';
import { StoreSeries } from '../../dashboard/src/charts/storeSeries.js';
import type { TelemetryFrame } from '../../dashboard/src/frames.js';
import { TelemetryStore } from '../../dashboard/src/telemetryStore.js';

const T0 = 1_764_057_600_000;
const frame = (deviceId: string, i: number, data: Record<string, unknown>): TelemetryFrame => ({
  type: 'telemetry',
  id: `${deviceId}-${i}`,
  deviceId,
  ts: T0 + i * 100,
  receivedAt: T0 + i * 100,
  data,
});

describe('dashboard live range charts drawn from the live window (StoreSeries)', () => {
  it('draws the store columns themselves, with no copy, and shows seq as a value', () => {
    const store = new TelemetryStore();
    const series = new StoreSeries('d', () => store.device('d'));
    for (let i = 0; i < 20; i++) store.ingest(frame('d', i, { temperature: 20 + i / 10, humidity: 40 + (i % 3), seq: i + 1 }), T0 + i * 100);

    const { charted, values } = series.fields();
    const columns = series.columns('temperature');

    expect(charted).to.deep.equal(['temperature', 'humidity']);
    expect(values).to.deep.equal(['seq']);
    expect(columns.x.buffer).to.equal(store.device('d')!.x.buffer);
    expect(columns.y.buffer).to.equal(store.device('d')!.y[0]!.buffer);
    expect(Array.from(columns.y.slice(0, 3))).to.deep.equal([20, 20.1, 20.2]);
    expect(columns.min).to.have.length.of.at.least(20);
    expect(columns.min[0]).to.equal(null);
    expect(series.length).to.equal(20);
    expect(series.latest().get('seq')).to.equal(20);
  });

  it('gives a field that some readings lack as a compact copy of the points that have it', () => {
    const store = new TelemetryStore();
    const series = new StoreSeries('d', () => store.device('d'));
    store.ingest(frame('d', 0, { a: 1, b: 10 }), T0);
    store.ingest(frame('d', 1, { a: 2 }), T0 + 100);
    store.ingest(frame('d', 2, { a: 3, b: 12 }), T0 + 200);

    const b = series.columns('b');

    expect(Array.from(b.x)).to.deep.equal([T0, T0 + 200]);
    expect(Array.from(b.y)).to.deep.equal([10, 12]);
    expect(series.columns('missing').x).to.have.length(0);
  });

  it('classifies fields as a range series of the same readings does (counters by name or by only growing)', () => {
    const store = new TelemetryStore();
    const live = new StoreSeries('d', () => store.device('d'));
    const range = new RangeSeries('d');
    for (let i = 0; i < 12; i++) {
      const f = frame('d', i, { temperature: 20 + Math.sin(i), uptime: 1000 + i, count: i, status: 'ok' });
      store.ingest(f, f.receivedAt);
      range.addLive({ ts: f.ts, data: f.data, id: f.id });
    }

    expect(live.fields().charted).to.deep.equal(range.fields().charted);
    expect(live.fields().values).to.have.members(range.fields().values);
    expect(live.fields().charted).to.deep.equal(['temperature']);
  });

  it('finds a device that has no reading yet once it has one, and follows its version', () => {
    const store = new TelemetryStore();
    const series = new StoreSeries('later', () => store.device('later'));

    expect(series.fields()).to.deep.equal({ charted: [], values: [] });
    expect(series.length).to.equal(0);
    const before = series.version;

    store.ingest(frame('later', 0, { v: 1 }), T0);

    expect(series.version).to.not.equal(before);
    expect(series.fields().charted).to.deep.equal(['v']);
    expect(Array.from(series.columns('v').y)).to.deep.equal([1]);
  });
});
