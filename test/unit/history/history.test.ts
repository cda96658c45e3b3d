/** history's pure parts (downsampling, frame splitting) by property, and the route's checks with injected fakes. */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  ALL_DEVICES,
  FRAME_BUDGET_BYTES,
  type HistoryPoint,
  type HistoryStore,
  type RawPoint,
  type RollupLevel,
  type RollupSource,
  ROLLUP_LEVELS,
  bucketStart,
  createDevicesRoute,
  createHistoryRoute,
  foldReadings,
  rawSortKey,
  createReplyFrameWriter,
  downsample,
  rollupLevelFor,
  streamHistory,
} from '@serverless-iot-dashboard/shared';
import type { ConnectionStore } from '@serverless-iot-dashboard/shared';
import { validateClientFrame } from '@serverless-iot-dashboard/shared';
import { loadEvent } from '../../helpers/events.js';

const FRAME_LIMIT = 32 * 1024;

/** Sorted readings with a numeric field, in [since, until]. */
const readings = fc
  .record({
    since: fc.integer({ min: 0, max: 1e12 }),
    span: fc.integer({ min: 0, max: 1e7 }),
    values: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 400 }),
    maxPoints: fc.integer({ min: 1, max: 600 }),
  })
  .map(({ since, span, values, maxPoints }) => {
    const until = since + span;
    const points: HistoryPoint[] = values
      .map(([at, v]) => ({ ts: since + Math.floor(at * span), data: { v, label: 'x' } }))
      .sort((a, b) => a.ts - b.ts);
    return { since, until, points, maxPoints };
  });

/** An in-memory HistoryStore: raw points (ts = stored time) and rollup buckets folded from them by level. */
const fakeHistory = (points: HistoryPoint[], pageSize = 7, unitsPerPage = 0): HistoryStore & { reads: number } => {
  const raws: RawPoint[] = points.map((p, i) => ({ ts: p.ts, id: `r${i}`, data: p.data }));
  const store = {
    reads: 0,
    usage: { requests: 0, readUnits: 0 },
    async *raw(_deviceId: string, since: number, until: number, { limit = Infinity, tally }: { limit?: number; tally?: { readUnits: number; requests: number } } = {}) {
      const inWindow = raws.filter((p) => p.ts >= since && p.ts <= until).slice(0, limit);
      for (let i = 0; i < inWindow.length; i += pageSize) {
        store.reads++;
        if (tally) tally.readUnits += unitsPerPage;
        yield inWindow.slice(i, i + pageSize);
      }
    },
    async *buckets(_deviceId: string, level: RollupLevel, since: number, until: number, { tally }: { tally?: { readUnits: number; requests: number } } = {}) {
      const byStart = new Map<number, RollupSource[]>();
      for (const p of raws) {
        const start = bucketStart(p.ts, level);
        if (start < bucketStart(since, level) || start > until) continue;
        byStart.set(start, [...(byStart.get(start) ?? []), { key: rawSortKey(p.ts, p.id), data: p.data }]);
      }
      const buckets = [...byStart].sort((a, b) => a[0] - b[0]).map(([start, sources]) => foldReadings(start, level.ms, sources));
      for (let i = 0; i < buckets.length; i += pageSize) {
        store.reads++;
        if (tally) tally.readUnits += unitsPerPage;
        yield buckets.slice(i, i + pageSize);
      }
    },
  };
  return store;
};

describe('history: downsampling', () => {
  it('never returns more buckets than maxPoints, sorted by ts, within the window', () => {
    fc.assert(
      fc.property(readings, ({ since, until, points, maxPoints }) => {
        const out = downsample(points, since, until, maxPoints);
        expect(out.length).to.be.at.most(maxPoints);
        for (let i = 1; i < out.length; i++) expect(out[i]!.ts).to.be.greaterThan(out[i - 1]!.ts);
        for (const p of out) expect(p.ts).to.be.within(since, until);
      }),
    );
  });

  it('keeps the window min and max of every numeric field, and the last value', () => {
    fc.assert(
      fc.property(readings, ({ since, until, points, maxPoints }) => {
        const out = downsample(points, since, until, maxPoints);
        const values = points.map((p) => p.data.v as number);
        expect(Math.min(...out.map((p) => p.min!.v!))).to.equal(Math.min(...values));
        expect(Math.max(...out.map((p) => p.max!.v!))).to.equal(Math.max(...values));
        expect(out.at(-1)!.data.v).to.equal(points.at(-1)!.data.v);
        for (const p of out) expect(p.min!.v).to.be.at.most(p.data.v as number).and.to.be.at.most(p.max!.v!);
      }),
    );
  });

  it('keeps non-numeric fields from the last reading of each bucket, without min or max for them', () => {
    const out = downsample([{ ts: 0, data: { v: 1, s: 'a' } }, { ts: 1, data: { v: 2, s: 'b' } }], 0, 9, 1);
    expect(out).to.deep.equal([{ ts: 1, data: { v: 2, s: 'b' }, min: { v: 1 }, max: { v: 2 } }]);
  });
});

