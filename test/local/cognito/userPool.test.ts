/**
 * LOCAL_AUTH=oidc: the embedded OpenID Connect provider stands in for the
 * Cognito user pool. A real client (oauth4webapi) signs in with code + PKCE,
 * gets Cognito-shaped tokens, and the template's authorizer checks the access
 * token against the provider's JWKS exactly as it does on AWS.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { type TestStack, connectDevice, startTestStack } from '../../helpers/localStack.js';
import { claimsOf, refresh, signIn } from '../../helpers/oidcLogin.js';
import { type TestClient, connectClient, httpGet, upgradeStatus } from '../../helpers/wsClient.js';

describe('local stack: sign-in with the embedded OpenID Connect provider (LOCAL_AUTH=oidc)', function () {
  this.timeout(30_000);
  let stack: TestStack;
  let device: MqttClient;
  const clients: TestClient[] = [];
  const page = () => `http://localhost:${stack.ports.http}/`;
  const connect = async (token: string) => {
    const c = await connectClient(`${stack.urls.websocket}?token=${encodeURIComponent(token)}`);
    clients.push(c);
    return c;
  };

  before(async () => {
    stack = await startTestStack({
      localAuth: 'oidc',
      oidcUsers: [
        { username: 'dev', password: 'dev', groups: ['devices:*', 'publish'], name: 'Local developer' },
        { username: 'alice', password: 'wonderland', groups: ['devices:dev-1'], email: 'alice@example.com' },
      ],
    });
    device = await connectDevice(stack.urls.mqtt, 'oidc-test-device');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await device?.endAsync();
    await stack?.stop();
  });

  it('runs the template in cognito mode, and hands the page its sign-in settings in config.json instead of a token', async () => {
    expect(stack.model.parameters.AuthMode).to.equal('cognito');
    expect(stack.devToken).to.equal(undefined);
    const config = JSON.parse((await httpGet(`${page()}config.json`)).body);
    expect(config.token).to.equal(undefined);
    expect(config.auth).to.deep.include({ issuer: `http://localhost:${stack.ports.http}/oidc`, clientId: stack.oidc!.clientId, logout: 'oidc' });
    expect(config.auth.tokenEndpoint).to.equal(`http://localhost:${stack.ports.http}/oidc/token`);
  });

  it("issues the claims a Cognito pool issues: an access token for the client, an ID token with the user's name and groups", async () => {
    const session = await signIn(stack.oidc!, { username: 'dev', password: 'dev', redirectUri: page() });
    const access = claimsOf(session.accessToken);
    expect(access).to.include({ iss: stack.oidc!.issuer, token_use: 'access', client_id: stack.oidc!.clientId, username: 'dev', sub: 'local-dev' });
    expect(access['cognito:groups']).to.deep.equal(['devices:*', 'publish']);
    expect(access.exp).to.be.a('number');
    expect(session.claims).to.include({ iss: stack.oidc!.issuer, aud: stack.oidc!.clientId, token_use: 'id', 'cognito:username': 'dev', name: 'Local developer', sub: 'local-dev' });
    expect(session.claims['cognito:groups']).to.deep.equal(['devices:*', 'publish']);
    expect(session.refreshToken).to.be.a('string');
  });

  it('connects with the access token, and its groups scope what the connection may receive', async () => {
    const alice = await signIn(stack.oidc!, { username: 'alice', password: 'wonderland', redirectUri: page() });
    const client = await connect(alice.accessToken);
    expect((await client.request({ action: 'subscribe', devices: ['dev-2'] }, (f) => f.type === 'error')).code).to.equal('forbidden');
    const subscribed = await client.request({ action: 'subscribe', devices: ['dev-1'] }, (f) => f.type === 'subscribed');
    expect(subscribed.devices).to.deep.equal(['dev-1']);
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ ts: Date.now(), temperature: 20 }));
    expect((await client.next((f) => f.type === 'telemetry' || f.type === 'telemetry-batch', 10_000)).type).to.match(/^telemetry/);
  });

  it('refuses the ID token and a wrong password, and refreshes into a new access token that connects', async () => {
    const session = await signIn(stack.oidc!, { username: 'dev', password: 'dev', redirectUri: page() });
    expect((await upgradeStatus(`${stack.urls.websocket}?token=${encodeURIComponent(session.idToken)}`)).status).to.equal(401);
    try {
      await signIn(stack.oidc!, { username: 'dev', password: 'wrong', redirectUri: page() });
      expect.fail('a wrong password signed in');
    } catch (error) {
      expect((error as Error).message).to.equal('Incorrect username or password.');
    }
    const renewed = await refresh(stack.oidc!, session.refreshToken!);
    expect(renewed.access_token).to.not.equal(session.accessToken);
    expect(claimsOf(renewed.access_token)).to.include({ token_use: 'access', username: 'dev' });
    const client = await connect(renewed.access_token);
    expect((await client.request({ action: 'ping' }, (f) => f.type === 'pong')).type).to.equal('pong');
  });

  it('signs in from http://127.0.0.1:<PORT>/ as well as from http://localhost:<PORT>/', async () => {
    const session = await signIn(stack.oidc!, { username: 'dev', password: 'dev', redirectUri: `http://127.0.0.1:${stack.ports.http}/` });
    expect(claimsOf(session.accessToken).token_use).to.equal('access');
    const preflight = await fetch(stack.oidc!.endpoints.token, { method: 'OPTIONS', headers: { origin: `http://127.0.0.1:${stack.ports.http}`, 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).to.equal(`http://127.0.0.1:${stack.ports.http}`);
  });
});
