import { expect } from 'chai';
import fc from 'fast-check';
import { Backoff } from '../../dashboard/src/backoff.js';

describe('dashboard reconnect backoff', () => {
  it('starts between 0.5 s and 1 s and doubles its range on each attempt', () => {
    // Arrange: the random source at its extremes.
    const low = new Backoff({ random: () => 0 });
    const high = new Backoff({ random: () => 0.999999 });

    // Act
    const lows = Array.from({ length: 5 }, () => low.next());
    const highs = Array.from({ length: 5 }, () => Math.round(high.next()));

    // Assert
    expect(lows).to.deep.equal([500, 1000, 2000, 4000, 8000]);
    expect(highs).to.deep.equal([1000, 2000, 4000, 8000, 16000]);
  });

  it('never waits longer than 30 s however many attempts fail', () => {
    const backoff = new Backoff({ random: () => 1 });

    const delays = Array.from({ length: 200 }, () => backoff.next());

    expect(Math.max(...delays)).to.equal(30_000);
    expect(delays.at(-1)).to.equal(30_000);
  });

  it('keeps every delay within [0.5 s, 30 s] and at least half of its step, for any random source', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 60 }), (randoms) => {
        let i = 0;
        const backoff = new Backoff({ random: () => randoms[i++ % randoms.length] });
        for (let n = 0; n < randoms.length; n++) {
          const cap = backoff.currentCapMs;
          const delay = backoff.next();
          expect(delay).to.be.within(cap / 2, cap);
          expect(delay).to.be.within(500, 30_000);
        }
      }),
    );
  });

  it('spreads pages that lost the same gateway instead of retrying them in lockstep', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const pages = Array.from({ length: 50 }, () => new Backoff({ random }));

    const third = pages.map((page) => [page.next(), page.next(), page.next()][2]);

    expect(new Set(third.map(Math.round)).size).to.be.greaterThan(40);
  });

  it('starts again from the shortest delay after a reset', () => {
    const backoff = new Backoff({ random: () => 0 });
    for (let i = 0; i < 8; i++) backoff.next();

    backoff.reset();

    expect(backoff.attempts).to.equal(0);
    expect(backoff.next()).to.equal(500);
  });

  it('refuses a maximum below the initial delay', () => {
    expect(() => new Backoff({ initialMs: 1000, maxMs: 10 })).to.throw(RangeError);
  });
});