describe('history: frames under 32 KB', () => {
  it('splits any list of points into frames under 32 KB whose points, in order, are the list, the last with done', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ ts: fc.nat(), data: fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 2000 }))) }), { maxLength: 300 }),
        fc.option(fc.string({ minLength: 1, maxLength: 128 }), { nil: undefined }),
        async (points, requestId) => {
          const frames: string[] = [];
          const writer = createReplyFrameWriter({ type: 'history', ...(requestId ? { requestId } : {}), deviceId: 'dev-1', downsampled: false }, 'points', async (f) => {
            frames.push(f);
          });
          for (const p of points) await writer.add(p);
          await writer.end();
          const parsed = frames.map((f) => JSON.parse(f));
          for (const f of frames) expect(Buffer.byteLength(f)).to.be.lessThan(FRAME_LIMIT);
          expect(parsed.flatMap((f) => f.points)).to.deep.equal(JSON.parse(JSON.stringify(points)));
          expect(parsed.map((f) => f.done)).to.deep.equal([...Array(parsed.length - 1).fill(false), true]);
          for (const f of parsed) expect(f).to.include({ type: 'history', deviceId: 'dev-1', downsampled: false, ...(requestId ? { requestId } : {}) });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('sends one done frame with no points for an empty window', async () => {
    const frames: string[] = [];
    const writer = createReplyFrameWriter({ type: 'history', deviceId: 'd' }, 'points', async (f) => void frames.push(f));
    await writer.end();
    expect(frames.map((f) => JSON.parse(f))).to.deep.equal([{ type: 'history', deviceId: 'd', done: true, points: [] }]);
    expect(FRAME_BUDGET_BYTES).to.be.lessThan(FRAME_LIMIT);
  });
});

