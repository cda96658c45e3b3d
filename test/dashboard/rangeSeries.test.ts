/** One device's range series (dashboard/src/charts/rangeSeries.ts): fields, counters, bands, live readings. */
import { expect } from 'chai';
import { RangeSeries } from '../../dashboard/src/charts/rangeSeries.js';

// The columns as plain arrays (the series hands uPlot typed arrays).
const plain = (c: ReturnType<RangeSeries['columns']>) => ({ x: Array.from(c.x), y: Array.from(c.y), min: c.min.slice(0, c.x.length), max: c.max.slice(0, c.x.length) });

describe('dashboard range series', () => {
  it('charts every numeric field, any name (x, y, z, time, __proto__, constructor), each on its own columns', () => {
    const series = new RangeSeries('acc-1');
    const data = (i: number) => JSON.parse(`{"x":${i},"y":${-i},"z":${i * 2},"time":${i + 0.5},"__proto__":${i / 2},"constructor":${3 - i}}`);
    series.replace([0, 1, 2].map((i) => ({ ts: 1000 + i, data: data(i) })), 'raw');
    const { charted, values } = series.fields();
    expect(charted).to.deep.equal(['x', 'y', 'z', 'time', '__proto__', 'constructor']);
    expect(values).to.deep.equal([]);
    expect(plain(series.columns('x'))).to.deep.equal({ x: [1000, 1001, 1002], y: [0, 1, 2], min: [null, null, null], max: [null, null, null] });
    expect(Array.from(series.columns('__proto__').y)).to.deep.equal([0, 0.5, 1]);
  });

  it('shows counters (seq, or integers that only grow) and text as values, not charts', () => {
    const series = new RangeSeries('d');
    series.replace(
      Array.from({ length: 10 }, (_, i) => ({ ts: i, data: { seq: i, uptime: 100 + i, temperature: 20 + (i % 3), state: i % 2 ? 'on' : 'off' } })),
      'raw',
    );
    expect(series.fields()).to.deep.equal({ charted: ['temperature'], values: ['seq', 'uptime', 'state'] });
    expect(series.latest().get('state')).to.equal('on');
  });

  it('keeps the min/max band of rollup points, and says which resolution it holds', () => {
    const series = new RangeSeries('d');
    series.replace([{ ts: 0, data: { v: 2 }, min: { v: 1 }, max: { v: 90 } }], '1m', 60_000);
    expect(plain(series.columns('v'))).to.deep.equal({ x: [0], y: [2], min: [1], max: [90] });
    expect(series.resolution).to.equal('1m');
  });

  it('draws a reading once when it comes both from the live chart (no id) and with its id', () => {
    const series = new RangeSeries('d');
    series.replace([{ ts: 10, data: { v: 1 } }], 'raw');
    expect(series.addLive({ ts: 10, data: { v: 1, seq: 4 }, id: 'a' })).to.equal(false);
    expect(series.addLive({ ts: 10, data: { v: 2 }, id: 'b' })).to.equal(true);
    expect(Array.from(series.columns('v').y)).to.deep.equal([1, 2]);
  });

  it('extends with live readings in time order, drops a repeated id, and trims what scrolled out', () => {
    const series = new RangeSeries('d');
    series.replace([{ ts: 10, data: { v: 1 }, id: 'a' }], 'raw');
    expect(series.addLive({ ts: 30, data: { v: 3 }, id: 'c' })).to.equal(true);
    expect(series.addLive({ ts: 20, data: { v: 2 }, id: 'b' })).to.equal(true);
    expect(series.addLive({ ts: 10, data: { v: 1 }, id: 'a' })).to.equal(false);
    expect(Array.from(series.columns('v').x)).to.deep.equal([10, 20, 30]);
    series.trim(15);
    expect(Array.from(series.columns('v').x)).to.deep.equal([20, 30]);
    expect(series.addLive({ ts: 10, data: { v: 1 }, id: 'a' })).to.equal(true);
  });
});
