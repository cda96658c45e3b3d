/**
 * `npm start`'s sign-in as scripts see it: the ready line's `oidc=` pair and
 * the `sign in: user <name> password <password>` line, and LOCAL_AUTH's errors.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { runScript } from '../../helpers/childProcess.js';
import { claimsOf, signIn } from '../../helpers/oidcLogin.js';

const EPHEMERAL = { PORT: '0', WS_PORT: '0', MQTT_PORT: '0', SIMULATED_DEVICES: '0' };

describe('local stack: npm start with sign-in (LOCAL_AUTH=oidc, the default)', function () {
  this.timeout(90_000);

  it('prints oidc=<issuer> on the ready line and the development user on a line of its own, who can sign in', async () => {
    // Arrange: no LOCAL_AUTH at all, as a person runs it (runScript sets token for the other specs).
    const stateFile = join(tmpdir(), `local-stack-state-oidc-${process.pid}-${Date.now()}.json`);
    const start = runScript('local/main.ts', [], { ...EPHEMERAL, LOCAL_AUTH: '', LOCAL_STACK_STATE_FILE: stateFile });
    try {
      // Act
      // A loaded machine (the whole suite, other work) can take a while to load ten functions.
      const ready = await start.line(/^ready /, 60_000);
      const user = /^sign in: user (\S+) password (\S+)$/.exec(await start.line(/^sign in: user /))!;
      const urls = Object.fromEntries(ready.slice('ready '.length).split(' ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
      const config = (await (await fetch(`${urls.dashboard}config.json`)).json()) as { auth: { clientId: string; authorizationEndpoint: string; tokenEndpoint: string; revocationEndpoint: string; logoutEndpoint: string } };
      const session = await signIn(
        {
          issuer: urls.oidc!,
          clientId: config.auth.clientId,
          endpoints: { authorization: config.auth.authorizationEndpoint, token: config.auth.tokenEndpoint, revocation: config.auth.revocationEndpoint, endSession: config.auth.logoutEndpoint },
        },
        { username: user[1]!, password: user[2]!, redirectUri: urls.dashboard! },
      );

      // Assert
      expect(urls.oidc).to.match(/^http:\/\/localhost:\d+\/oidc$/);
      expect([user[1], user[2]]).to.deep.equal(['dev', 'dev']);
      expect(start.stdout.some((line) => line.startsWith('development token'))).to.equal(false);
      expect(claimsOf(session.accessToken)).to.include({ iss: urls.oidc, token_use: 'access', username: 'dev' });
      expect(start.stderr.join('\n')).to.equal('');
    } finally {
      await start.kill();
    }
  });

  it('refuses an unknown LOCAL_AUTH with one clear line', async () => {
    const start = runScript('local/main.ts', [], { ...EPHEMERAL, LOCAL_AUTH: 'cognito' });
    const { code } = await start.exited;
    expect(code).to.equal(1);
    expect(start.stderr.join('\n')).to.include('LOCAL_AUTH must be oidc (sign in, the default) or token (a development token), got "cognito"');
  });
});