describe('history: streaming a reply', () => {
  const week = (n: number, step = 1000): HistoryPoint[] => Array.from({ length: n }, (_, i) => ({ ts: 1000 + i * step, data: { v: i % 97 } }));

  it('sends up to maxPoints readings as they are, with their ids, at resolution raw', async () => {
    const frames: any[] = [];
    const stats = await streamHistory(fakeHistory(week(600)), { deviceId: 'd', since: 0, until: 1e9, maxPoints: 600 }, async (f) => void frames.push(JSON.parse(f)));
    expect(stats).to.include({ points: 600, resolution: 'raw', truncated: false });
    expect(frames.flatMap((f) => f.points).map((p: HistoryPoint) => p.ts)).to.deep.equal(week(600).map((p) => p.ts));
    for (const f of frames) expect(f).to.include({ resolution: 'raw', downsampled: false });
  });

  it('answers from rollups past maxPoints readings: the coarsest level that still gives maxPoints buckets, merged to at most maxPoints points', async () => {
    const frames: any[] = [];
    // 5,000 readings 10 s apart: 833 minutes, 84 ten-minute buckets, 14 hours.
    const stats = await streamHistory(fakeHistory(week(5000, 10_000), 50), { deviceId: 'd', since: 0, until: 50_001_000, maxPoints: 100, requestId: 'q' }, async (f) => void frames.push(JSON.parse(f)));
    expect(stats).to.include({ resolution: '1m', truncated: false });
    expect(stats.points).to.be.at.most(100);
    for (const f of frames) expect(f).to.include({ resolution: '1m', downsampled: true, requestId: 'q', bucketMs: 9 * 60_000 });
    const points = frames.flatMap((f) => f.points);
    expect(points.reduce((n: number, p: { count: number }) => n + p.count, 0)).to.equal(5000);
    expect(Math.max(...points.map((p: { max: { v: number } }) => p.max.v))).to.equal(96);
    expect(frames.at(-1).done).to.equal(true);
  });

  it('downsamples raw readings instead when even minute buckets give fewer than maxPoints and the readings are few (a 20 Hz device over 5 minutes)', async () => {
    const frames: any[] = [];
    const points20Hz: HistoryPoint[] = Array.from({ length: 6000 }, (_, i) => ({ ts: 1000 + i * 50, data: { v: i === 3000 ? 999 : i % 10 } }));
    const stats = await streamHistory(fakeHistory(points20Hz, 500), { deviceId: 'd', since: 0, until: 300_999, maxPoints: 2000 }, async (f) => void frames.push(JSON.parse(f)));
    expect(stats).to.include({ resolution: 'raw', truncated: false });
    const points = frames.flatMap((f) => f.points);
    expect(points.length).to.be.within(1900, 2000);
    expect(frames[0]).to.include({ resolution: 'raw', downsampled: true });
    expect(Math.max(...points.map((p: { max: { v: number } }) => p.max.v))).to.equal(999);
  });

  it('picks the level by the window: a 30-day window reads hours, 7 days ten minutes, 24 hours minutes', () => {
    const day = 86_400_000;
    expect(rollupLevelFor(0, 30 * day, 600).name).to.equal('1h');
    expect(rollupLevelFor(0, 7 * day, 600).name).to.equal('10m');
    expect(rollupLevelFor(0, day, 600).name).to.equal('1m');
    expect(rollupLevelFor(0, 3_600_000, 600).name).to.equal('1m');
    expect(ROLLUP_LEVELS.map((l) => l.name)).to.deep.equal(['1m', '10m', '1h']);
  });

  it('stops at the read budget: the last frame says truncated, where to continue, and done', async () => {
    const frames: any[] = [];
    const stats = await streamHistory(fakeHistory(week(5000, 10_000), 50, 10), { deviceId: 'd', since: 0, until: 50_001_000, maxPoints: 100 }, async (f) => void frames.push(JSON.parse(f)), {
      readBudget: 30,
    });
    expect(stats.truncated).to.equal(true);
    const last = frames.at(-1);
    expect(last).to.include({ done: true, truncated: true });
    const points = frames.flatMap((f) => f.points);
    expect(last.next.since).to.be.greaterThan(points.at(-1).ts);
    expect(last.next.since).to.be.lessThan(50_001_000);
  });

  it('stops at the deadline (an injected clock): truncated, done, and a raw reply continues from its last reading', async () => {
    let t = 0;
    const frames: any[] = [];
    const history = fakeHistory(week(500), 100);
    const stats = await streamHistory(history, { deviceId: 'd', since: 0, until: 1e9, maxPoints: 600 }, async (f) => void frames.push(JSON.parse(f)), {
      deadline: 2,
      now: () => ++t,
    });
    expect(stats).to.include({ truncated: true, resolution: 'raw' });
    const points = frames.flatMap((f) => f.points);
    expect(points.length).to.be.lessThan(500);
    expect(frames.at(-1)).to.deep.include({ done: true, truncated: true, next: { since: points.at(-1).ts } });
  });

  it('sends a reading too large for a frame reduced to its numbers and booleans (marked reduced), never failing the reply', async () => {
    const big = 'x'.repeat(54 * 1024);
    const frames: string[] = [];
    const points = [
      { ts: 1, data: { blob: big, v: 1 } },
      { ts: 2, data: { blob: big } },
      { ts: 3, data: { v: 3 } },
    ];
    await streamHistory(fakeHistory(points), { deviceId: 'd', since: 0, until: 10, maxPoints: 600 }, async (f) => void frames.push(f));
    for (const f of frames) expect(Buffer.byteLength(f)).to.be.lessThan(FRAME_LIMIT);
    const sent = frames.flatMap((f) => JSON.parse(f).points);
    expect(sent).to.deep.equal([
      { ts: 1, id: 'r0', data: { v: 1 }, reduced: true },
      { ts: 2, id: 'r1', data: {}, reduced: true },
      { ts: 3, id: 'r2', data: { v: 3 } },
    ]);
  });
});

