import { expect } from 'chai';
import * as oauth from 'oauth4webapi';
import sinon from 'sinon';
import { SessionKeeper } from '../../dashboard/src/sessionKeeper.js';
import type { Session } from '../../dashboard/src/signIn.js';

const session = (n: number, now: number, lifetimeMs = 20_000): Session => ({ accessToken: `access-${n}`, refreshToken: 'r', expiresAt: now + lifetimeMs, lifetimeMs, claims: {} });

describe('dashboard session keeper (token renewal)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => clock.restore());

  it('renews at three quarters of a 20 s token, hands over each new session, and keeps going', async () => {
    let n = 0;
    const renewed: string[] = [];
    const keeper = new SessionKeeper({
      session: session(0, Date.now()),
      renewer: { refresh: async () => session(++n, Date.now()) },
      onRenewed: (s) => renewed.push(s.accessToken),
      onEnded: () => expect.fail('ended'),
    });
    keeper.start();

    await clock.tickAsync(14_999);
    expect(renewed).to.deep.equal([]);
    await clock.tickAsync(1);
    expect(renewed).to.deep.equal(['access-1']);
    await clock.tickAsync(15_000);
    expect(renewed).to.deep.equal(['access-1', 'access-2']);
    expect(keeper.current.accessToken).to.equal('access-2');
  });

  it('ends the session with a clear message when the refresh is refused (revoked or expired)', async () => {
    const ended: string[] = [];
    const refused = new oauth.ResponseBodyError('refused', { cause: { error: 'invalid_grant' }, response: new Response('{}', { status: 400 }) });
    const keeper = new SessionKeeper({ session: session(0, Date.now()), renewer: { refresh: async () => Promise.reject(refused) }, onRenewed: () => undefined, onEnded: (m) => ended.push(m) });
    keeper.start();

    await clock.tickAsync(15_000);

    expect(ended).to.deep.equal(['You are signed out: your session has ended or was revoked. Sign in again.']);
  });

  it('retries an unreachable provider while the token lasts, then gives up', async () => {
    const ended: string[] = [];
    const attempts: number[] = [];
    const keeper = new SessionKeeper({
      session: session(0, Date.now()),
      renewer: { refresh: async () => (attempts.push(Date.now()), Promise.reject(new TypeError('Failed to fetch'))) },
      onRenewed: () => undefined,
      onEnded: (m) => ended.push(m),
      retryMs: 2000,
    });
    keeper.start();

    await clock.tickAsync(25_000);

    expect(attempts.map((t) => t - 1_000_000)).to.deep.equal([15_000, 17_000, 19_000]);
    expect(ended).to.deep.equal(['You are signed out: the sign-in service could not be reached. Sign in again.']);
  });

  it('does nothing more once stopped (signed out)', async () => {
    const refresh = sinon.spy(async () => session(1, Date.now()));
    const keeper = new SessionKeeper({ session: session(0, Date.now()), renewer: { refresh }, onRenewed: () => undefined, onEnded: () => undefined });
    keeper.start();
    keeper.stop();
    await clock.tickAsync(60_000);
    expect(refresh.callCount).to.equal(0);
  });
});
