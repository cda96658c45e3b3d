/**
 * The embedded local stack: everything template.yaml deploys, on one machine.
 *
 *   startStack() → DynamoDB (dynalite or DYNAMODB_ENDPOINT) with the template's tables
 *                → the WebSocket gateway + @connections API   (WS_PORT)
 *                → the dashboard's HTTP server + MQTT over WS  (PORT)
 *                → the MQTT broker + topic-rule engine         (MQTT_PORT)
 *                → the Lambda Invoke API (ephemeral port, LAMBDA_ENDPOINT for the functions)
 *                → SQS (ephemeral port) with the template's queues: OnFailure destinations land there
 *                → one worker thread per function, with its template environment
 *                → simulated devices
 *
 * `npm start` (local/main.ts), the tests, the dashboard's browser test and the
 * benchmarks all start it through here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { createPutBatcher } from '../dynamodb/putBatcher.js';
import { createDevicesStore, createHistoryWriter } from '@serverless-iot-dashboard/shared';
import { join } from 'node:path';
import { PROJECT_ROOT, type Template, readTemplate } from '../../scripts/template.js';
import { type Simulator, startSimulator } from '../../simulator/simulator.js';
import { type AsyncJob, type AsyncOutcome, DEFAULT_ASYNC_RETRY_DELAYS_MS, createAsyncInvoker } from '../lambda/asyncInvoke.js';
import { type Scheduler, startScheduler } from '../eventbridge/scheduler.js';
import { type DevAuth, createDevAuth } from '../secretsmanager/devAuth.js';
import { type LocalUser, type LocalUserPool, MOUNT_PATH, createLocalUserPool } from '../cognito/userPool.js';
import { type SqsEventSourceMapping, startSqsEventSourceMapping } from '../lambda/eventSourceMapping.js';
import type { Sqs } from '../sqs/queue.js';
import { type DynamoService, dynamoClient, ensureTables, startDynamo } from '../dynamodb/dynamodb.js';
import {
  type DynamoFaultProxy,
  type FaultInjector,
  type FaultRule,
  FaultSpecError,
  createFaultInjector,
  describeFaults,
  drawInvokeFault,
  managementHook,
  parseFaults,
  parseFaultSeed,
  startDynamoFaultProxy,
} from './faults.js';
import { authorizerFunctionIds, functionEnvironment } from '../template/functionEnv.js';
import { type FunctionHost, createFunctionHost } from '../lambda/functionHost.js';
import { type ConnectionInfo, type Gateway, type GatewayHooks, type GatewayLimits, createGateway } from '../apigateway/gateway.js';
import { type IotCore, type IotStats, startIotCore } from '../iot/iotCore.js';
import { type LambdaApi, createLambdaApi } from '../lambda/lambdaApi.js';
import { invocationRecord } from '../lambda/destinations.js';
import { type SqsApi, startSqsApi } from '../sqs/sqsApi.js';
import { type SnsApi, notifyLine, startSnsApi } from '../sns/snsApi.js';
import { listenOn } from './ports.js';
import { type Level, type LogMode, type StackLogger, createStackLogger, formatMs } from './stackLog.js';
import { type FunctionSpec, type StackModel, buildStackModel } from '../template/stackModel.js';
import { networkInterfaces } from 'node:os';
import { LOOPBACK_HOSTNAMES, type WebServer, createWebServer, hostnameOf } from '../cloudfront/webServer.js';

export interface StackOptions {
  /** Dashboard HTTP (and MQTT over WebSocket on /mqtt). 0 = ephemeral. Default 3000. */
  port?: number;
  /** WebSocket API and @connections management API. 0 = ephemeral. Default 3001. */
  wsPort?: number;
  /** MQTT over TCP. 0 = ephemeral. Default 1883. */
  mqttPort?: number;
  /** Run the $connect authorizer (default true). */
  auth?: boolean;
  /**
   * How people authenticate (LOCAL_AUTH): `token` (default here) signs a development token with the stack's
   * secret, as AuthMode=secret; `oidc` (`npm start`'s default) runs the template with AuthMode=cognito against
   * an embedded OpenID Connect provider standing in for the user pool, mounted on the dashboard port at /oidc.
   */
  localAuth?: 'token' | 'oidc';
  /** LOCAL_AUTH=oidc: the people who may sign in (default: the development user dev / dev, scope *). */
  oidcUsers?: LocalUser[];
  /** LOCAL_AUTH=oidc: access and ID token lifetime (default 3600 s, as Cognito's). */
  oidcTokenTtlSeconds?: number;
  /** Built-in simulated devices (default 0 here; `npm start` passes 3). */
  simulatedDevices?: number;
  /** Use this DynamoDB endpoint instead of an embedded dynalite; missing tables are created there. */
  dynamodbEndpoint?: string;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Where the stack's log lines go (default: nowhere). */
  log?: (line: string) => void;
  /** Extra environment for every function, over the template's. */
  env?: Record<string, string>;

  /** ANSI colours in log lines. */
  color?: boolean;
  /** Least severe stack log line written (default info). */
  logLevel?: Level;
  /** verbose (default): a line per invocation; quiet: a summary per function every few seconds (npm start). See ./stackLog.ts. */
  logMode?: LogMode;
  /** Quiet mode: the summary's period (default 5 s). */
  summaryEveryMs?: number;
  /** Quiet mode: where the summary goes instead of `log` (npm start on a terminal: a footer redrawn in place). */
  logStatus?: (lines: string[]) => void;
  /** Gateway quotas; tests shorten the timeouts. */
  limits?: Partial<GatewayLimits>;
  /** Delays between the async retries of a failed rule invocation (default 1 s, 2 s). */
  asyncRetryDelaysMs?: number[];
  /** Asynchronous invocations running at once, per queue (the rule engine's, the Invoke API's); the rest wait their turn (default: no limit; npm start: DEFAULT_ASYNC_CONCURRENCY). */
  asyncConcurrency?: number;
  /** Override every function's template Timeout. */
  functionTimeoutMs?: number;
  /** The development signing secret (default: random per start). */
  authSecret?: string;
  /** Messages per second per simulated device (default 1). */
  simulatorRate?: number;
  /** The simulated devices' id prefix (default sim-, so they never clash with `npm run device`'s dev-N). */
  simulatorPrefix?: string;
  /** Minutes of history the simulated devices have at start (default 5; 0 for none). See README, "History". */
  simulatorBackfillMinutes?: number;
  /** Static files served at / (default dashboard/dist). */
  dashboardRoot?: string;
  template?: Template;
  parameterOverrides?: Record<string, string>;
  /** Seams for fault injection at the edges. */
  hooks?: StackHooks;
  /** Injected faults: a FAULTS value (`post:429:0.2,dynamodb:throttle:0.1,invoke:crash:0.1`) or parsed rules. See ./faults.ts. */
  faults?: string | readonly FaultRule[];
  /** Seed of the fault draws (FAULTS_SEED), for a reproducible run; default random (logged). */
  faultsSeed?: number;
  /** The period of every rate() Schedule event (default: the template's, e.g. one minute); tests pass a second. */
  schedulePeriodMs?: number;
}

