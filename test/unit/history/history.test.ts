/** history's pure parts (downsampling, frame splitting) by property, and the route's checks with injected fakes. */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  ALL_DEVICES,
  FRAME_BUDGET_BYTES,
  type HistoryPoint,
  type HistoryStore,
  createHistoryRoute,
  createReplyFrameWriter,
  downsample,
  streamHistory,
} from '@serverless-iot-dashboard/shared';
import type { ConnectionStore } from '@serverless-iot-dashboard/shared';

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

const fakeHistory = (points: HistoryPoint[], pageSize = 7): HistoryStore & { reads: number } => {
  const store = {
    reads: 0,
    usage: { requests: 0, readUnits: 0 },
    async *pages(_deviceId: string, since: number, until: number) {
      const inWindow = points.filter((p) => p.ts >= since && p.ts <= until);
      for (let i = 0; i < inWindow.length; i += pageSize) {
        store.reads++;
        yield inWindow.slice(i, i + pageSize);
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
  const week = (n: number): HistoryPoint[] => Array.from({ length: n }, (_, i) => ({ ts: 1000 + i * 1000, data: { v: i % 97 } }));

  it('sends up to maxPoints readings as they are', async () => {
    const frames: any[] = [];
    const stats = await streamHistory(fakeHistory(week(600)), { deviceId: 'd', since: 0, until: 1e9, maxPoints: 600 }, async (f) => void frames.push(JSON.parse(f)));
    expect(stats).to.include({ read: 600, points: 600, downsampled: false });
    expect(frames.flatMap((f) => f.points).map((p: HistoryPoint) => p.ts)).to.deep.equal(week(600).map((p) => p.ts));
  });

  it('downsamples from the reading past maxPoints on, and says so on every frame', async () => {
    const frames: any[] = [];
    const stats = await streamHistory(fakeHistory(week(5000)), { deviceId: 'd', since: 0, until: 5_001_000, maxPoints: 100, requestId: 'q' }, async (f) => void frames.push(JSON.parse(f)));
    expect(stats).to.include({ read: 5000, downsampled: true });
    expect(stats.points).to.be.at.most(100);
    for (const f of frames) expect(f).to.include({ downsampled: true, requestId: 'q' });
    expect(frames.at(-1).done).to.equal(true);
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

  it('posts the reply for a device in scope, with until defaulting to now, and echoes the requestId on an error', async () => {
    const { handler, posted } = route(['dev-1']);
    expect((await handler(event({ deviceId: 'dev-1', since: 0, requestId: 'a' }) as never)).body).to.equal(undefined);
    expect(posted.map((p) => JSON.parse(p))).to.deep.equal([{ type: 'history', requestId: 'a', deviceId: 'dev-1', downsampled: false, done: true, points: [{ ts: 5000, data: { v: 1 } }] }]);
    const refused = await handler(event({ deviceId: 'dev-9', since: 0, requestId: 'b' }) as never);
    expect(JSON.parse(refused.body!)).to.include({ type: 'error', code: 'forbidden', requestId: 'b' });
  });
});
