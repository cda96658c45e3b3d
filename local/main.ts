/**
 * `npm start`: the whole pipeline on this machine, until Ctrl-C.
 *
 *   PORT (3000)  WS_PORT (3001)  MQTT_PORT (1883)  HOST (127.0.0.1)
 *   AUTH (on; AUTH=off disables the authorizer)  AUTH_SECRET (random per start)
 *   LOCAL_AUTH (oidc: sign in on the embedded OpenID Connect provider; token: today's development token)
 *   LOCAL_TOKEN_TTL (LOCAL_AUTH=oidc: access/ID token lifetime in seconds, 3600)
 *   WS_IDLE_TIMEOUT_MS (600000)  WS_MAX_CONNECTION_MS (7200000)  ASYNC_RETRY_DELAYS_MS (1000,2000)  ASYNC_CONCURRENCY (4)
 *   SIMULATED_DEVICES (3)  DYNAMODB_ENDPOINT (embedded dynalite)  LOG_LEVEL (info)
 *   LOG (quiet: a summary per function every LOG_SUMMARY_MS (5000), warnings and errors in full;
 *        verbose: a line per invocation)
 *   FAULTS (none; e.g. post:429:0.2,dynamodb:throttle:0.1,invoke:crash:0.05)  FAULTS_SEED (random, printed)
 *   SCHEDULE_PERIOD_MS (the template's rate(), e.g. 60000 for the expiry sweeper)
 *   PARAM_<ParameterName>=value overrides a template parameter (e.g. PARAM_FanoutShardSize=500)
 */
import { DEFAULT_ASYNC_CONCURRENCY, DEFAULT_PORTS, type RunningStack, startStack } from './stack/stack.js';
import { parameterOverridesFromArgs, parameterOverridesFromEnv } from './template/parameterOverrides.js';
import { PortAccessError, PortInUseError } from './stack/ports.js';
import { FaultSpecError, describeFaults, parseFaultSeed, parseFaults } from './stack/faults.js';
import { paint } from './stack/stackLog.js';
import { createTerminal } from './stack/terminal.js';
import { readTemplate } from '../scripts/template.js';
import { removeStackState, writeStackState } from './stack/stateFile.js';
import type { Level } from './stack/stackLog.js';

// Before any AWS SDK client is built in this thread (the functions' threads get it in their env).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

class ConfigError extends Error {}

const port = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new ConfigError(`${name} must be a port number (0-65535), got "${raw}"`);
  return value;
};

const count = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  return value;
};

const retryDelays = (): number[] | undefined => {
  const raw = process.env.ASYNC_RETRY_DELAYS_MS;
  if (raw === undefined || raw === '') return undefined;
  const delays = raw.split(',').map((d) => Number(d.trim()));
  if (delays.some((d) => !Number.isInteger(d) || d < 0)) throw new ConfigError(`ASYNC_RETRY_DELAYS_MS must be comma-separated milliseconds, e.g. 1000,2000; got "${raw}"`);
  return delays;
};

/**
 * PARAM_<ParameterName>=value and `-- --parameter-overrides Name=value …` (template/parameterOverrides.ts): the
 * template's parameters, as `sam deploy --parameter-overrides` sets them. A name the template does not declare is
 * refused, with the list.
 */
const parameterOverrides = (): Record<string, string> => {
  const fromEnv = parameterOverridesFromEnv();
  const overrides = { ...fromEnv, ...parameterOverridesFromArgs(process.argv.slice(2)) };
  const known = Object.keys(readTemplate().Parameters ?? {});
  for (const parameter of Object.keys(overrides)) {
    if (known.includes(parameter)) continue;
    const source = parameter in fromEnv ? `PARAM_${parameter}` : `--parameter-overrides ${parameter}`;
    throw new ConfigError(`${source}: template.yaml has no parameter ${parameter}; it has ${known.join(', ')}`);
  }
  return overrides;
};