describe('history: the route checks scope and input before reading', () => {
  const connection = (scope: string[] | '*') => ({ connectionId: 'c1', sub: 'alice', scope, publish: false, devices: ['*'], connectedAt: 0, expiresAt: 0 });
  const route = (scope: string[] | '*') => {
    const history = fakeHistory(week());
    const posted: string[] = [];
    const store = { getConnection: async () => connection(scope) } as unknown as ConnectionStore;
    const handler = createHistoryRoute({ store, history, post: async (_c, body) => void posted.push(body), log: { info() {}, warn() {}, error() {}, debug() {} } as never, retentionDays: 7, now: () => 10_000 });
    return { handler, history, posted };
  };
  function week(): HistoryPoint[] {
    return [{ ts: 5000, data: { v: 1 } }];
  }
  const event = (frame: Record<string, unknown>) => ({ requestContext: { connectionId: 'c1', eventType: 'MESSAGE', routeKey: 'history' } as never, frame: { action: 'history', ...frame } });

  for (const [what, scope, frame, code] of [
    ['a device outside the token scope', ['dev-2'], { deviceId: 'dev-1', since: 0 }, 'forbidden'],
    ['a wildcard deviceId, even with scope *', ALL_DEVICES, { deviceId: '*', since: 0 }, 'bad_request'],
    ['a window longer than the retention', ALL_DEVICES, { deviceId: 'dev-1', since: -8 * 86_400_000 }, 'bad_request'],
    ['since after the default until (now)', ALL_DEVICES, { deviceId: 'dev-1', since: 20_000 }, 'bad_request'],
    ['an unknown field', ALL_DEVICES, { deviceId: 'dev-1', since: 0, limit: 5 }, 'bad_request'],
    ['a requestId that is not a string', ALL_DEVICES, { deviceId: 'dev-1', since: 0, requestId: 7 }, 'bad_request'],
  ] as const) {
    it(`refuses ${what} with ${code}, reading and posting nothing`, async () => {
      const { handler, history, posted } = route(scope as never);
      const result = await handler(event(frame) as never);
      expect(JSON.parse(result.body!)).to.include({ type: 'error', code });
      expect(history.reads).to.equal(0);
      expect(posted).to.deep.equal([]);
    });
  }

  it('refuses a token holder past its rate with rate_limited, reading and posting nothing', async () => {
    const history = fakeHistory(week());
    const posted: string[] = [];
    const store = { getConnection: async () => connection(ALL_DEVICES as never) } as unknown as ConnectionStore;
    const asked: string[] = [];
    const limiter = Object.assign(async (sub: string) => (asked.push(sub), { allowed: false, retryAfterMs: 3000 }), { perMinute: 60, burst: 20 });
    const handler = createHistoryRoute({ store, history, post: async (_c, body) => void posted.push(body), log: { info() {} } as never, retentionDays: 7, now: () => 10_000, limiter });
    const result = await handler(event({ deviceId: 'dev-1', since: 0, requestId: 'r' }) as never);
    expect(JSON.parse(result.body!)).to.include({ type: 'error', code: 'rate_limited', requestId: 'r' });
    expect(asked).to.deep.equal(['alice']);
    expect(history.reads).to.equal(0);
    expect(posted).to.deep.equal([]);
  });

  it('posts the reply for a device in scope, with until defaulting to now, and echoes the requestId on an error', async () => {
    const { handler, posted } = route(['dev-1']);
    expect((await handler(event({ deviceId: 'dev-1', since: 0, requestId: 'a' }) as never)).body).to.equal(undefined);
    expect(posted.map((p) => JSON.parse(p))).to.deep.equal([
      { type: 'history', requestId: 'a', deviceId: 'dev-1', resolution: 'raw', downsampled: false, done: true, points: [{ ts: 5000, id: 'r0', data: { v: 1 } }] },
    ]);
    const refused = await handler(event({ deviceId: 'dev-9', since: 0, requestId: 'b' }) as never);
    expect(JSON.parse(refused.body!)).to.include({ type: 'error', code: 'forbidden', requestId: 'b' });
  });
});

describe('devices: the route limits each token holder', () => {
  it('refuses a token holder past its rate with rate_limited, reading and posting nothing', async () => {
    let reads = 0;
    const devices = {
      usage: { requests: 0, readUnits: 0 },
      recordLatest: async () => true,
      latest: async () => (reads++, []),
      page: async () => (reads++, { readings: [] }),
      async *all() {
        reads++;
      },
    };
    const posted: string[] = [];
    const store = { getConnection: async () => ({ connectionId: 'c1', sub: 'bob', scope: ALL_DEVICES, publish: false, devices: ['*'], connectedAt: 0, expiresAt: 0 }) } as unknown as ConnectionStore;
    const limiter = Object.assign(async () => ({ allowed: false, retryAfterMs: 1000 }), { perMinute: 60, burst: 20 });
    const handler = createDevicesRoute({ store, devices, post: async (_c, body) => void posted.push(body), log: { info() {} } as never, limiter });
    const result = await handler({ requestContext: { connectionId: 'c1', eventType: 'MESSAGE', routeKey: 'devices' } as never, frame: { action: 'devices', requestId: 'd' } } as never);
    expect(JSON.parse(result.body!)).to.include({ type: 'error', code: 'rate_limited', requestId: 'd' });
    expect(reads).to.equal(0);
    expect(posted).to.deep.equal([]);
  });
});

describe('history: the events/ fixtures', () => {
  for (const [name, days] of [
    ['history', 300_000 / 86_400_000],
    ['history-24h', 1],
    ['history-continue', 1],
    ['history-30d', 30],
  ] as const) {
    it(`events/${name}.json is a valid history request of ${days < 1 ? '5 minutes' : `${days} day(s)`}`, () => {
      const frame = validateClientFrame(JSON.parse(loadEvent(name).body)) as { action: string; since: number; until: number };
      expect(frame.action).to.equal('history');
      expect(frame.until - frame.since).to.be.at.most(days * 86_400_000);
    });
  }
});
