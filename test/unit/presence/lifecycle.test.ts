import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import fc from 'fast-check';
import { InvalidLifecycleEvent, type PresenceRecord, VERSION_RESET_GAP_MS, parseLifecycleEvent, presenceFrame, presenceRecord, supersedes } from '@serverless-iot-dashboard/shared';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../../events/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
const T0 = 1_764_057_600_000;
const at = (eventType: 'connected' | 'disconnected', versionNumber: number, since: number, reason?: string): PresenceRecord => ({
  state: eventType === 'connected' ? 'online' : 'offline',
  eventType,
  versionNumber,
  since,
  ...(reason ? { reason } : {}),
});

/** Applies events in the given order the way the store does: each kept only when it supersedes the held one. */
const settle = (events: PresenceRecord[]): PresenceRecord | undefined => events.reduce<PresenceRecord | undefined>((held, e) => (supersedes(e, held) ? e : held), undefined);

describe('presence: ordering IoT Core lifecycle events', () => {
  it('reads the fixtures as IoT Core sends them: the client id is the device id, a disconnect carries its reason', () => {
    const connected = presenceRecord(parseLifecycleEvent(fixture('presence-connected')));
    const disconnected = presenceRecord(parseLifecycleEvent(fixture('presence-disconnected')));

    expect(connected).to.deep.include({ state: 'online', since: T0, versionNumber: 3, eventType: 'connected' });
    expect(disconnected).to.deep.include({ state: 'offline', reason: 'MQTT_KEEP_ALIVE_TIMEOUT', versionNumber: 3 });
    expect(presenceFrame('sim-1', disconnected)).to.deep.equal({ type: 'presence', deviceId: 'sim-1', state: 'offline', since: T0 + 60_000, reason: 'MQTT_KEEP_ALIVE_TIMEOUT' });
  });

  it('refuses an event whose client id is not a device id, or that lacks its version or type', () => {
    const base = fixture('presence-connected');
    for (const bad of [{ ...base, clientId: 'a/b#' }, { ...base, versionNumber: undefined }, { ...base, eventType: 'subscribed' }, { ...base, timestamp: 'soon' }, 'nope']) {
      expect(() => parseLifecycleEvent(bad), JSON.stringify(bad)).to.throw(InvalidLifecycleEvent);
    }
  });

  it('ignores a duplicate: the same event twice changes nothing the second time', () => {
    const connected = at('connected', 4, T0);
    expect(supersedes(connected, undefined)).to.equal(true);
    expect(supersedes({ ...connected }, connected)).to.equal(false);
  });

  it('never lets a late "connected" overwrite the disconnect of the same connection, even with a later timestamp', () => {
    const disconnected = at('disconnected', 4, T0 + 1000, 'CONNECTION_LOST');
    expect(supersedes(at('connected', 4, T0), disconnected)).to.equal(false);
    // Clocks of two brokers can disagree by a little: at one version the disconnect is the later, always.
    expect(supersedes(at('connected', 4, T0 + 1500), disconnected)).to.equal(false);
    expect(supersedes(disconnected, at('connected', 4, T0 + 1500))).to.equal(true);
  });

  it('orders two connections by versionNumber: an older connection’s late events change nothing', () => {
    const reconnected = at('connected', 6, T0 + 5000);
    expect(supersedes(at('disconnected', 5, T0 + 4000, 'CONNECTION_LOST'), reconnected)).to.equal(false);
    expect(supersedes(at('connected', 5, T0), reconnected)).to.equal(false);
    expect(supersedes(at('disconnected', 6, T0 + 9000, 'CLIENT_INITIATED_DISCONNECT'), reconnected)).to.equal(true);
  });

  it('takes a versionNumber reset (to 0, after about an hour disconnected) as newer, and a pre-reset straggler as older', () => {
    const lastBeforeReset = at('disconnected', 9, T0, 'MQTT_KEEP_ALIVE_TIMEOUT');
    const afterReset = at('connected', 0, T0 + 65 * 60_000);

    expect(supersedes(afterReset, lastBeforeReset)).to.equal(true);
    // The old connection's connect arrives late, after the reset was kept: its higher version does not win.
    expect(supersedes(at('connected', 9, T0 - 1000), afterReset)).to.equal(false);
    // A lower version only a little later is not a reset: a straggler of an older connection.
    expect(supersedes(at('connected', 8, T0 + VERSION_RESET_GAP_MS - 1), lastBeforeReset)).to.equal(false);
  });

  it('ends on the newest event whatever order the events of several connections arrive in, with duplicates', () => {
    // Connections v=1..n, each a connect then a disconnect one second later, the last one still connected.
    const history = fc.integer({ min: 1, max: 6 }).chain((n) => {
      const events: PresenceRecord[] = [];
      for (let v = 1; v <= n; v++) {
        events.push(at('connected', v, T0 + v * 10_000));
        if (v < n) events.push(at('disconnected', v, T0 + v * 10_000 + 1000, 'CONNECTION_LOST'));
      }
      return fc.tuple(fc.constant(events[events.length - 1]), fc.shuffledSubarray([...events, ...events], { minLength: 2 * events.length }));
    });
    fc.assert(
      fc.property(history, ([newest, arrivals]) => {
        expect(settle(arrivals)).to.deep.equal(newest);
      }),
      { numRuns: 200 },
    );
  });
});
