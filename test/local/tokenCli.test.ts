/** `npm run token`: a token for every device is never the default. */
import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { runScript } from '../helpers/childProcess.js';

const SECRET = 'a-local-secret-for-the-token-cli-spec';
const run = async (args: string[]) => {
  const script = runScript('scripts/token.ts', args, { LOCAL_AUTH_SECRET: SECRET });
  const { code } = await script.exited;
  return { code, stdout: script.stdout.join('\n'), stderr: script.stderr.join('\n') };
};

describe('npm run token', function () {
  this.timeout(30_000);

  it('refuses to sign without --devices, and says how to ask for one device or for every device', async () => {
    const { code, stdout, stderr } = await run(['--sub', 'alice']);

    expect(code).to.equal(1);
    expect(stdout.trim()).to.equal('');
    expect(stderr).to.include('--devices is required');
    expect(stderr).to.include("--devices '*'");
  });

  it('signs a 51-device token (the scope limit, not the per-frame limit, applies)', async () => {
    const devices = Array.from({ length: 51 }, (_, i) => `dev-${i + 1}`);

    const { code, stdout } = await run(['--sub', 'ops', '--devices', devices.join(','), '--ttl', '5m']);

    expect(code).to.equal(0);
    expect(decodeJwt(stdout.trim()).devices).to.deep.equal(devices);
  });
});
