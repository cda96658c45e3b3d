/**
 * Download CSV (dashboard/src/charts/csvExport.ts) against a fake socket whose server is the layer's own
 * `history` reply (streamHistory) over an in-memory history store: the file is the one `npm run export`
 * (scripts/historyExport.ts) writes for the same readings, raw up to 100,000 readings and rollup rows past
 * that; every request keeps within the protocol's limits, one at a time; a cut-short reply is continued, a
 * rate-limited one retried after the wait it names, and any other error or a closed socket fails the download.
 */
import { expect } from 'chai';
import {
  type HistoryStore,
  MAX_MAX_POINTS,
  ROLLUP_LEVELS,
  type RawPoint,
  type RollupBucket,
  type RollupLevel,
  foldReadings,
  rawSortKey,
  streamHistory,
  validateClientFrame,
} from '@serverless-iot-dashboard/shared';
import { CsvExport, type CsvExportOptions } from '../../dashboard/src/charts/csvExport.js';
import { exportHistory } from '../../scripts/historyExport.js';
import { pagedHistory } from '../helpers/pagedHistory.js';

const T0 = Date.UTC(2026, 11, 1, 0, 0, 0);

/** Readings of each device sorted by (ts, id), with rollup buckets of every level folded from them. */
const memoryHistory = (readings: Record<string, RawPoint[]>, pageSize = 1000): HistoryStore => {
  const sorted = new Map(Object.entries(readings).map(([d, points]) => [d, [...points].sort((a, b) => (rawSortKey(a.ts, a.id) < rawSortKey(b.ts, b.id) ? -1 : 1))]));
  const levels = new Map<string, RollupBucket[]>();
  for (const [deviceId, points] of sorted) {
    for (const level of ROLLUP_LEVELS) {
      const groups = new Map<number, RawPoint[]>();
      for (const p of points) {
        const start = Math.floor(p.ts / level.ms) * level.ms;
        groups.set(start, [...(groups.get(start) ?? []), p]);
      }
      levels.set(`${deviceId}#${level.name}`, [...groups].sort(([a], [b]) => a - b).map(([start, ps]) => foldReadings(start, level.ms, ps.map((p) => ({ key: rawSortKey(p.ts, p.id), data: p.data })))));
    }
  }
  return pagedHistory(
    {
      raw: (deviceId, since, until) => (sorted.get(deviceId) ?? []).filter((p) => p.ts >= since && p.ts <= until),
      buckets: (deviceId, level, since, until) => (levels.get(`${deviceId}#${level.name}`) ?? []).filter((b) => b.start >= Math.floor(since / level.ms) * level.ms && b.start <= until),
    },
    pageSize,
  );
};

const readingsOf = (deviceId: string, from: number, count: number, stepMs: number): RawPoint[] =>
  Array.from({ length: count }, (_, i) => ({ ts: from + i * stepMs, id: `${deviceId}-${i}`, data: { temperature: 20 + Math.sin(i / 50), seq: i } }));

interface Harness {
  exporter: CsvExport;
  requests: Record<string, unknown>[];
  maxInFlight: number;
  timers: { fn: () => void; ms: number }[];
}

/**
 * The page's socket: every request validated as the route validates it, answered by streamHistory (one frame at
 * a time, as @connections posts them), unless `answer` answers it first.
 */
const harness = (
  history: HistoryStore,
  options: Partial<CsvExportOptions> & Pick<CsvExportOptions, 'devices' | 'since' | 'until'>,
  { readBudget, answer }: { readBudget?: number; answer?: (request: Record<string, unknown>, n: number) => Record<string, unknown> | undefined } = {},
): Harness => {
  const h: Harness = { exporter: undefined as never, requests: [], maxInFlight: 0, timers: [] };
  let inFlight = 0;
  h.exporter = new CsvExport({
    ...options,
    setTimeout: (fn, ms) => {
      const timer = { fn, ms };
      h.timers.push(timer);
      return timer;
    },
    clearTimeout: (timer) => {
      h.timers = h.timers.filter((t) => t !== timer);
    },
    send: (frame) => {
      const request = validateClientFrame(frame as Record<string, unknown>) as unknown as Record<string, unknown>;
      h.requests.push(request);
      h.maxInFlight = Math.max(h.maxInFlight, ++inFlight);
      const deliver = (reply: Record<string, unknown>) => {
        if (reply.done === true || reply.type === 'error') inFlight--;
        h.exporter.onFrame(reply);
      };
      const special = answer?.(request, h.requests.length);
      if (special) {
        queueMicrotask(() => deliver(special));
        return;
      }
      const { deviceId, since, until, maxPoints, requestId } = request as { deviceId: string; since: number; until: number; maxPoints: number; requestId: string };
      void streamHistory(history, { deviceId, since, until, maxPoints, requestId }, async (text) => deliver(JSON.parse(text) as Record<string, unknown>), readBudget === undefined ? {} : { readBudget });
    },
  });
  return h;
};