const authEnabled = (): boolean => {
  const raw = (process.env.AUTH ?? 'on').trim().toLowerCase();
  if (['on', 'true', '1', 'yes', ''].includes(raw)) return true;
  if (['off', 'false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(`AUTH must be on or off, got "${process.env.AUTH}"`);
};

const localAuthMode = (): 'oidc' | 'token' => {
  const raw = (process.env.LOCAL_AUTH ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'oidc') return 'oidc';
  if (raw === 'token') return 'token';
  throw new ConfigError(`LOCAL_AUTH must be oidc (sign in, the default) or token (a development token), got "${process.env.LOCAL_AUTH}"`);
};

const main = async () => {
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const c = (fn: (t: string) => string, text: string) => (color ? fn(text) : text);
  const logLevel = (process.env.LOG_LEVEL ?? 'info').toLowerCase() as Level;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be debug, info, warn or error, got "${process.env.LOG_LEVEL}"`);
  const logMode = (process.env.LOG || 'quiet').toLowerCase();
  if (logMode !== 'quiet' && logMode !== 'verbose') throw new ConfigError(`LOG must be quiet or verbose, got "${process.env.LOG}"`);
  const summaryEveryMs = count('LOG_SUMMARY_MS', 5000);
  if (summaryEveryMs < 100) throw new ConfigError(`LOG_SUMMARY_MS must be at least 100, got "${process.env.LOG_SUMMARY_MS}"`);
  const terminal = createTerminal(process.stdout);
  const print = (line: string) => terminal.line(line);

  const auth = authEnabled();
  const localAuth = localAuthMode();
  const faults = parseFaults(process.env.FAULTS);
  const faultsSeed = parseFaultSeed(process.env.FAULTS_SEED);
  const options = {
    port: port('PORT', DEFAULT_PORTS.port),
    wsPort: port('WS_PORT', DEFAULT_PORTS.wsPort),
    mqttPort: port('MQTT_PORT', DEFAULT_PORTS.mqttPort),
    host: process.env.HOST || '127.0.0.1',
    auth,
    localAuth,
    ...(process.env.LOCAL_TOKEN_TTL ? { oidcTokenTtlSeconds: Math.max(10, count('LOCAL_TOKEN_TTL', 3600)) } : {}),
    simulatedDevices: count('SIMULATED_DEVICES', 3),
    simulatorBackfillMinutes: count('SIMULATOR_HISTORY_MINUTES', 5),
    dynamodbEndpoint: process.env.DYNAMODB_ENDPOINT || undefined,
    authSecret: process.env.AUTH_SECRET || undefined,
    limits: {
      ...(process.env.WS_IDLE_TIMEOUT_MS ? { idleTimeoutMs: count('WS_IDLE_TIMEOUT_MS', 0) } : {}),
      ...(process.env.WS_MAX_CONNECTION_MS ? { maxConnectionMs: count('WS_MAX_CONNECTION_MS', 0) } : {}),
    },
    asyncRetryDelaysMs: retryDelays(),
    asyncConcurrency: Math.max(1, count('ASYNC_CONCURRENCY', DEFAULT_ASYNC_CONCURRENCY)),
    ...(process.env.SCHEDULE_PERIOD_MS ? { schedulePeriodMs: Math.max(100, count('SCHEDULE_PERIOD_MS', 60_000)) } : {}),
    faults,
    faultsSeed,
    parameterOverrides: parameterOverrides(),
    color,
    logLevel,
    logMode: logMode as 'quiet' | 'verbose',
    summaryEveryMs,
    // On a terminal the summary is a footer redrawn in place, so the ready line and the token stay in view.
    ...(terminal.isTTY ? { logStatus: (lines: string[]) => terminal.footer(lines) } : {}),
    log: print,
  };
  if (!auth) {
    print(c(paint.yellow, c(paint.bold, '!!! AUTH=off: no token is checked, and every client can receive every device. For local development only. !!!')));
  }
  if (faults.length > 0) {
    print(c(paint.red, c(paint.bold, `!!! FAULTS injected: ${describeFaults(faults)} !!!`)));
    print(c(paint.red, c(paint.bold, `!!! FAULTS_SEED=${faultsSeed} (set it to draw the same faults again). Calls will fail on purpose. !!!`)));
  }
  print(`starting the local stack from template.yaml (ports: PORT=${options.port} WS_PORT=${options.wsPort} MQTT_PORT=${options.mqttPort})`);
  const overridden = Object.entries(options.parameterOverrides);
  if (overridden.length > 0) print(`template parameters: ${overridden.map(([k, v]) => `${k}=${v}`).join(' ')}`);

  const stack: RunningStack = await startStack(options);

  writeStackState({
    pid: process.pid,
    startedAt: new Date().toISOString(),
    urls: stack.urls,
    endpoints: stack.endpoints,
    queues: stack.queues,
    tableName: stack.tableName,
    tables: stack.tables,
    devSecret: stack.devSecret,
    devToken: stack.devToken,
    ...(stack.oidc ? { oidcIssuer: stack.oidc.issuer } : {}),
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      print('stopping anyway');
      removeStackState();
      process.exit(1);
    }
    stopping = true;
    print(`\n${signal}: stopping (Ctrl-C again to force)`);
    try {
      await stack.stop();
      removeStackState();
      process.exit(0);
    } catch (error) {
      console.error(`error while stopping: ${(error as Error).message}`);
      removeStackState();
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  if (stack.oidc) {
    print('');
    print(`sign in on the dashboard (LOCAL_AUTH=oidc; LOCAL_AUTH=token for a development token instead):`);
    for (const user of stack.oidc.users) {
      const scope = user.groups.filter((g) => g.startsWith('devices:')).map((g) => g.slice('devices:'.length)).join(',') || 'none';
      // Scripts find the user by this line: "sign in: user <name> password <password>".
      print(`sign in: user ${user.username} password ${user.password}`);
      print(`         (scope ${scope}, publish ${user.groups.includes('publish')}, tokens last ${stack.oidc.accessTokenTtlSeconds} s and renew on the page)`);
    }
  } else if (stack.devToken) {
    print('');
    print(`development secret: ${stack.devSecret}`);
    print(`development token (scope *, publish true, 24 h): ${stack.devToken}`);
    print(`try it:  npx wscat -c "${stack.urls.websocket}?token=${stack.devToken}"`);
    print('         (it receives every device; a scoped token: npm run token -- --sub alice --devices sim-1)');
  } else {
    print('');
    print(`try it:  npx wscat -c "${stack.urls.websocket}"`);
  }
  print(
    logMode === 'quiet'
      ? `log: warnings and errors in full, and each function's invocations summed up every ${+(summaryEveryMs / 1000).toFixed(1)} s (LOG=verbose: a line per invocation)`
      : 'log: a line per invocation (LOG=quiet: a summary per function)',
  );
  print('');
  const { urls } = stack;
  // Plain text, even on a terminal: scripts wait for a line that starts with "ready".
  print(
    `ready dashboard=${urls.dashboard} websocket=${urls.websocket} management=${urls.management} mqtt=${urls.mqtt} mqtt-ws=${urls.mqttWs} dynamodb=${urls.dynamodb} table=${stack.tableName}${stack.oidc ? ` oidc=${stack.oidc.issuer}` : ''}`,
  );
};

main().catch((error: Error) => {
  removeStackState();
  if (error instanceof PortInUseError || error instanceof PortAccessError || error instanceof ConfigError || error instanceof FaultSpecError) {
    console.error(`error: ${error.message}`);
  } else {
    console.error(`error: the local stack could not start: ${error.message}`);
    if (process.env.LOG_LEVEL === 'debug') console.error(error.stack);
  }
  process.exit(1);
});
