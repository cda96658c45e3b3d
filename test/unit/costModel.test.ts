import { expect } from 'chai';
import { DEFAULT_SCENARIO, ENGINES, estimate } from '../../bench/costModel.js';

describe('cost model (npm run cost)', () => {
  it('posts only to subscribers where the seed posts to every connection', () => {
    const scenario = { ...DEFAULT_SCENARIO, connections: 10_000, recipients: 100 };

    const ours = estimate(scenario, ENGINES.ours);
    const seed = estimate(scenario, ENGINES.seed);

    expect(ours.postsPerSecond).to.equal(1_000);
    expect(seed.postsPerSecond).to.equal(100_000);
    expect(seed.monthly.total / ours.monthly.total).to.be.greaterThan(50);
  });

  it('reads read units in proportion to recipients, the seed in proportion to the table', () => {
    const small = estimate({ ...DEFAULT_SCENARIO, connections: 10_000, recipients: 100 }, ENGINES.ours);
    const seed = estimate({ ...DEFAULT_SCENARIO, connections: 10_000, recipients: 100 }, ENGINES.seed);

    expect(small.readUnitsPerMessage).to.equal(1);
    expect(seed.readUnitsPerMessage).to.be.greaterThan(100);
  });

  it('shards past FanoutShardSize recipients and flags the 10,000 requests/s account throttle', () => {
    const ours = estimate({ ...DEFAULT_SCENARIO, connections: 10_000, recipients: 10_000 }, ENGINES.ours);

    expect(ours.invocationsPerMessage).to.equal(5);
    expect(ours.limits.join('\n')).to.match(/10,000 requests\/s account throttle/);
  });

  it('flags nothing for a small fleet', () => {
    expect(estimate(DEFAULT_SCENARIO, ENGINES.ours).limits).to.deep.equal([]);
  });
});
