/** The page's time range and its address (dashboard/src/timeRange.ts). */
import { expect } from 'chai';
import { LIVE, LIVE_SPAN_MS, includesNow, parseTimeRange, windowOf, withTimeRange } from '../../dashboard/src/timeRange.js';

const parse = (query: string) => parseTimeRange(new URLSearchParams(query));

describe('dashboard time range', () => {
  it('is live (the last 5 minutes) when the address names none', () => {
    expect(parse('')).to.deep.equal(LIVE);
    expect(parse('range=live')).to.deep.equal(LIVE);
    expect(LIVE).to.deep.include({ kind: 'recent', spanMs: LIVE_SPAN_MS });
  });

  it('reads ?range=24h, 7d and any duration as the last that long, scrolling', () => {
    expect(parse('range=24h')).to.deep.equal({ kind: 'recent', spanMs: 86_400_000, name: '24h' });
    expect(parse('range=7d')).to.deep.equal({ kind: 'recent', spanMs: 7 * 86_400_000, name: '7d' });
    expect(parse('range=90m')).to.deep.equal({ kind: 'recent', spanMs: 90 * 60_000, name: '90m' });
  });

  it('reads ?from=&to= (ISO or epoch ms) as a fixed window, and keeps ?window= working as the live span', () => {
    expect(parse('from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z')).to.deep.equal({ kind: 'fixed', from: Date.UTC(2026, 11, 1), to: Date.UTC(2026, 11, 2) });
    expect(parse('from=1000&to=2000')).to.deep.equal({ kind: 'fixed', from: 1000, to: 2000 });
    expect(parse('window=10m')).to.deep.equal({ kind: 'recent', spanMs: 600_000, name: 'live' });
    // Nonsense falls back to live.
    expect(parse('from=2000&to=1000')).to.deep.equal(LIVE);
    expect(parse('range=yesterday')).to.deep.equal(LIVE);
  });

  it('writes the range into the address, keeping every other parameter, and reads back what it wrote', () => {
    const base = new URLSearchParams('devices=a,b&window=10m&token=t');
    const day = withTimeRange(base, { kind: 'recent', spanMs: 86_400_000, name: '24h' });
    expect(day.toString()).to.equal('devices=a%2Cb&token=t&range=24h');
    const zoom = withTimeRange(day, { kind: 'fixed', from: Date.UTC(2026, 11, 1, 12), to: Date.UTC(2026, 11, 1, 12, 10) });
    expect(zoom.get('range')).to.equal(null);
    expect(parseTimeRange(zoom)).to.deep.equal({ kind: 'fixed', from: Date.UTC(2026, 11, 1, 12), to: Date.UTC(2026, 11, 1, 12, 10) });
    expect(withTimeRange(zoom, LIVE).toString()).to.equal('devices=a%2Cb&token=t');
  });

  it('gives the window at a moment: a scrolling range ends now, a fixed one where it ends (or now)', () => {
    expect(windowOf({ kind: 'recent', spanMs: 1000, name: '1s' }, 5000)).to.deep.equal({ since: 4000, until: 5000 });
    expect(windowOf({ kind: 'fixed', from: 10, to: 20 }, 5000)).to.deep.equal({ since: 10, until: 20 });
    expect(windowOf({ kind: 'fixed', from: 10, to: Number.POSITIVE_INFINITY }, 5000)).to.deep.equal({ since: 10, until: 5000 });
    expect(includesNow({ kind: 'fixed', from: 10, to: 20 }, 5000)).to.equal(false);
    expect(includesNow(LIVE, 5000)).to.equal(true);
  });
});
