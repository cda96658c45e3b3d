/**
 * Lambda semantics of the local function host: each function in its own
 * worker thread with its own environment, a Lambda context, the template's
 * timeout, and a fresh sandbox after a crash or a timeout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { type FunctionHost, FunctionError, createFunctionHost } from '../../../local/lambda/functionHost.js';
import type { FunctionSpec } from '../../../local/template/stackModel.js';

/** The error an invocation fails with; a success fails the test. */
const failure = (invocation: Promise<unknown>): Promise<FunctionError> =>
  invocation.then(
    () => {
      throw new Error('expected the invocation to fail');
    },
    (error: FunctionError) => error,
  );

describe('local function host: Lambda semantics in worker threads', function () {
  this.timeout(15_000);
  let dir: string;
  const hosts: FunctionHost[] = [];

  const host = (source: string, { env = {}, timeoutMs, name = 'fn' }: { env?: Record<string, string>; timeoutMs?: number; name?: string } = {}) => {
    const file = join(dir, `${name}-${hosts.length}.mjs`);
    writeFileSync(file, source);
    const spec: FunctionSpec = {
      logicalId: `${name}Function`,
      name: `local-${name}`,
      arn: `arn:aws:lambda:us-east-1:000000000000:function:local-${name}`,
      codeUri: dir,
      entryFile: file,
      exportName: 'handler',
      timeoutSeconds: 3,
      memoryMb: 256,
      runtime: 'nodejs24.x',
      environment: {},
    };
    const lines: string[] = [];
    const created: FunctionHost & { lines: string[]; onLogLine?: (line: string) => void } = Object.assign(
      createFunctionHost({
        spec,
        env: { PATH: process.env.PATH ?? '', ...env },
        timeoutMs,
        onLog: (line) => {
          lines.push(line);
          created.onLogLine?.(line);
        },
      }),
      { lines },
    );
    hosts.push(created);
    return created;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'function-host-'));
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives each function its own environment, read at module load', async () => {
    const source = 'const table = process.env.TABLE_NAME; export const handler = async () => ({ table, all: Object.keys(process.env).includes("AWS_PROFILE") });';
    const a = host(source, { env: { TABLE_NAME: 'first' } });
    const b = host(source, { env: { TABLE_NAME: 'second' } });
    const [ra, rb] = await Promise.all([a.invoke({}), b.invoke({})]);
    expect(ra.result).to.deep.equal({ table: 'first', all: false });
    expect(rb.result).to.deep.equal({ table: 'second', all: false });
  });

  it('passes the event as JSON and a Lambda context with a deadline', async () => {
    const fn = host(
      'export const handler = async (event, context) => ({ event, id: context.awsRequestId, name: context.functionName, arn: context.invokedFunctionArn, memory: context.memoryLimitInMB, remaining: context.getRemainingTimeInMillis() });',
      { timeoutMs: 2000 },
    );
    const { result, requestId } = await fn.invoke({ when: new Date(0), n: 1 }, { requestId: 'req-1' });
    expect(requestId).to.equal('req-1');
    expect(result).to.deep.include({ event: { when: '1970-01-01T00:00:00.000Z', n: 1 }, id: 'req-1', name: 'local-fn', memory: '256' });
    expect((result as { remaining: number }).remaining).to.be.within(1000, 2000);
  });

  it('rejects with the thrown error as errorType and message', async () => {
    const fn = host('export const handler = async () => { const e = new Error("no table"); e.name = "ConfigError"; throw e; };');
    const error = await failure(fn.invoke({}));
    expect(error).to.be.instanceOf(FunctionError);
    expect(error).to.include({ errorType: 'ConfigError', message: 'no table' });
  });

  it('times out like Lambda, and serves the next invocation from a fresh sandbox', async () => {
    const fn = host('let calls = 0; export const handler = async (event) => { calls++; if (event.hang) await new Promise(() => {}); return calls; };', { timeoutMs: 300 });
    const error = await failure(fn.invoke({ hang: true }));
    const after = await fn.invoke({});
    expect(error).to.include({ errorType: 'Sandbox.Timedout' });
    expect(error.message).to.match(/Task timed out after 0\.30 seconds/);
    expect(after.result).to.equal(1); // a new module instance: its counter started again
  });

  it('counts an answer that came after the limit as a timeout, even when a busy host reads it before its timer', async () => {
    // The host is still busy with the function's log line when the late answer arrives, so it reads
    // the answer before its 20 ms timer can run (as a busy `npm run invoke` once did).
    const fn = host('export const handler = async () => { console.log("working"); const end = Date.now() + 40; while (Date.now() < end); return "late"; };', { timeoutMs: 20 });
    fn.onLogLine = () => {
      const end = Date.now() + 150;
      while (Date.now() < end);
    };
    const error = await failure(fn.invoke({}));
    expect(error).to.include({ errorType: 'Sandbox.Timedout' });
  });

  it('fails in-flight invocations with Runtime.ExitError when the runtime crashes, then cold-starts again', async () => {
    const fn = host('export const handler = async (event) => { if (event.crash) setTimeout(() => { throw new Error("uncaught"); }); await new Promise((r) => setTimeout(r, 200)); return "ok"; };');
    const error = await failure(fn.invoke({ crash: true }));
    expect(error).to.include({ errorType: 'Runtime.ExitError' });
    expect((await fn.invoke({})).result).to.equal('ok');
  });

  it('reports an init error at start and on every invocation, like a failed cold start', async () => {
    const fn = host('throw new Error("TABLE_NAME environment variable is not set");');
    const { initError } = await fn.start();
    const error = await failure(fn.invoke({}));
    expect(initError?.message).to.equal('TABLE_NAME environment variable is not set');
    expect(error.message).to.equal('TABLE_NAME environment variable is not set');
  });

  it('reports a module without the named export as Runtime.HandlerNotFound', async () => {
    const fn = host('export const other = () => 1;');
    const error = await failure(fn.invoke({}));
    expect(error).to.include({ errorType: 'Runtime.HandlerNotFound' });
  });

  it("hands the function's output to onLog one line at a time", async () => {
    const fn = host('export const handler = async () => { console.log("one\\ntwo"); console.error(JSON.stringify({ level: "WARN", message: "three" })); return null; };');
    await fn.invoke({});
    const deadline = Date.now() + 2000;
    while (fn.lines.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fn.lines).to.have.members(['one', 'two', '{"level":"WARN","message":"three"}']);
  });
});