export type InvocationSource = 'ws' | 'rule' | 'lambda-api' | 'schedule' | 'direct' | 'esm';

export interface StackHooks extends GatewayHooks {
  /** Wraps every function invocation: call `next()` to run it, or throw/delay instead. */
  invoke?: (call: { functionId: string; event: unknown; source: InvocationSource }, next: () => Promise<unknown>) => Promise<unknown>;
}

export interface RunningStack {
  urls: { dashboard: string; websocket: string; management: string; mqtt: string; mqttWs: string; dynamodb: string };
  tableName: string;
  devSecret?: string;
  devToken?: string;
  /** LOCAL_AUTH=oidc: the embedded provider standing in for the Cognito user pool. */
  oidc?: { issuer: string; clientId: string; users: readonly LocalUser[]; endpoints: LocalUserPool['endpoints']; accessTokenTtlSeconds: number };
  stop(): Promise<void>;
  /** Closes every WebSocket (1001, with $disconnect) and the gateway's port, until startGateway(). */
  stopGateway(): Promise<void>;
  startGateway(): Promise<void>;
  /** Invokes a function synchronously, like `aws lambda invoke`; rejects with its FunctionError. */
  invoke(logicalId: string, event: unknown): Promise<unknown>;

  /** Bound ports (useful when 0 was asked for). */
  ports: { http: number; ws: number; mqtt: number };
  /** Addresses the functions use (127.0.0.1). */
  endpoints: { dynamodb: string; management: string; websocket: string; mqtt: string; lambda: string; sqs: string };
  /** The template's SQS queues: URL on the local SQS endpoint by logical id, and the service itself (for specs). */
  queues: Record<string, string>;
  sqs: SqsApi['sqs'];
  /** The device alarms' notifications the local SNS received, the last 50, oldest first. */
  notifications(): ReturnType<SnsApi['recent']>;
  /** Table names by logical id. */
  tables: Record<string, string>;
  model: StackModel;
  /** The open WebSocket connections, as the gateway sees them. */
  connections(): ConnectionInfo[];
  iotStats: IotStats;
  /** Resolves when every rule invocation (retries included) and every gateway event in flight has finished. */
  settled(): Promise<void>;
  /** The injected faults, when FAULTS is set: the rules, the seed, and counts of calls and faults so far. */
  faults?: {
    readonly rules: readonly FaultRule[];
    seed: number;
    stats(): Record<string, number>;
    /** Changes the probabilities while the stack runs, for the targets FAULTS named at start (their edges are wired then). */
    set(faults: string | readonly FaultRule[]): void;
  };
}

