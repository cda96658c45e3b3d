import { expect } from 'chai';
import { DEFAULT_STALE_MS, DEFAULT_WINDOW_MS, addressWithoutToken, connectUrl, parseDuration, parseFileConfig, resolveConfig, tokenScope } from '../../dashboard/src/config.js';

const API = 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod';

/** An unsigned JWT with the given claims: the page never verifies, the server does. */
const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

const resolved = (query: string, file?: Parameters<typeof resolveConfig>[1]) => {
  const result = resolveConfig(query, file);
  if (!result.ok) throw new Error(`expected a config, got: ${result.error}`);
  return result.config;
};

describe('dashboard config resolution (query string vs config.json)', () => {
  it('takes the url from config.json when the query names none', () => {
    const config = resolved('', { url: API });

    expect(config).to.deep.include({ url: API, source: 'config.json', staleMs: DEFAULT_STALE_MS, windowMs: DEFAULT_WINDOW_MS });
    expect(config.token).to.equal(undefined);
  });

  it('prefers ?url= and ?token= over config.json', () => {
    const config = resolved(`?url=${encodeURIComponent('ws://127.0.0.1:3001')}&token=from-query`, { url: API, token: 'from-file' });

    expect(config).to.deep.include({ url: 'ws://127.0.0.1:3001/', token: 'from-query', source: 'query' });
  });

  it("uses config.json's token when ?url= names the same endpoint", () => {
    const config = resolved(`?url=${encodeURIComponent(`${API}/`)}`, { url: API, token: 'dev-token' });

    expect(config.token).to.equal('dev-token');
  });

  it("never sends config.json's token to a different endpoint named in ?url=", () => {
    const config = resolved('?url=wss://elsewhere.example.com/prod', { url: API, token: 'dev-token' });

    expect(config.token).to.equal(undefined);
  });

  it('explains what to do when no url is known', () => {
    const result = resolveConfig('', undefined);

    expect(result.ok).to.equal(false);
    expect(!result.ok && result.error).to.match(/\?url=wss:\/\/.*config\.json/);
  });

  it('refuses a url that is not ws:// or wss://', () => {
    const result = resolveConfig('?url=https://example.com', undefined);

    expect(!result.ok && result.error).to.match(/must start with ws:\/\/ or wss:\/\//);
  });

  it('moves a token embedded in the url out of it, so the url can be shown', () => {
    const config = resolved(`?url=${encodeURIComponent(`${API}?token=abc`)}`, undefined);

    expect(config.url).to.equal(API);
    expect(config.token).to.equal('abc');
  });

  it('reads ?stale= in seconds or with a unit, and ?window=', () => {
    expect(resolved('?stale=10', { url: API }).staleMs).to.equal(10_000);
    expect(resolved('?stale=1.5m&window=60s', { url: API })).to.deep.include({ staleMs: 90_000, windowMs: 60_000 });
    expect(resolved('?stale=nonsense', { url: API, staleSeconds: 5 }).staleMs).to.equal(5_000);
  });

  it('reads ?devices= as a de-duplicated list, and "*" as every device', () => {
    expect(resolved('?devices=dev-1,dev-2,dev-1', { url: API }).devices).to.deep.equal(['dev-1', 'dev-2']);
    expect(resolved('?devices=*', { url: API }).devices).to.equal(undefined);
  });

  it('ignores unusable fields in config.json instead of failing', () => {
    expect(parseFileConfig({ url: 42, token: '', staleSeconds: -1, extra: true })).to.deep.equal({});
    expect(parseFileConfig('not an object')).to.deep.equal({});
    expect(parseFileConfig({ url: ` ${API} `, token: 't', staleSeconds: 45 })).to.deep.equal({ url: API, token: 't', staleSeconds: 45 });
  });

  it('parses durations and rejects what it cannot read', () => {
    expect(parseDuration('500ms')).to.equal(500);
    expect(parseDuration('2h')).to.equal(7_200_000);
    expect(parseDuration('0')).to.equal(undefined);
    expect(parseDuration('-3')).to.equal(undefined);
    expect(parseDuration(null)).to.equal(undefined);
  });
});

describe('dashboard connect url', () => {
  it('adds the token and the devices to subscribe on connect', () => {
    const url = new URL(connectUrl(API, { token: 'a.b.c', devices: ['dev-1', 'dev-2'] }));

    expect(url.origin + url.pathname).to.equal(API);
    expect(url.searchParams.get('token')).to.equal('a.b.c');
    expect(url.searchParams.get('devices')).to.equal('dev-1,dev-2');
  });

  it('names no devices when it should receive everything the token covers', () => {
    expect(connectUrl('ws://127.0.0.1:3001', {})).to.equal('ws://127.0.0.1:3001/');
  });
});

describe("dashboard token scope (the JWT's devices claim, unverified)", () => {
  it('reads a device list', () => {
    expect(tokenScope(jwt({ sub: 'ana', devices: ['dev-1', 'dev-2'] }))).to.deep.equal(['dev-1', 'dev-2']);
  });

  it('reads "*" as every device, and no token as the anonymous principal (every device)', () => {
    expect(tokenScope(jwt({ devices: '*' }))).to.equal('*');
    expect(tokenScope(undefined)).to.equal('*');
  });

  it('gives up on a token it cannot read', () => {
    expect(tokenScope('opaque-token')).to.equal(undefined);
    expect(tokenScope('a.!!!.c')).to.equal(undefined);
    expect(tokenScope(jwt({ devices: 3 }))).to.equal(undefined);
  });

  it('decodes non-ASCII claims', () => {
    expect(tokenScope(jwt({ devices: ['capteur-é'] }))).to.deep.equal(['capteur-é']);
  });
});

describe('dashboard address without its token', () => {
  it('drops ?token= and a token inside ?url=, keeping everything else', () => {
    const cleaned = addressWithoutToken('https://dash.example/?url=wss%3A%2F%2Fapi.example%2Fprod%3Ftoken%3Dinner&token=outer&window=5m');

    const url = new URL(cleaned!);
    expect(url.searchParams.get('token')).to.equal(null);
    expect(url.searchParams.get('url')).to.equal('wss://api.example/prod');
    expect(url.searchParams.get('window')).to.equal('5m');
    expect(cleaned).to.not.match(/inner|outer/);
  });

  it('leaves an address without a token alone', () => {
    expect(addressWithoutToken('https://dash.example/?url=wss%3A%2F%2Fapi.example%2Fprod&window=5m')).to.equal(undefined);
  });
});

describe('dashboard config: sign-in', () => {
  const auth = { issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc', clientId: 'c1', authorizationEndpoint: 'https://a/oauth2/authorize', tokenEndpoint: 'https://a/oauth2/token', logout: 'cognito' };
  const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;

  it("signs in with config.json's provider when no token is given", () => {
    const result = resolveConfig('', parseFileConfig({ url: API, auth }));
    expect(result.ok && result.config.auth?.clientId).to.equal('c1');
    expect(result.ok && result.config.token).to.equal(undefined);
  });

  it('lets ?token= win over sign-in (scripts, kiosks, AuthMode=secret)', () => {
    const result = resolveConfig('token=abc', parseFileConfig({ url: API, auth }));
    expect(result.ok && result.config).to.deep.include({ token: 'abc' });
    expect(result.ok && result.config.auth).to.equal(undefined);
  });

  it("never signs in to config.json's provider for another endpoint named in ?url=", () => {
    const result = resolveConfig('url=wss://other.example.com/prod', parseFileConfig({ url: API, auth }));
    expect(result.ok && result.config.auth).to.equal(undefined);
  });

  it("reads a Cognito access token's scope from its devices: groups", () => {
    expect(tokenScope(jwt({ token_use: 'access', 'cognito:groups': ['devices:dev-1', 'publish', 'devices:dev-2'] }))).to.deep.equal(['dev-1', 'dev-2']);
    expect(tokenScope(jwt({ 'cognito:groups': ['devices:*'] }))).to.equal('*');
    expect(tokenScope(jwt({ 'cognito:groups': ['publish'] }))).to.deep.equal([]);
  });
});
