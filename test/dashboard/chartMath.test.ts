import { expect } from 'chai';
import fc from 'fast-check';
import { gapThreshold, paddedRange, timeGaps } from '../../dashboard/src/chartMath.js';

describe('dashboard chart math', () => {
  describe('y range per field', () => {
    it('adds headroom around the data', () => {
      const [lo, hi] = paddedRange(10, 20);

      expect(lo).to.be.closeTo(9, 1e-9);
      expect(hi).to.be.closeTo(21, 1e-9);
    });

    it('does not blow a small change up to full height (a battery going from 99 to 98)', () => {
      const [lo, hi] = paddedRange(98, 99);

      expect((99 - 98) / (hi - lo)).to.be.lessThan(0.25);
    });

    it('gives a constant series a range around its value', () => {
      const [lo, hi] = paddedRange(90, 90);

      expect(lo).to.be.lessThan(90);
      expect(hi).to.be.greaterThan(90);
    });

    it('falls back to [0, 1] without data', () => {
      expect(paddedRange(null, null)).to.deep.equal([0, 1]);
    });

    it('always contains the data (property)', () => {
      fc.assert(
        fc.property(fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 1e9, noNaN: true }), (min, width) => {
          const [lo, hi] = paddedRange(min, min + width);
          expect(lo).to.be.at.most(min);
          expect(hi).to.be.at.least(min + width);
        }),
      );
    });
  });

  describe('line breaks', () => {
    it('breaks the line after a silence of five usual intervals, and not before', () => {
      const x = [0, 1000, 2000, 3000, 4000, 9001, 10001, 11001];

      const threshold = gapThreshold(x, 1000);

      expect(threshold).to.equal(5000);
      expect(timeGaps(x, 0, x.length - 1, threshold)).to.deep.equal([[4, 5]]);
    });

    it('never breaks sooner than the floor, however fast the device', () => {
      const x = Array.from({ length: 100 }, (_, i) => i * 20);

      expect(gapThreshold(x)).to.equal(3000);
    });

    it('looks only between the indexes uPlot draws', () => {
      const x = [0, 10_000, 20_000, 30_000];

      expect(timeGaps(x, 1, 2, 5_000)).to.deep.equal([[1, 2]]);
    });
  });
});