export const DEFAULT_PORTS = { port: 3000, wsPort: 3001, mqttPort: 1883 } as const;
/**
 * What `npm start` and the soak run with: 16 asynchronous invocations at once per queue. Every invocation
 * of a function shares its one sandbox thread and 64-socket pool here, so many more at once only queue posts in
 * that pool (measured: a third more CPU per delivery at 10,000 deliveries/s offered); the others wait their
 * turn, as on a Lambda function whose concurrency is exhausted. startStack() alone does not limit them.
 *
 * Not 4 (issue 24): a fan-out holds its slot until its slowest recipient's jittered retries end, about 1.2 s
 * for 100 dashboards under FAULTS=post:429:0.2,post:500:0.05 (up to 5.6 s), while it uses the CPU for a few
 * milliseconds of it. Four slots then served about 3 readings a second: at 10 readings a second the queue
 * grew, and the last readings waited for every earlier one (measured by `npm run bench -- --only faultLatency`:
 * p50 23 s, max 28 s with 4; p50 26 ms, p99 0.2 s, max 1.9 s with 16). Lambda itself has no such queue: it
 * scales out, and the template reserves no concurrency.
 */
export const DEFAULT_ASYNC_CONCURRENCY = 16;

/** config.json's `auth`: where the dashboard signs people in (the same shape `npm run deploy:dashboard` writes for Cognito). */
const signInConfig = (pool: LocalUserPool) => ({
  issuer: pool.issuer,
  clientId: pool.clientId,
  authorizationEndpoint: pool.endpoints.authorization,
  tokenEndpoint: pool.endpoints.token,
  revocationEndpoint: pool.endpoints.revocation,
  logoutEndpoint: pool.endpoints.endSession,
  logout: 'oidc',
});
const DIAL_ANY = new Set(['0.0.0.0', '::', '']);
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '0.0.0.0', '::', '']);

/** The names a page of this stack may arrive under: loopback, the bound address, and with a wildcard bind every interface's. */
const localHostnames = (host: string): string[] => {
  const names = new Set<string>(LOOPBACK_HOSTNAMES);
  if (DIAL_ANY.has(host)) for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.add(i.address.toLowerCase());
  else names.add(host.replace(/^\[(.*)\]$/, '$1').toLowerCase());
  return [...names];
};

/** A Host header's name as it goes back into a URL: IPv6 addresses in brackets. */
const urlHostOf = (hostHeader: string | undefined): string | undefined => {
  const name = hostnameOf(hostHeader);
  return name?.includes(':') ? `[${name}]` : name;
};

/** The caller's hooks first; where they let a call through, the injected faults. */
const withFaults = (hooks: StackHooks, injector: FaultInjector | undefined, log: StackLogger['log']): StackHooks => {
  if (!injector?.names('post')) return hooks;
  const inject = managementHook(injector);
  return {
    ...hooks,
    management: (call) => {
      const own = hooks.management?.(call);
      if (own) return own;
      const fault = inject();
      if (fault) log('mgmt', 'debug', `${call.method.padEnd(12)} ${call.connectionId} injected ${fault.status} ${fault.errorType} (FAULTS)`);
      return fault;
    },
  };
};

const faultControl = (injector: FaultInjector): NonNullable<RunningStack['faults']> => {
  // The edges wired at start: the management hook and the DynamoDB proxy exist only for the targets named then.
  const wired = new Set(injector.rules.map((rule) => rule.target));
  return {
    get rules() {
      return injector.rules;
    },
    seed: injector.seed,
    stats: () => injector.stats(),
    set(faults) {
      const rules = typeof faults === 'string' ? parseFaults(faults) : [...faults];
      const unwired = rules.find((rule) => rule.target !== 'invoke' && !wired.has(rule.target));
      if (unwired) {
        throw new FaultSpecError(`faults.set: no ${unwired.target} faults were configured when the stack started, so that edge is not wired; start it with ${unwired.target}:${unwired.fault}:0`);
      }
      injector.setRules(rules);
    },
  };
};

