import { expect } from 'chai';
import { type StepResult, capacityLine, findCapacity, stepVerdict } from '../../../bench/capacity.js';

/** A stack that holds up to `limit` msg/s: past it, p99 grows past a second. */
const stackHolding = (limit: number, clients = 1000) => {
  const tried: number[] = [];
  const runStep = async (rate: number): Promise<StepResult> => {
    tried.push(rate);
    const over = rate > limit;
    return {
      rate,
      clients,
      published: rate * 10,
      expected: rate * 10 * clients,
      lost: 0,
      duplicates: 0,
      p50Ms: over ? 900 : 40,
      p99Ms: over ? 4000 : 200,
      offeredPerS: rate * clients,
      drainMs: over ? 5000 : 300,
    };
  };
  return { tried, runStep };
};

describe('soak --find-capacity', () => {
  it('steps the rate up until a step fails, then narrows the gap, and reports the highest rate held', async () => {
    const { tried, runStep } = stackHolding(5);

    const result = await findCapacity(runStep, { start: 1, factor: 1.5, refine: 2, maxSteps: 14, maxRate: 1000, p99LimitMs: 1000 });

    expect(tried).to.deep.equal([1, 1.5, 2.25, 3.38, 5.06, 4.22, 4.64]);
    expect(result.held!.rate).to.equal(4.64);
    expect(result.failed!.rate).to.equal(5.06);
  });

  it('counts a step with one lost delivery, or a p99 of a second, as not held', () => {
    const ok: StepResult = { rate: 2, clients: 10, published: 20, expected: 200, lost: 0, duplicates: 0, p50Ms: 10, p99Ms: 999, offeredPerS: 20, drainMs: 100 };
    expect(stepVerdict(ok)).to.equal(undefined);
    expect(stepVerdict({ ...ok, lost: 1 })).to.equal('1 lost');
    expect(stepVerdict({ ...ok, p99Ms: 1000 })).to.equal('p99 1000 ms');
  });

  it('puts the answer in one line that says whether the default rate is past it', async () => {
    const { runStep } = stackHolding(3.5);
    const result = await findCapacity(runStep);

    const line = capacityLine(result, 1000, 10);

    expect(line).to.match(/^capacity: 3\.\d+ msg\/s for 1000 clients = 3,\d{3} deliveries\/s held with 0 lost, p99 200 ms \(.* did not: p99 4000 ms\); the default --rate 10 is past this machine$/);
    expect(capacityLine({ failed: result.failed }, 1000, 10)).to.match(/^capacity: below/);
  });
});
