import { expect } from 'chai';
import fc from 'fast-check';
import { RecentIds } from '../../dashboard/src/dedup.js';

describe('dashboard duplicate filter (RecentIds)', () => {
  it('admits an id the first time and refuses it the second time', () => {
    const recent = new RecentIds(10);

    const first = recent.admit('a');
    const second = recent.admit('a');

    expect(first).to.equal(true);
    expect(second).to.equal(false);
  });

  it('holds at most its capacity, forgetting the least recently seen id first', () => {
    const recent = new RecentIds(3);
    ['a', 'b', 'c'].forEach((id) => recent.admit(id));

    recent.admit('a'); // a repeat refreshes "a": "b" is now the oldest
    recent.admit('d');

    expect(recent.size).to.equal(3);
    expect(recent.has('b')).to.equal(false);
    expect(['a', 'c', 'd'].every((id) => recent.has(id))).to.equal(true);
  });

  it('never admits the same id twice while it is within capacity (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 0, max: 80 }), { maxLength: 400 }), (capacity, stream) => {
        const recent = new RecentIds(capacity);
        // A reference model: the `capacity` most recently offered distinct ids.
        let window: number[] = [];
        for (const n of stream) {
          const admitted = recent.admit(String(n));
          expect(admitted).to.equal(!window.includes(n));
          window = [...window.filter((m) => m !== n), n].slice(-capacity);
          expect(recent.size).to.be.at.most(capacity);
        }
      }),
    );
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RecentIds(0)).to.throw(RangeError);
    expect(() => new RecentIds(1.5)).to.throw(RangeError);
  });
});