export const startStack = async (options: StackOptions = {}): Promise<RunningStack> => {
  const host = options.host ?? '127.0.0.1';
  const auth = options.auth ?? true;
  const localAuth = options.localAuth ?? 'token';
  if (localAuth !== 'token' && localAuth !== 'oidc') throw new Error(`localAuth must be token or oidc, got "${String(localAuth)}"`);
  const oidcMode = auth && localAuth === 'oidc';
  const faultRules = typeof options.faults === 'string' ? parseFaults(options.faults) : [...(options.faults ?? [])];
  const injector: FaultInjector | undefined =
    faultRules.length > 0 ? createFaultInjector({ rules: faultRules, seed: parseFaultSeed(options.faultsSeed === undefined ? undefined : String(options.faultsSeed)) }) : undefined;
  const logger: StackLogger = createStackLogger({
    write: options.log ?? (() => undefined),
    color: options.color ?? false,
    level: options.logLevel ?? 'info',
    mode: options.logMode ?? 'verbose',
    summaryEveryMs: options.summaryEveryMs,
    status: options.logStatus,
  });
  const log = logger.log;
  const hooks = withFaults(options.hooks ?? {}, injector, log);
  // Where local clients dial (a wildcard bind is reachable on loopback); and the name printed for people.
  const dialHost = DIAL_ANY.has(host) ? '127.0.0.1' : host;
  const publicHost = LOOPBACK.has(host) ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const dialUrlHost = dialHost.includes(':') ? `[${dialHost}]` : dialHost;

  const asyncConcurrency = options.asyncConcurrency;
  // LOCAL_AUTH=oidc runs the template's cognito mode; the pool's issuer, JWKS and client are the embedded provider's.
  const parameterOverrides = oidcMode ? { CognitoDomainPrefix: 'local', ...options.parameterOverrides, AuthMode: 'cognito' } : options.parameterOverrides;
  const model = buildStackModel({ template: options.template ?? readTemplate(), parameterOverrides });
  for (const warning of model.warnings) log('stack', 'warn', warning);
  const api = model.api;
  if (!api) throw new Error('template.yaml declares no WebSocket API (AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET)');

  const cleanup: (() => Promise<void>)[] = [];
  const undo = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };

  const hosts = new Map<string, FunctionHost>();
  const invokeFunction = async (functionId: string, event: unknown, source: InvocationSource): Promise<unknown> => {
    const fn = hosts.get(functionId);
    if (!fn) throw new Error(`no function ${functionId} in template.yaml (functions: ${[...hosts.keys()].join(', ')})`);
    const run = () => {
      const fault = injector?.has('invoke') ? drawInvokeFault(injector) : undefined;
      if (fault) log('lambda', 'debug', `${functionId}: injecting ${fault.kind} ${fault.afterMs} ms in (FAULTS)`);
      return fn.invoke(event, { fault }).then((invocation) => invocation.result);
    };
    const started = performance.now();
    try {
      const result = await (hooks.invoke ? hooks.invoke({ functionId, event, source }, run) : run());
      logger.invocation(functionId, performance.now() - started, true);
      return result;
    } catch (error) {
      logger.invocation(functionId, performance.now() - started, false);
      const err = error as Error & { errorType?: string };
      log('lambda', 'warn', `${functionId} failed: ${err.errorType ?? err.name}: ${err.message}`);
      throw error;
    }
  };

  try {
    // ---- DynamoDB
    const dynamo: DynamoService = await startDynamo({ endpoint: options.dynamodbEndpoint });
    cleanup.push(() => dynamo.close());
    log('ddb', 'info', dynamo.embedded ? `embedded dynalite at ${dynamo.endpoint}` : `using ${dynamo.endpoint}`);
    if (injector) log('stack', 'warn', `FAULTS injected (seed ${injector.seed}): ${describeFaults(injector.rules)}`);
    // The functions reach DynamoDB through the fault proxy; the table's own address (urls.dynamodb) stays clean for inspection.
    let dynamoProxy: DynamoFaultProxy | undefined;
    if (injector?.names('dynamodb')) {
      const proxy = await startDynamoFaultProxy({ upstream: dynamo.endpoint, injector, host: dialHost });
      dynamoProxy = proxy;
      cleanup.push(() => proxy.close());
      log('ddb', 'info', `functions reach DynamoDB through a fault proxy at ${proxy.endpoint}`);
    }

    // ---- SQS: the template's queues (the dead-letter queue of the asynchronous functions)
    const sqsApi: SqsApi = await startSqsApi({ host: dialHost, region: model.region, accountId: model.accountId, log: (level, text) => log('stack', level, text) });
    cleanup.push(() => sqsApi.close());
    const queues: Record<string, string> = {};
    for (const queue of model.queues) {
      queues[queue.logicalId] = sqsApi.sqs.createQueue({ QueueName: queue.name, Attributes: queue.attributes }).QueueUrl;
    }
    if (model.queues.length > 0) log('stack', 'info', `SQS at ${sqsApi.endpoint}: ${model.queues.map((q) => q.name).join(', ')}`);

    // ---- SNS: the device alarms' notifications, each on a `notify ` line of its own (even with the quiet log)
    const snsApi: SnsApi = await startSnsApi({ host: dialHost, onNotify: (n) => (options.log ?? (() => undefined))(notifyLine(n)) });
    cleanup.push(() => snsApi.close());

    /** Lambda's OnFailure destination: the invocation record of an event that failed every attempt. */
    const onExhausted = (job: AsyncJob, outcome: AsyncOutcome) => {
      const spec = model.functions.get(job.functionId);
      const destination = spec?.onFailure;
      const queue = destination?.type === 'SQS' ? model.queues.find((q) => q.arn === destination.destination) : undefined;
      if (!spec || !queue) return;
      const record = invocationRecord({ functionArn: spec.arn, event: job.event, outcome });
      sqsApi.sqs.sendMessage({ QueueUrl: queues[queue.logicalId] as string, MessageBody: JSON.stringify(record) });
      log('lambda', 'error', `${job.functionId}: failed ${outcome.attempts} times; its event is in ${queue.name} (npm run redrive replays it)`);
    };

    // ---- the Lambda Invoke API (LAMBDA_ENDPOINT): functions invoking functions
    const lambdaApi: LambdaApi = createLambdaApi({
      onExhausted,
      region: model.region,
      accountId: model.accountId,
      retryDelaysMs: options.asyncRetryDelaysMs ?? DEFAULT_ASYNC_RETRY_DELAYS_MS,
      asyncConcurrency,
      resolveFunction: (name) => (model.functions.has(name) ? name : [...model.functions.values()].find((f) => f.name === name)?.logicalId),
      log: (level, text) => log('lambda', level, text),
      invoke: async (functionId, event, mode, attempt) => {
        const started = performance.now();
        const result = await invokeFunction(functionId, event, 'lambda-api');
        logger.perInvocation('lambda', `${functionId} ${mode === 'Event' ? 'async ' : ''}invoke ok${attempt > 1 ? ` (attempt ${attempt})` : ''} (${formatMs(performance.now() - started)})`);
        return result;
      },
    });
    const lambdaEndpoint = await lambdaApi.listen(dialHost);
    cleanup.push(() => lambdaApi.close());

    // ---- the WebSocket gateway, the dashboard's HTTP server and the broker: ports first, so a clash fails fast
    const gateway: Gateway = createGateway({
      api,
      region: model.region,
      accountId: model.accountId,
      auth,
      limits: options.limits,
      hooks,
      // A route's line (`subscribe    <id> → SubscribeFunction 200 (3 ms)`) is per invocation; connects and disconnects are not.
      log: (level, source, text) => (level === 'info' && source === 'ws' && text.includes(' → ') ? logger.perInvocation(source, text) : log(source, level, text)),
      invoke: (functionId, event) => invokeFunction(functionId, event, 'ws'),
    });
    const wsPort = await listenOn(() => gateway.listen(options.wsPort ?? DEFAULT_PORTS.wsPort, host), options.wsPort ?? DEFAULT_PORTS.wsPort, 'WS_PORT', 'WebSocket API');
    cleanup.push(() => gateway.close());

    // A rule's DynamoDBv2 action is IoT Core writing to DynamoDB: it reaches the table through the same edge as the functions.
    // IoT Core writes any JSON number DynamoDB can hold, even past JavaScript's safe integers.
    const ruleDynamo = DynamoDBDocumentClient.from(dynamoClient(dynamoProxy?.endpoint ?? dynamo.endpoint), { marshallOptions: { removeUndefinedValues: true, allowImpreciseNumbers: true } });
    cleanup.push(async () => ruleDynamo.destroy());
    const rulePuts = createPutBatcher({ doc: ruleDynamo });

    // The coalesced mode's queue and its dead-letter queue live in the same local SQS as the asynchronous
    // functions' dead-letter queue (created above, dead-letter queues first).
    const sqs: Sqs | undefined = model.queues.length > 0 ? sqsApi.sqs : undefined;
    const queueUrls = queues;

    const iot: IotCore = await startIotCore({
      sendToQueue: sqs
        ? async (queueId, body) => {
            await sqs.sendMessage({ QueueUrl: queueUrls[queueId]!, MessageBody: body });
          }
        : undefined,
      rules: model.rules,
      // Batched (local/dynamodb/putBatcher.ts): the same item per reading, a fraction of the main thread's cost.
      putItem: (tableName, item) => rulePuts.put(tableName, item),
      asyncInvoker: createAsyncInvoker({ retryDelaysMs: options.asyncRetryDelaysMs ?? DEFAULT_ASYNC_RETRY_DELAYS_MS, maxConcurrent: asyncConcurrency, onExhausted }),
      log: (level, source, text) => log(source, level, text),
      invoke: async (functionId, event, meta) => {
        const started = performance.now();
        try {
          const result = await invokeFunction(functionId, event, 'rule');
          logger.perInvocation('rule', `${meta.rule} ${meta.topic} → ${functionId} ok${meta.attempt > 1 ? ` (attempt ${meta.attempt})` : ''} (${formatMs(performance.now() - started)})`);
          return result;
        } catch (error) {
          log('rule', 'warn', `${meta.rule} ${meta.topic} → ${functionId} attempt ${meta.attempt} failed (${formatMs(performance.now() - started)})`);
          throw error;
        }
      },
    });
    cleanup.push(() => iot.close());

    let devAuth: DevAuth | undefined;
    let userPool: LocalUserPool | undefined;
    const web: WebServer = createWebServer({
      root: options.dashboardRoot ?? join(PROJECT_ROOT, 'dashboard', 'dist'),
      onMqttSocket: (ws, req: IncomingMessage) => iot.handleWebSocket(ws, req),
      // /config.json hands out the development token and /mqtt carries all telemetry: pages of this machine only.
      allowedHosts: localHostnames(host),
      mounted: (req, res) => userPool?.handle(req, res) || serveNotifications(snsApi, req, res),
      config: (req) => {
        const hostname = urlHostOf(req.headers.host) ?? publicHost;
        return {
          url: `ws://${hostname}:${wsPort}`,
          ...(auth && devAuth ? { token: devAuth.token } : {}),
          ...(userPool ? { auth: signInConfig(userPool) } : {}),
          mqttUrl: `ws://${hostname}:${httpPort}/mqtt`,
        };
      },
    });
    const httpPort = await listenOn(() => web.listen(options.port ?? DEFAULT_PORTS.port, host), options.port ?? DEFAULT_PORTS.port, 'PORT', 'dashboard HTTP');
    cleanup.push(() => web.close());
    const mqttPort = await listenOn(() => iot.listen(options.mqttPort ?? DEFAULT_PORTS.mqttPort, host), options.mqttPort ?? DEFAULT_PORTS.mqttPort, 'MQTT_PORT', 'MQTT');

    // ---- the user pool's stand-in (LOCAL_AUTH=oidc), on the dashboard's port: both loopback names sign in
    if (oidcMode) {
      const pages = [...new Set([`http://localhost:${httpPort}/`, `http://127.0.0.1:${httpPort}/`, `http://${publicHost}:${httpPort}/`])];
      userPool = await createLocalUserPool({
        issuer: `http://${publicHost}:${httpPort}${MOUNT_PATH}`,
        redirectUris: pages,
        users: options.oidcUsers,
        accessTokenTtlSeconds: options.oidcTokenTtlSeconds,
        log: (level, text) => log('oidc', level, text),
      });
      log('oidc', 'info', `OpenID Connect provider (stands in for the Cognito user pool) at ${userPool.issuer}; users: ${userPool.users.map((u) => u.username).join(', ')}`);
    }

    // ---- functions
    const authorizerFunctions = authorizerFunctionIds(model);
    if (authorizerFunctions.size > 0 && !userPool) {
      const issuerSource = model.functions.get([...authorizerFunctions][0] as string)?.environment;
      devAuth = await createDevAuth({ secret: options.authSecret, issuer: issuerSource?.TOKEN_ISSUER || undefined, audience: issuerSource?.TOKEN_AUDIENCE || undefined });
    }
    if (!auth) log('stack', 'warn', 'AUTH is off: the $connect authorizer does not run and every client may receive every device. Never expose this stack.');

    const managementUrl = `http://${dialUrlHost}:${wsPort}/${api.stage}`;
    const endpoints = { dynamodb: dynamoProxy?.endpoint ?? dynamo.endpoint, gatewayHttp: `http://${dialUrlHost}:${wsPort}`, gatewayWs: `ws://${dialUrlHost}:${wsPort}`, lambda: lambdaEndpoint, sqs: sqsApi.endpoint };
    // The authorizer fetches the JWKS over loopback; the issuer it checks is the one browsers see.
    const authorizerEnv = userPool
      ? { TOKEN_ISSUER: userPool.issuer, JWKS_URL: `http://${dialUrlHost}:${httpPort}${MOUNT_PATH}/jwks`, TOKEN_AUDIENCE: userPool.clientId }
      : undefined;
    // The local SNS, and the notifications' dashboard link when the template's DashboardUrl is empty.
    const alarmEnv = (spec: FunctionSpec) => ({ SNS_ENDPOINT: snsApi.endpoint, ...(spec.environment.DASHBOARD_URL === '' ? { DASHBOARD_URL: `http://${publicHost}:${httpPort}/` } : {}) });
    const functionEnv = (spec: FunctionSpec) => functionEnvironment({ spec, model, endpoints, auth, authSecret: devAuth?.secret, authorizerEnv, extra: { ...alarmEnv(spec), ...options.env } });
    for (const spec of model.functions.values()) {
      hosts.set(
        spec.logicalId,
        createFunctionHost({
          spec,
          env: functionEnv(spec),
          timeoutMs: options.functionTimeoutMs,
          onLog: (line, stream) => logger.handlerLine(spec.logicalId, line, stream),
        }),
      );
    }
    cleanup.push(async () => {
      await Promise.all([...hosts.values()].map((fn) => fn.stop()));
    });
    const coldStarted = performance.now();
    const starts = await Promise.all([...hosts.values()].map(async (fn) => ({ id: fn.spec.logicalId, ...(await fn.start()) })));
    for (const start of starts) {
      if (start.initError) log('lambda', 'error', `${start.id} failed to load: ${start.initError.errorType}: ${start.initError.message}`);
      else log('lambda', 'debug', `${start.id} loaded (${formatMs(start.initMs)})`);
    }
    log('lambda', 'info', `${starts.filter((s) => !s.initError).length}/${starts.length} functions loaded in ${formatMs(performance.now() - coldStarted)}: ${starts.map((s) => s.id).join(', ')}`);

    // ---- tables
    const created = await ensureTables(dynamo.endpoint, model.tables);
    log('ddb', 'info', `tables: ${model.tables.map((t) => `${t.tableName}${created.includes(t.tableName) ? ' (created)' : ''}`).join(', ') || 'none'}`);

    // ---- EventBridge schedules (the connection expiry sweeper)
    const scheduler: Scheduler = startScheduler({
      schedules: model.schedules,
      region: model.region,
      accountId: model.accountId,
      periodMs: options.schedulePeriodMs,
      invoke: (functionId, event) => invokeFunction(functionId, event, 'schedule'),
      log: (level, text) => log('events', level, text),
    });
    cleanup.push(() => scheduler.close());

    // ---- Lambda's event source mappings on the queues (after the tables: a batch may arrive at once)
    const mappings: SqsEventSourceMapping[] = [];
    const stopMappings = async () => {
      for (const mapping of mappings) void mapping.stop();
      sqs?.close();
      await Promise.all(mappings.map((m) => m.stop()));
    };
    for (const spec of model.eventSourceMappings) {
      const queue = model.queues.find((q) => q.logicalId === spec.queueId)!;
      mappings.push(
        startSqsEventSourceMapping({
          spec: { ...spec, queueUrl: queueUrls[spec.queueId]!, queueArn: queue.arn },
          queue: sqs!,
          region: model.region,
          invoke: (event) => invokeFunction(spec.functionId, event, 'esm'),
          log: (level, text) => log('lambda', level, text),
        }),
      );
      log('lambda', 'info', `${spec.logicalId}: ${spec.queueId} → ${spec.functionId} (batch ${spec.batchSize}, window ${spec.maximumBatchingWindowInSeconds} s${spec.reportBatchItemFailures ? ', partial batch responses' : ''})`);
    }
    cleanup.push(stopMappings);

    // ---- simulated devices
    // Backfill, not persistence: dynalite keeps nothing between runs, and a history written by the telemetry function's
    // own writers at start (readings and rollups) gives every run the same few minutes, with no state to go stale.
    const backfillWriter = (minutes: number) => {
      const historyTable = model.tables.find((t) => t.logicalId === 'HistoryTable')?.tableName;
      const devicesTable = model.tables.find((t) => t.logicalId === 'DevicesTable')?.tableName;
      if (minutes <= 0 || !historyTable || !devicesTable) return undefined;
      const retentionDays = Number(model.parameters.HistoryRetentionDays ?? 7);
      // Straight to the table, not through a FAULTS proxy: the backfill is a fixture, not traffic.
      const seed = DynamoDBDocumentClient.from(dynamoClient(dynamo.endpoint), { marshallOptions: { removeUndefinedValues: true } });
      cleanup.push(async () => seed.destroy());
      const devices = createDevicesStore({ doc: seed, tableName: devicesTable, retentionDays });
      const history = createHistoryWriter({ doc: seed, tableName: historyTable, retentionDays });
      return {
        ms: minutes * 60_000,
        write: async (deviceId: string, readings: { ts: number }[]) => {
          const frames = readings.map((r) => {
            const { ts, ...data } = r as Record<string, unknown> & { ts: number };
            return { type: 'telemetry' as const, id: `backfill-${deviceId}-${ts}`, deviceId, ts, receivedAt: ts, data };
          });
          await history.record(frames);
          const last = frames.at(-1);
          if (last) await devices.recordLatest(last);
          log('sim', 'debug', `${deviceId}: ${readings.length} readings of history written`);
        },
      };
    };
    let simulator: Simulator | undefined;
    if ((options.simulatedDevices ?? 0) > 0) {
      simulator = await startSimulator({
        url: `mqtt://${dialUrlHost}:${mqttPort}`,
        devices: options.simulatedDevices,
        prefix: options.simulatorPrefix ?? 'sim-',
        rate: options.simulatorRate ?? 1,
        log: (line) => log('sim', 'warn', line),
        backfill: backfillWriter(options.simulatorBackfillMinutes ?? 5),
      });
      cleanup.push(() => simulator?.stop() ?? Promise.resolve());
      log('sim', 'info', `${simulator.devices.length} simulated device(s) publishing ${options.simulatorRate ?? 1}/s each: ${simulator.devices.join(', ')}`);
    }

    const tables = Object.fromEntries(model.tables.map((t) => [t.logicalId, t.tableName]));
    let stopping: Promise<void> | undefined;
    return {
      urls: {
        dashboard: `http://${publicHost}:${httpPort}/`,
        websocket: `ws://${publicHost}:${wsPort}`,
        management: `http://${publicHost}:${wsPort}/${api.stage}`,
        mqtt: `mqtt://${publicHost}:${mqttPort}`,
        mqttWs: `ws://${publicHost}:${httpPort}/mqtt`,
        dynamodb: dynamo.endpoint,
      },
      endpoints: { dynamodb: dynamo.endpoint, management: managementUrl, websocket: `ws://${dialUrlHost}:${wsPort}`, mqtt: `mqtt://${dialUrlHost}:${mqttPort}`, lambda: lambdaEndpoint, sqs: sqsApi.endpoint },
      queues,
      sqs: sqsApi.sqs,
      notifications: () => snsApi.recent(),
      ports: { http: httpPort, ws: wsPort, mqtt: mqttPort },
      tableName: model.tables[0]?.tableName ?? '',
      tables,
      model,
      devSecret: auth ? devAuth?.secret : undefined,
      devToken: auth ? devAuth?.token : undefined,
      ...(userPool
        ? { oidc: { issuer: userPool.issuer, clientId: userPool.clientId, users: userPool.users, endpoints: userPool.endpoints, accessTokenTtlSeconds: userPool.accessTokenTtlSeconds } }
        : {}),
      iotStats: iot.stats,
      connections: () => gateway.connections(),
      invoke: (logicalId, event) => invokeFunction(logicalId, event, 'direct'),
      ...(injector ? { faults: faultControl(injector) } : {}),
      settled: async () => {
        await iot.settled();
        await lambdaApi.settled();
        await gateway.settled();
      },
      async stopGateway() {
        await gateway.close(1001, 'Going away');
        log('ws', 'info', `gateway stopped (port ${wsPort} closed)`);
      },
      async startGateway() {
        if (gateway.listening) return;
        await listenOn(() => gateway.listen(wsPort, host), wsPort, 'WS_PORT', 'WebSocket API');
        log('ws', 'info', `gateway listening again on ${wsPort}`);
      },
      stop() {
        stopping ??= (async () => {
          log('stack', 'info', 'stopping: closing devices, broker, then every WebSocket (1001) with its $disconnect');
          await simulator?.stop();
          await scheduler.close();
          // The broker first, so no new rule invocation starts; the ones in flight still deliver.
          await iot.close();
          // Then the queues' pollers: the batches in flight finish; what is left stays queued.
          await stopMappings();
          ruleDynamo.destroy();
          await lambdaApi.settled();
          await lambdaApi.close();
          await gateway.close(1001, 'Going away');
          await web.close();
          await Promise.all([...hosts.values()].map((fn) => fn.stop()));
          await dynamoProxy?.close();
          await dynamo.close();
          await sqsApi.close();
          await snsApi.close();
          logger.close();
          log('stack', 'info', 'stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await undo();
    throw error;
  }
};

/** GET /local/sns/notifications on the dashboard port: the local SNS's last notifications, for the page (local/sns/README.md). */
const serveNotifications = (sns: SnsApi, req: IncomingMessage, res: ServerResponse): boolean => {
  if ((req.url ?? '').split('?')[0] !== '/local/sns/notifications' || req.method !== 'GET') return false;
  const body = JSON.stringify(sns.recent());
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
  return true;
};
