/**
 * `npm start` as a user sees it: local/main.ts as a child process, its
 * console output, a port clash, and Ctrl-C.
 */
import { existsSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { runScript } from '../helpers/childProcess.js';
import { connectClient } from '../helpers/wsClient.js';

const EPHEMERAL = { PORT: '0', WS_PORT: '0', MQTT_PORT: '0' };

describe('local stack: npm start (local/main.ts)', function () {
  this.timeout(120_000);

  it('prints one ready line with every URL and the dev token, serves simulated telemetry, and stops cleanly on SIGINT', async () => {
    // Arrange
    const stateFile = join(tmpdir(), `local-stack-state-${process.pid}-${Date.now()}.json`);
    const start = runScript('local/main.ts', [], { ...EPHEMERAL, SIMULATED_DEVICES: '1', LOCAL_STACK_STATE_FILE: stateFile });
    try {
      const ready = await start.line(/^ready /);
      const urls = Object.fromEntries(ready.slice('ready '.length).split(' ').map((pair) => pair.split('=') as [string, string]));
      const token = (await start.line(/^development token/)).split(': ').pop()!;
      const hint = await start.line(/wscat -c "ws:\/\/localhost:\d+\?token=/);
      const state = JSON.parse(readFileSync(stateFile, 'utf8'));
      const client = await connectClient(`${urls.websocket}?token=${token}`);
      const telemetry = await client.next((f) => f.type === 'telemetry', 10_000);

      // Act
      start.child.kill('SIGINT');
      const [{ code }, closed] = await Promise.all([start.exited, client.closed]);

      // Assert
      expect(start.stdout.filter((line) => line.startsWith('ready'))).to.have.length(1);
      expect(Object.keys(urls)).to.deep.equal(['dashboard', 'websocket', 'management', 'mqtt', 'mqtt-ws', 'dynamodb', 'table']);
      expect(urls.dynamodb).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(urls.management).to.match(/^http:\/\/localhost:\d+\/production$/);
      expect(hint).to.include(token);
      expect(state).to.include({ pid: start.child.pid, tableName: 'ConnectionsTable' });
      expect(telemetry.deviceId).to.equal('sim-1');
      expect(closed.code).to.equal(1001);
      expect(code).to.equal(0);
      expect(existsSync(stateFile)).to.equal(false);
      expect(start.stderr.join('\n')).to.equal('');
    } finally {
      await start.kill();
    }
  });

  it('names the busy port and its variable, exits 1, and prints no stack trace', async () => {
    // Arrange
    const blocker: Server = createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
    try {
      // Act
      const start = runScript('local/main.ts', [], { ...EPHEMERAL, WS_PORT: String(port), AUTH: 'off', SIMULATED_DEVICES: '0' });
      const { code } = await start.exited;

      // Assert
      expect(code).to.equal(1);
      expect(start.stderr.filter(Boolean)).to.deep.equal([
        `error: port ${port} (WebSocket API) is already in use: stop what is using it, or choose another port with WS_PORT, e.g. WS_PORT=${port + 10} npm start`,
      ]);
      expect(start.stdout.join('\n')).to.match(/AUTH=off/);
      expect(start.stdout.join('\n')).not.to.match(/^\s+at /m);
    } finally {
      blocker.close();
    }
  });

  it('rejects a malformed port variable with a one-line error', async () => {
    const start = runScript('local/main.ts', [], { ...EPHEMERAL, PORT: 'eighty' });
    const { code } = await start.exited;
    expect(code).to.equal(1);
    expect(start.stderr.filter(Boolean)).to.deep.equal(['error: PORT must be a port number (0-65535), got "eighty"']);
  });

  it('rejects a PARAM_ variable that names no template parameter, listing the ones there are', async () => {
    const start = runScript('local/main.ts', [], { ...EPHEMERAL, PARAM_FanoutShardSise: '500' });
    const { code } = await start.exited;
    expect(code).to.equal(1);
    expect(start.stderr.filter(Boolean)).to.have.length(1);
    expect(start.stderr[0]).to.match(/^error: PARAM_FanoutShardSise: template.yaml has no parameter FanoutShardSise; it has .*FanoutShardSize/);
  });
});
