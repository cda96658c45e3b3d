import { expect } from 'chai';
import { fromProgress } from '../../../bench/soakProgress.js';

describe('the soak read from its progress lines (a capacity run still draining at its bound)', () => {
  it('takes the rates from the last progress line, over its elapsed seconds', () => {
    const out = [
      '[   5 s] published 2618  delivered 128/2618 (2490 in flight)  latency p50 4917.8 ms p99 4918.3 ms  stack rss 864.7 MB heap 43 MB  clients open 1',
      '[  20 s] published 10186  delivered 521/10186 (9665 in flight)  latency p50 16646.5 ms p99 19240.1 ms  stack rss 1074.7 MB heap 88.3 MB  clients open 1',
    ].join('\n');

    const r = fromProgress(out);

    expect(r).to.include({ offeredPerS: 509, sustainedPerS: 26, p50Ms: 16646.5, p99Ms: 19240.1 });
    expect(r.stackCpuUsPerDelivery).to.be.NaN;
  });

  it('gives no latency for an interval that delivered nothing, and refuses output without a progress line', () => {
    expect(fromProgress('[  10 s] published 5097  delivered 155/5097 (4942 in flight)  latency p50 - p99 -  stack rss 1039.4 MB').p99Ms).to.be.NaN;
    expect(() => fromProgress('soak: 1 clients\nstack pid 1')).to.throw(/neither a result line nor a progress line/);
  });
});
