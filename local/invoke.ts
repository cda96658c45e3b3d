/**
 * `npm run invoke -- <FunctionLogicalId> events/<file>.json`: one function, one
 * fixture, like `sam local invoke -e`, without Docker. The result JSON goes to
 * stdout; the function's logs and a REPORT line go to stderr.
 *
 * With `npm start` running, the function uses that stack's DynamoDB, gateway
 * and Lambda API (read from .local-stack.json), so an invoked
 * TelemetryFunction reaches the dashboards that are connected right now.
 * Otherwise it gets an embedded dynalite with the template's tables, for this
 * call only.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type DynamoService, ensureTables, startDynamo } from './dynamodb/dynamodb.js';
import { FunctionError, createFunctionHost } from './lambda/functionHost.js';
import { functionEnvironment } from './template/functionEnv.js';
import { createStackLogger, formatMs } from './stack/stackLog.js';
import { parameterOverridesFromArgs, parameterOverridesFromEnv } from './template/parameterOverrides.js';
import { buildStackModel } from './template/stackModel.js';
import { readStackState } from './stack/stateFile.js';

const USAGE = 'usage: npm run invoke -- <FunctionLogicalId> <event.json | -> [--timeout-ms N] [--parameter-overrides Name=value ...]';

class UsageError extends Error {}

const readEvent = (source: string): unknown => {
  const text = source === '-' ? readFileSync(0, 'utf8') : readFileSync(resolve(source), 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not JSON: ${(error as Error).message}`);
  }
};

const main = async (): Promise<number> => {
  const args = process.argv.slice(2);
  const parameterOverrides = { ...parameterOverridesFromEnv(), ...parameterOverridesFromArgs(args) };
  const timeoutIndex = args.indexOf('--timeout-ms');
  const timeoutMs = timeoutIndex >= 0 ? Number(args.splice(timeoutIndex, 2)[1]) : undefined;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new UsageError('--timeout-ms takes a positive number');
  const [functionArg, eventFile] = args;
  if (!functionArg || !eventFile || args.length > 2) throw new UsageError(USAGE);

  const model = buildStackModel({ parameterOverrides });
  const spec = model.functions.get(functionArg) ?? [...model.functions.values()].find((f) => f.name === functionArg);
  if (!spec) throw new UsageError(`no function ${JSON.stringify(functionArg)} in template.yaml; choose one of: ${[...model.functions.keys()].join(', ')}`);
  let event: unknown;
  try {
    event = readEvent(eventFile);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read ${eventFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }

  const logger = createStackLogger({ write: (line) => process.stderr.write(`${line}\n`), color: process.stderr.isTTY === true && !process.env.NO_COLOR, level: 'debug' });
  const running = readStackState();
  let dynamo: DynamoService | undefined;
  let endpoints;
  if (running) {
    logger.log('stack', 'info', `using the running stack (pid ${running.pid}): ${running.endpoints.dynamodb}, ${running.endpoints.management}`);
    const gateway = new URL(running.endpoints.management);
    endpoints = {
      dynamodb: running.endpoints.dynamodb,
      gatewayHttp: gateway.origin,
      gatewayWs: gateway.origin.replace(/^http/, 'ws'),
      lambda: running.endpoints.lambda,
    };
  } else {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    dynamo = await startDynamo();
    await ensureTables(dynamo.endpoint, model.tables);
    logger.log('stack', 'info', `no running stack (npm start): embedded DynamoDB at ${dynamo.endpoint} with empty tables; @connections calls will fail`);
    // Port 9 (discard) is closed on any sane machine: management calls fail fast with ECONNREFUSED.
    endpoints = { dynamodb: dynamo.endpoint, gatewayHttp: 'http://127.0.0.1:9', gatewayWs: 'ws://127.0.0.1:9' };
  }

  const host = createFunctionHost({
    spec,
    env: functionEnvironment({ spec, model, endpoints, auth: true, authSecret: running?.devSecret ?? process.env.AUTH_SECRET }),
    timeoutMs,
    onLog: (line, stream) => logger.handlerLine(spec.logicalId, line, stream),
  });
  try {
    const init = await host.start();
    try {
      const invocation = await host.invoke(event);
      logger.log('lambda', 'info', `REPORT ${spec.logicalId} RequestId: ${invocation.requestId} Duration: ${formatMs(invocation.durationMs)} Init: ${formatMs(init.initMs)}`);
      process.stdout.write(`${JSON.stringify(invocation.result, null, 2)}\n`);
      return 0;
    } catch (error) {
      if (!(error instanceof FunctionError)) throw error;
      logger.log('lambda', 'error', `${spec.logicalId} failed: ${error.errorType}: ${error.message}`);
      process.stdout.write(`${JSON.stringify(error.toJSON(), null, 2)}\n`);
      return 1;
    }
  } finally {
    await host.stop();
    await dynamo?.close();
  }
};

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`error: ${error.message}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
