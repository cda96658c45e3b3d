import { expect } from 'chai';
import fc from 'fast-check';
import { LatencyWindow, percentile } from '../../dashboard/src/latency.js';

describe('dashboard latency statistics', () => {
  it('reports nothing before the first message', () => {
    expect(new LatencyWindow().stats()).to.equal(undefined);
  });

  it('gives p50 and p95 of the samples by nearest rank', () => {
    const window = new LatencyWindow(100);
    for (let ms = 1; ms <= 100; ms++) window.add(ms);

    const stats = window.stats();

    expect(stats).to.deep.equal({ count: 100, p50: 50, p95: 95, min: 1, max: 100 });
  });

  it('keeps only the most recent samples', () => {
    const window = new LatencyWindow(100);
    for (let i = 0; i < 100; i++) window.add(5000); // an old slow spell
    for (let i = 0; i < 100; i++) window.add(20);

    expect(window.stats()).to.include({ count: 100, p50: 20, p95: 20, max: 20 });
  });

  it('ignores non-finite samples (a frame without a usable ts)', () => {
    const window = new LatencyWindow(10);
    window.add(Number.NaN);
    window.add(Number.POSITIVE_INFINITY);
    window.add(12);

    expect(window.stats()).to.include({ count: 1, p50: 12 });
  });

  it('returns a percentile that is one of the samples and ordered p50 <= p95 (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 100_000 }), { minLength: 1, maxLength: 300 }), (samples) => {
        const window = new LatencyWindow(100);
        samples.forEach((s) => window.add(s));
        const stats = window.stats();
        const recent = samples.slice(-100);
        expect(stats?.count).to.equal(recent.length);
        expect(recent).to.include(stats?.p50);
        expect(recent).to.include(stats?.p95);
        expect(stats!.min).to.be.at.most(stats!.p50);
        expect(stats!.p50).to.be.at.most(stats!.p95);
        expect(stats!.p95).to.be.at.most(stats!.max);
      }),
    );
  });

  it('refuses the percentile of an empty sample', () => {
    expect(() => percentile([], 50)).to.throw(RangeError);
  });
});
