/**
 * The dashboard's sign-in module against the real local provider (oidc-provider
 * on 127.0.0.1, standing in for a Cognito pool): code + PKCE, what is kept
 * where, renewal, and sign-out. The login form is filled over HTTP.
 */
import { type Server, createServer } from 'node:http';
import { expect } from 'chai';
import {
  SignIn,
  describeRefreshError,
  displayName,
  isCallback,
  parseSignInConfig,
  redirectUriOf,
  renewalDelayMs,
  withoutCallbackParams,
} from '../../dashboard/src/signIn.js';
import { type LocalUserPool, createLocalUserPool } from '../../local/cognito/userPool.js';
import { claimsOf, submitLoginForm } from '../helpers/oidcLogin.js';

class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
}

describe('dashboard sign-in (oauth4webapi against the local OpenID Connect provider)', function () {
  this.timeout(20_000);
  let server: Server;
  let pool: LocalUserPool;
  let page: string;
  let storage: MemoryStorage;
  let signIn: SignIn;

  before(async () => {
    server = createServer((req, res) => {
      if (!pool?.handle(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    page = `http://127.0.0.1:${port}/`;
    pool = await createLocalUserPool({
      issuer: `http://127.0.0.1:${port}/oidc`,
      redirectUris: [page],
      users: [{ username: 'dev', password: 'dev', groups: ['devices:*'], name: 'Dev Eloper' }],
      accessTokenTtlSeconds: 20,
    });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  beforeEach(() => {
    storage = new MemoryStorage();
    signIn = new SignIn(
      {
        issuer: pool.issuer,
        clientId: pool.clientId,
        authorizationEndpoint: pool.endpoints.authorization,
        tokenEndpoint: pool.endpoints.token,
        revocationEndpoint: pool.endpoints.revocation,
        logoutEndpoint: pool.endpoints.endSession,
        logout: 'oidc',
      },
      storage,
    );
  });

  const signedIn = async (from = `${page}?devices=dev-1`) => {
    const landed = await submitLoginForm(await signIn.begin(from), { username: 'dev', password: 'dev', redirectUri: page });
    return { landed, ...(await signIn.complete(landed.toString())) };
  };

  it('signs in with code + PKCE: the access token for the API, the ID token for the name, and only the refresh token in storage', async () => {
    const authorize = new URL(await signIn.begin(`${page}?devices=dev-1`));
    expect(authorize.searchParams.get('code_challenge_method')).to.equal('S256');
    expect(authorize.searchParams.get('redirect_uri')).to.equal(page);
    expect(authorize.searchParams.has('client_secret')).to.equal(false);

    const { landed, session, returnTo } = await signedIn();

    expect(isCallback(landed.toString())).to.equal(true);
    expect(returnTo).to.equal(`${page}?devices=dev-1`);
    expect(claimsOf(session.accessToken)).to.include({ token_use: 'access', client_id: pool.clientId });
    expect(displayName(session.claims)).to.equal('Dev Eloper');
    expect(session.lifetimeMs).to.equal(20_000);
    expect([...storage.items.keys()]).to.deep.equal(['iot-dashboard.refresh-token']);
    expect(storage.items.get('iot-dashboard.refresh-token')).to.equal(session.refreshToken);
    for (const value of storage.items.values()) {
      expect(value).to.not.include(session.accessToken);
      expect(value).to.not.include(session.idToken!);
    }
  });

  it('refuses a callback whose state it did not issue', async () => {
    await signIn.begin(page);
    const forged = `${page}?code=abc&state=not-mine&iss=${encodeURIComponent(pool.issuer)}`;
    try {
      await signIn.complete(forged);
      expect.fail('a forged state was accepted');
    } catch (error) {
      expect((error as Error).message).to.match(/^sign-in failed/);
    }
  });

  it('renews with the refresh token, and a reload resumes from the one kept in this tab', async () => {
    const { session } = await signedIn();
    const renewed = await signIn.refresh(session);
    expect(renewed.accessToken).to.not.equal(session.accessToken);
    expect(displayName(renewed.claims)).to.equal('Dev Eloper');

    const afterReload = new SignIn(signIn.config, storage);
    const resumed = await afterReload.resume();
    expect(resumed && claimsOf(resumed.accessToken).token_use).to.equal('access');
  });

  it('signs out: revokes the refresh token (a renewal then fails with a clear reason), forgets it, and returns the provider logout URL', async () => {
    const { session } = await signedIn();

    const logout = new URL((await signIn.signOut(session, `${page}?devices=dev-1`))!);

    expect(`${logout.origin}${logout.pathname}`).to.equal(pool.endpoints.endSession);
    expect(logout.searchParams.get('post_logout_redirect_uri')).to.equal(page);
    expect(logout.searchParams.get('client_id')).to.equal(pool.clientId);
    expect(storage.items.size).to.equal(0);
    try {
      await signIn.refresh(session);
      expect.fail('a revoked refresh token renewed');
    } catch (error) {
      expect(describeRefreshError(error)).to.equal('your session has ended or was revoked');
    }
  });

  it("builds Cognito's /logout URL (client_id and logout_uri) for a Cognito pool", async () => {
    const cognito = new SignIn(
      {
        issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc',
        clientId: 'client-1',
        authorizationEndpoint: 'https://acme.auth.eu-west-1.amazoncognito.com/oauth2/authorize',
        tokenEndpoint: 'https://acme.auth.eu-west-1.amazoncognito.com/oauth2/token',
        logoutEndpoint: 'https://acme.auth.eu-west-1.amazoncognito.com/logout',
        logout: 'cognito',
      },
      new MemoryStorage(),
    );
    expect(await cognito.signOut(undefined, 'https://d111.cloudfront.net/?devices=a')).to.equal(
      'https://acme.auth.eu-west-1.amazoncognito.com/logout?client_id=client-1&logout_uri=https%3A%2F%2Fd111.cloudfront.net%2F',
    );
  });
});

describe('dashboard sign-in helpers', () => {
  it('reads config.json auth leniently: all four required fields, or nothing', () => {
    const full = { issuer: 'https://i', clientId: 'c', authorizationEndpoint: 'https://i/a', tokenEndpoint: 'https://i/t', logout: 'cognito', extra: 1 };
    expect(parseSignInConfig(full)).to.deep.equal({ issuer: 'https://i', clientId: 'c', authorizationEndpoint: 'https://i/a', tokenEndpoint: 'https://i/t', logout: 'cognito' });
    expect(parseSignInConfig({ ...full, tokenEndpoint: 42 })).to.equal(undefined);
    expect(parseSignInConfig('yes')).to.equal(undefined);
  });

  it('removes code, state and iss from the address, and keeps the rest', () => {
    expect(withoutCallbackParams('http://localhost:3000/?devices=a&code=x&state=y&iss=z#top')).to.equal('http://localhost:3000/?devices=a#top');
    expect(redirectUriOf('http://127.0.0.1:3000/index.html?code=x')).to.equal('http://127.0.0.1:3000/index.html');
    expect(isCallback('http://localhost:3000/?devices=a')).to.equal(false);
    expect(isCallback('http://localhost:3000/?error=access_denied&state=s')).to.equal(true);
  });

  it('renews a minute before expiry, or at three quarters of a short lifetime', () => {
    const now = 1_000_000;
    expect(renewalDelayMs({ expiresAt: now + 3_600_000, lifetimeMs: 3_600_000 }, now)).to.equal(3_540_000);
    expect(renewalDelayMs({ expiresAt: now + 20_000, lifetimeMs: 20_000 }, now)).to.equal(15_000);
    expect(renewalDelayMs({ expiresAt: now - 5000, lifetimeMs: 20_000 }, now)).to.equal(1000);
  });
});
