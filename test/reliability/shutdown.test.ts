/**
 * Ctrl-C on `npm start`, as a user does it: local/main.ts as a child process,
 * SIGINT. test/local/main.test.ts already checks that one client is closed
 * with 1001 and the process exits 0; this spec checks what a stop owes every
 * connection: a 1001 close, its own $disconnect, and an empty table after.
 * The stack runs on a DynamoDB this test owns (DYNAMODB_ENDPOINT), so the
 * table can still be read once the process is gone.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { runScript } from '../helpers/childProcess.js';
import { type TestDynamo, startDynamo } from '../helpers/dynamo.js';
import { type TestClient, connectClient } from '../helpers/wsClient.js';
import { waitFor } from '../helpers/waitFor.js';
import { range, readTable } from './support.js';

const CLIENTS = 6;

describe('reliability: graceful shutdown of npm start (SIGINT)', function () {
  this.timeout(60_000);
  let dynamo: TestDynamo;

  before(async () => {
    dynamo = await startDynamo();
  });
  after(async () => {
    await dynamo?.stop();
  });

  it(`closes all ${CLIENTS} clients with 1001, fires $disconnect for each, and leaves the table empty`, async () => {
    // Arrange
    const start = runScript('local/main.ts', [], {
      PORT: '0',
      WS_PORT: '0',
      MQTT_PORT: '0',
      SIMULATED_DEVICES: '0',
      // A line per invocation: this spec reads each $disconnect's.
      LOG: 'verbose',
      DYNAMODB_ENDPOINT: dynamo.endpoint,
      LOCAL_STACK_STATE_FILE: join(tmpdir(), `shutdown-state-${process.pid}-${Date.now()}.json`),
    });
    const clients: TestClient[] = [];
    try {
      const ready = await start.line(/^ready /, 30_000);
      const urls = Object.fromEntries(ready.slice('ready '.length).split(' ').map((pair) => pair.split('=') as [string, string]));
      const token = (await start.line(/^development token/)).split(': ').pop()!;
      expect(urls.dynamodb, 'the ready line names the DynamoDB in use').to.equal(dynamo.endpoint);
      clients.push(...(await Promise.all(range(CLIENTS).map((i) => connectClient(`${urls.websocket}?token=${token}&devices=dev-${i},dev-all`)))));
      const stored = await waitFor(
        async () => {
          const table = await readTable(urls.dynamodb!, urls.table!);
          return table.connections.size === CLIENTS && table.subscriptions.length === 2 * CLIENTS ? table : undefined;
        },
        { message: 'every connection stored with its subscriptions', timeoutMs: 10_000 },
      );
      const ids = [...stored.connections.keys()];

      // Act
      start.child.kill('SIGINT');
      const [{ code, signal }, closes] = await Promise.all([start.exited, Promise.all(clients.map((c) => c.closed))]);

      // Assert
      expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
      expect(closes.map((c) => c.code)).to.deep.equal(range(CLIENTS).map(() => 1001));
      for (const id of ids) {
        const line = start.stdout.find((l) => l.includes(`$disconnect  ${id} 1001`));
        expect(line, `$disconnect for ${id}`).to.match(/→ DisconnectFunction ok/);
      }
      const after = await readTable(urls.dynamodb!, urls.table!);
      expect({ connections: after.connections.size, subscriptions: after.subscriptions.length, other: after.other.length }).to.deep.equal({ connections: 0, subscriptions: 0, other: 0 });
      expect(start.stderr.join('\n')).to.equal('');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await start.kill();
    }
  });
});
