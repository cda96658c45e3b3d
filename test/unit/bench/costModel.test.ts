import { expect } from 'chai';
import { DEFAULT_COALESCED, DEFAULT_SCENARIO, ENGINES, coalescedBreakEven, estimate, estimateCoalesced } from '../../../bench/costModel.js';

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
  describe('coalesced mode', () => {
    // The scenario: 100 devices × 10 readings/s to 100 dashboards subscribed to *.
    const scenario = { ...DEFAULT_SCENARIO, connections: 100, recipients: 100, devices: 100, ratePerSecond: 1000 };

    it('posts at most a tenth of the direct path, with at most 0.05 lookups and 0.1 billed messages per reading per dashboard', () => {
      const direct = estimate(scenario, ENGINES.ours);
      const coalesced = estimateCoalesced(scenario);

      expect(coalesced.postsPerSecond / direct.postsPerSecond).to.be.at.most(0.1);
      expect(coalesced.lookupsPerReading).to.be.at.most(0.05);
      expect(coalesced.messagesPerReadingPerRecipient).to.be.at.most(0.1);
      expect(coalesced.monthly.sqs).to.be.greaterThan(0);
      expect(coalesced.monthly.total).to.be.lessThan(direct.monthly.total / 10);
    });

    it('waits up to the batching window, and splits a batch into 32 KB frames', () => {
      const slow = estimateCoalesced({ ...scenario, payloadBytes: 4000 }, { ...DEFAULT_COALESCED, batchSize: 10_000, windowSeconds: 5, pollers: 1 });

      expect(slow.batchingDelayMs).to.equal(5000);
      expect(slow.readingsPerBatch).to.equal(5000);
      expect(slow.messagesPerReadingPerRecipient * slow.readingsPerBatch).to.equal(Math.ceil((5000 * 4120) / 32768));
    });

    it('costs more than direct for a few quiet dashboards, less past a break-even rate that grows as the audience shrinks', () => {
      const few = { ...DEFAULT_SCENARIO, connections: 2, recipients: 2, devices: 1, ratePerSecond: 0.1 };
      expect(estimateCoalesced(few).monthly.total).to.be.greaterThan(estimate(few, ENGINES.ours).monthly.total);

      const small = coalescedBreakEven({ ...scenario, connections: 2, recipients: 2 })!;
      const large = coalescedBreakEven(scenario)!;
      expect(large).to.be.lessThan(small);
      expect(estimateCoalesced({ ...scenario, ratePerSecond: large * 2 }).monthly.total).to.be.lessThan(estimate({ ...scenario, ratePerSecond: large * 2 }, ENGINES.ours).monthly.total);
    });
  });
});
