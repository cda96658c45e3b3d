/** Rollup buckets by property: any order and any duplication of the same readings gives the same buckets. */
import { expect } from 'chai';
import fc from 'fast-check';
import { ROLLUP_LEVELS, type RollupBucket, type RollupSource, appendReadings, bucketStart, decodeFields, encodeFields, foldReadings, mergeBuckets, rawSortKey, rollupPoint } from '@serverless-iot-dashboard/shared';

const HOUR = 3_600_000;
const FIELDS = ['v', 'x', 'y', 'z', 'time', '__proto__', 'constructor'];

/** Readings of one hour: unique ids, times anywhere in the hour (ties included), numeric and non-numeric fields. */
const hourOfReadings = (value: fc.Arbitrary<number>) =>
  fc
    .array(
      fc.record({
        at: fc.integer({ min: 0, max: HOUR - 1 }).map((t) => Math.floor(t / 7000) * 7000), // a coarse clock: ties
        fields: fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.oneof(value, fc.constant('text'), fc.constant(null))), { maxLength: 4 }),
      }),
      { minLength: 1, maxLength: 120 },
    )
    .map((list) =>
      list.map(({ at, fields }, i): RollupSource & { at: number } => {
        const data: Record<string, unknown> = {};
        for (const [name, v] of fields) Object.defineProperty(data, name, { value: v, enumerable: true, writable: true, configurable: true });
        return { at, key: rawSortKey(at, `id-${i}`), data };
      }),
    );

/** Any order of the readings, with any of them repeated (a redelivery). */
const shuffledWithRepeats = <T>(items: T[]) =>
  fc.tuple(fc.array(fc.nat(), { minLength: items.length, maxLength: items.length }), fc.array(fc.nat({ max: items.length - 1 }), { maxLength: 20 })).map(([order, repeats]) =>
    [...items, ...repeats.map((i) => items[i]!)]
      .map((item, i) => ({ item, rank: order[i % order.length]! + i / 1e6 }))
      .sort((a, b) => a.rank - b.rank)
      .map(({ item }) => item),
  );

const canonical = (b: RollupBucket) => ({ start: b.start, ms: b.ms, count: b.count, fields: encodeFields(new Map([...b.fields].sort(([a], [c]) => (a < c ? -1 : 1)))) });

/** The hour as the writer builds it: minutes from readings, ten minutes from minutes, the hour from ten minutes. */
const hourThroughLevels = (readings: (RollupSource & { at: number })[]) => {
  const [minute, tenMinutes, hour] = ROLLUP_LEVELS as [(typeof ROLLUP_LEVELS)[0], (typeof ROLLUP_LEVELS)[0], (typeof ROLLUP_LEVELS)[0]];
  const group = <T>(items: T[], key: (item: T) => number) => {
    const map = new Map<number, T[]>();
    for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
    return map;
  };
  const minutes = [...group(readings, (r) => bucketStart(r.at, minute))].map(([start, list]) => foldReadings(start, minute.ms, list));
  const tens = [...group(minutes, (b) => bucketStart(b.start, tenMinutes))].map(([start, list]) => mergeBuckets(start, tenMinutes.ms, list));
  return mergeBuckets(0, hour.ms, tens);
};

describe('rollups: recomputed from their source', () => {
  it('folds any order and any duplication of the same readings into the same bucket, bit for bit', () => {
    fc.assert(
      fc.property(
        hourOfReadings(fc.double({ min: -1e9, max: 1e9, noNaN: true })).chain((readings) => fc.tuple(fc.constant(readings), shuffledWithRepeats(readings), shuffledWithRepeats(readings))),
        ([readings, a, b]) => {
          const expected = canonical(foldReadings(0, HOUR, readings));
          expect(canonical(foldReadings(0, HOUR, a))).to.deep.equal(expected);
          expect(canonical(foldReadings(0, HOUR, b))).to.deep.equal(expected);
          expect(expected.count).to.equal(readings.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('extends a stored bucket by readings that sort after all of its own into the bucket of them all, bit for bit', () => {
    fc.assert(
      fc.property(
        hourOfReadings(fc.double({ min: -1e9, max: 1e9, noNaN: true })).chain((readings) => fc.tuple(fc.constant(readings), fc.array(fc.nat({ max: readings.length }), { maxLength: 6 }))),
        ([readings, cuts]) => {
          const sorted = [...readings].sort((a, b) => (a.key < b.key ? -1 : 1));
          // The writer's path: the first readings folded and stored, then each later run appended to what was stored.
          const bounds = [...new Set([0, ...cuts, sorted.length])].sort((a, b) => a - b);
          let stored: RollupBucket = { start: 0, ms: HOUR, count: 0, fields: new Map() };
          for (let i = 1; i < bounds.length; i++) {
            const appended = appendReadings(stored, sorted.slice(bounds[i - 1], bounds[i]));
            stored = { ...appended, fields: decodeFields(encodeFields(appended.fields)) };
          }
          expect(canonical(stored)).to.deep.equal(canonical(foldReadings(0, HOUR, readings)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('builds the same hour through minutes and ten minutes, in any order and duplication, as straight from the readings', () => {
    fc.assert(
      fc.property(
        hourOfReadings(fc.integer({ min: -1e6, max: 1e6 })).chain((readings) => fc.tuple(fc.constant(readings), shuffledWithRepeats(readings))),
        ([readings, delivered]) => {
          const direct = foldReadings(0, HOUR, readings);
          const layered = hourThroughLevels(delivered);
          // Integer values: the sums are exact whatever the grouping.
          expect(canonical(layered)).to.deep.equal(canonical(direct));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('merges any order and duplication of the same finer buckets into the same bucket', () => {
    fc.assert(
      fc.property(
        hourOfReadings(fc.double({ min: -1e6, max: 1e6, noNaN: true })).chain((readings) => {
          const minutes = [...new Set(readings.map((r) => bucketStart(r.at, ROLLUP_LEVELS[0]!)))].map((start) =>
            foldReadings(start, 60_000, readings.filter((r) => bucketStart(r.at, ROLLUP_LEVELS[0]!) === start)),
          );
          return fc.tuple(fc.constant(minutes), shuffledWithRepeats(minutes));
        }),
        ([minutes, delivered]) => {
          expect(canonical(mergeBuckets(0, HOUR, delivered))).to.deep.equal(canonical(mergeBuckets(0, HOUR, minutes)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps min, max, sum, count and the last value (the greatest time#id) per numeric field, any field name', () => {
    const data = (entries: [string, unknown][]) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true });
      return out;
    };
    const bucket = foldReadings(0, 60_000, [
      { key: rawSortKey(2000, 'b'), data: data([['__proto__', 5], ['x', 1], ['label', 'on']]) },
      { key: rawSortKey(1000, 'a'), data: data([['__proto__', 9], ['x', 3], ['constructor', 2]]) },
      { key: rawSortKey(2000, 'a'), data: data([['x', -4]]) },
    ]);
    const point = rollupPoint(bucket);
    expect(point.count).to.equal(3);
    expect(Object.keys(point.min).sort()).to.deep.equal(['__proto__', 'constructor', 'x']);
    expect(point.min.x).to.equal(-4);
    expect(point.max.x).to.equal(3);
    expect(point.data.x).to.equal(1); // 2000#b is the last
    expect(point.mean.x).to.equal(0);
    expect(JSON.parse(JSON.stringify(point)).data).to.deep.equal(JSON.parse('{"__proto__":5,"x":1,"constructor":2}'));
  });
});
