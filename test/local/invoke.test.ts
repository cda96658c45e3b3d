/** `npm run invoke -- <FunctionLogicalId> events/<file>.json`, like `sam local invoke`, without Docker. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { writeStackState } from '../../local/stack/stateFile.js';
import { runScript } from '../helpers/childProcess.js';
import { startTestStack } from '../helpers/localStack.js';
import { connectClient } from '../helpers/wsClient.js';

// No running stack is visible to these runs: each gets its own embedded dynalite.
const env = { LOCAL_STACK_STATE_FILE: join(tmpdir(), `no-stack-${process.pid}.json`) };

describe('local invoke (npm run invoke)', function () {
  this.timeout(90_000);

  it('invokes a function with a fixture and prints its result as JSON on stdout', async () => {
    const run = runScript('local/invoke.ts', ['TelemetryFunction', 'events/telemetry.json'], env);
    const { code } = await run.exited;
    expect(code, run.stderr.join('\n')).to.equal(0);
    expect(JSON.parse(run.stdout.join('\n'))).to.include({ status: 'delivered', deviceId: 'dev-1', recipients: 0 });
    expect(run.stderr.join('\n')).to.match(/REPORT TelemetryFunction RequestId: \S+ Duration/);
  });

  it("prints a function's error payload and exits 1 when the invocation fails (here: the timeout)", async () => {
    const run = runScript('local/invoke.ts', ['TelemetryFunction', 'events/telemetry.json', '--timeout-ms', '1'], env);
    const { code } = await run.exited;
    expect(code).to.equal(1);
    expect(JSON.parse(run.stdout.join('\n'))).to.include({ errorType: 'Sandbox.Timedout' });
  });

  it('names the functions it knows when given an unknown one, and exits 2', async () => {
    const run = runScript('local/invoke.ts', ['NoSuchFunction', 'events/telemetry.json'], env);
    const { code } = await run.exited;
    expect(code).to.equal(2);
    expect(run.stderr.join('\n')).to.match(/no function "NoSuchFunction" in template.yaml; choose one of: .*TelemetryFunction/);
  });

  it('uses the running stack named in the state file, so an invoked TelemetryFunction reaches connected clients', async () => {
    // Arrange
    const stack = await startTestStack({ auth: false });
    const stateFile = join(tmpdir(), `running-stack-${process.pid}.json`);
    try {
      writeStackState({ pid: process.pid, startedAt: new Date().toISOString(), urls: stack.urls, endpoints: stack.endpoints, tableName: stack.tableName, tables: stack.tables }, stateFile);
      const client = await connectClient(`${stack.urls.websocket}?devices=dev-1`);

      // Act
      const run = runScript('local/invoke.ts', ['TelemetryFunction', 'events/telemetry.json'], { LOCAL_STACK_STATE_FILE: stateFile });
      const { code } = await run.exited;

      // Assert
      expect(code, run.stderr.join('\n')).to.equal(0);
      expect(JSON.parse(run.stdout.join('\n'))).to.include({ recipients: 1, delivered: 1 });
      expect((await client.next((f) => f.type === 'telemetry')).deviceId).to.equal('dev-1');
      await client.close();
    } finally {
      rmSync(stateFile, { force: true });
      await stack.stop();
    }
  });
});