const exportCsv = async (history: HistoryStore, deviceId: string, since: number, until: number, maxRawReadings?: number) => {
  let csv = '';
  const outcome = await exportHistory({ history, deviceId, since, until, write: async (chunk) => void (csv += chunk), ...(maxRawReadings === undefined ? {} : { maxRawReadings }) });
  return { csv, outcome };
};

const withinLimits = (h: Harness) => {
  expect(h.maxInFlight, 'requests in flight at once').to.equal(1);
  for (const r of h.requests) {
    expect(r.action).to.equal('history');
    expect(r.maxPoints as number).to.be.within(1, MAX_MAX_POINTS);
  }
};

describe('dashboard Download CSV: the export rule over the page socket', function () {
  // Up to 172,800 readings through the layer's real history routes per spec: seconds alone, far more on a loaded machine.
  this.timeout(120_000);
  it('gives raw readings, as npm run export writes them, when the window holds at most 100,000', async () => {
    const since = T0 + 30_000;
    const until = T0 + 3 * 3_600_000 - 1;
    const history = memoryHistory({ 'dev-1': readingsOf('dev-1', T0, 3 * 3600, 1000) });
    const h = harness(history, { devices: ['dev-1'], since, until });
    const result = await h.exporter.run();
    const expected = await exportCsv(history, 'dev-1', since, until);
    expect(result.resolution).to.equal('raw');
    expect(result.rows).to.equal(3 * 3600 - 30);
    expect(result.csv.split('\r\n')[0]).to.equal('resolution,time,ts,id,temperature,seq,other');
    expect(result.csv).to.equal(expected.csv);
    withinLimits(h);
  });

  it('gives minute rollup rows (min, max, mean, last, count) past 100,000 readings, as npm run export does', async () => {
    // Two days at 1 Hz: 172,800 readings.
    const since = T0;
    const until = T0 + 2 * 86_400_000 - 1;
    const history = memoryHistory({ 'dev-1': readingsOf('dev-1', T0, 2 * 86_400, 1000) });
    const h = harness(history, { devices: ['dev-1'], since, until });
    const result = await h.exporter.run();
    const expected = await exportCsv(history, 'dev-1', since, until);
    expect(expected.outcome.resolution).to.equal('1m');
    expect(result.resolution).to.equal('1m');
    expect(result.readings).to.equal(2 * 86_400);
    expect(result.rows).to.equal(2 * 1440);
    expect(result.csv.split('\r\n')[0]).to.equal('resolution,time,ts,count,temperature_min,temperature_max,temperature_mean,temperature_last,seq_min,seq_max,seq_mean,seq_last');
    expect(result.csv).to.equal(expected.csv);
    withinLimits(h);
  });

  it('folds chunks the server answers raw into the same rows the server rollups give', async () => {
    // Sparse at first (raw replies), dense later (bucket replies); a small raw limit forces rollup rows.
    const sparse = readingsOf('dev-1', T0, 30, 60_000).map((p) => ({ ...p, id: `s-${p.id}` }));
    const dense = readingsOf('dev-1', T0 + 5_000 * 60_000, 6000, 1000);
    const history = memoryHistory({ 'dev-1': [...sparse, ...dense] });
    const since = T0;
    const until = T0 + 5_200 * 60_000 - 1;
    const h = harness(history, { devices: ['dev-1'], since, until, maxRawReadings: 6000 });
    const result = await h.exporter.run();
    const expected = await exportCsv(history, 'dev-1', since, until, 6000);
    expect(result.readings).to.equal(6030);
    expect(result.resolution).to.equal('1m');
    expect(result.csv).to.equal(expected.csv);
    withinLimits(h);
  });

  it('counts every device on screen together, and names each row device', async () => {
    const history = memoryHistory({ a: readingsOf('a', T0, 600, 1000), b: readingsOf('b', T0, 600, 1000) });
    const raw = await harness(history, { devices: ['a', 'b'], since: T0, until: T0 + 600_000 - 1, maxRawReadings: 1200 }).exporter.run();
    const lines = raw.csv.trimEnd().split('\r\n');
    expect(raw.resolution).to.equal('raw');
    expect(lines[0]).to.equal('resolution,device,time,ts,id,temperature,seq,other');
    expect(lines.filter((l) => l.startsWith('raw,a,'))).to.have.length(600);
    expect(lines.filter((l) => l.startsWith('raw,b,'))).to.have.length(600);
    const rolled = await harness(history, { devices: ['a', 'b'], since: T0, until: T0 + 600_000 - 1, maxRawReadings: 1199 }).exporter.run();
    expect(rolled.resolution).to.equal('1m');
    expect(rolled.csv.split('\r\n')[1]).to.match(/^1m,a,2026-12-01T00:00:00.000Z,1796083200000,60,/);
    expect(rolled.rows).to.equal(20);
  });

  it('fetches 100,000 raw readings in windows of at most 5,000 and continues replies cut short by the read budget', async () => {
    const since = T0;
    const until = T0 + 100_000 * 500 - 1;
    const history = memoryHistory({ 'dev-1': readingsOf('dev-1', T0, 100_000, 500) }, 500);
    const h = harness(history, { devices: ['dev-1'], since, until }, { readBudget: 4 });
    const result = await h.exporter.run();
    expect(result.resolution).to.equal('raw');
    expect(result.rows).to.equal(100_000);
    expect(result.csv).to.equal((await exportCsv(history, 'dev-1', since, until)).csv);
    withinLimits(h);
    expect(h.requests.length).to.be.below(200);
  });

  it('waits as a rate_limited error says and asks again', async () => {
    const history = memoryHistory({ 'dev-1': readingsOf('dev-1', T0, 100, 1000) });
    const h = harness(
      history,
      { devices: ['dev-1'], since: T0, until: T0 + 100_000 - 1 },
      { answer: (r, n) => (n === 1 ? { type: 'error', code: 'rate_limited', message: 'too many history requests: at most 600 a minute, in bursts of 200, per token holder; retry in 3 s', requestId: r.requestId } : undefined) },
    );
    const running = h.exporter.run();
    // The retry waits for its timer (the injected clock), not for the wall clock.
    for (let i = 0; i < 50 && !h.timers.some((t) => t.ms === 3000); i++) await new Promise((resolve) => setImmediate(resolve));
    const wait = h.timers.find((t) => t.ms === 3000);
    expect(wait, 'a 3 s wait').to.not.equal(undefined);
    expect(h.requests).to.have.length(1);
    wait!.fn();
    const result = await running;
    expect(result.rows).to.equal(100);
    // The refused request asked again, as it was (a new request id).
    const { requestId: _first, ...refused } = h.requests[0]!;
    const { requestId: _again, ...again } = h.requests[1]!;
    expect(again).to.deep.equal(refused);
  });

  it('fails with the server error message, and when the socket closes mid-download', async () => {
    const history = memoryHistory({ 'dev-1': readingsOf('dev-1', T0, 100, 1000) });
    const forbidden = harness(history, { devices: ['dev-1'], since: T0, until: T0 + 100_000 }, { answer: (r) => ({ type: 'error', code: 'forbidden', message: 'device dev-1 is outside this token', requestId: r.requestId }) });
    await forbidden.exporter.run().then(
      () => expect.fail('resolved'),
      (error: Error) => expect(error.message).to.equal('device dev-1 is outside this token'),
    );
    expect(forbidden.requests).to.have.length(1);

    const silent = harness(history, { devices: ['dev-1'], since: T0, until: T0 + 100_000 }, { answer: () => ({ type: 'pong' }) });
    const running = silent.exporter.run();
    await new Promise((resolve) => setImmediate(resolve));
    silent.exporter.onClose();
    await running.then(
      () => expect.fail('resolved'),
      (error: Error) => expect(error.message).to.match(/connection closed/),
    );
  });

  it('fails when no reply comes within its timeout', async () => {
    const history = memoryHistory({ 'dev-1': [] });
    const h = harness(history, { devices: ['dev-1'], since: T0, until: T0 + 100_000, replyTimeoutMs: 30_000 }, { answer: () => ({ type: 'pong' }) });
    const running = h.exporter.run();
    await new Promise((resolve) => setImmediate(resolve));
    h.timers.find((t) => t.ms === 30_000)!.fn();
    await running.then(
      () => expect.fail('resolved'),
      (error: Error) => expect(error.message).to.equal('no reply from the server for 30 s'),
    );
  });
});
