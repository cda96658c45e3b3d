/**
 * `npm start`: the whole pipeline on this machine, until Ctrl-C.
 *
 *   PORT (3000)  WS_PORT (3001)  MQTT_PORT (1883)  HOST (127.0.0.1)
 *   AUTH (on; AUTH=off disables the authorizer)  AUTH_SECRET (random per start)
 *   WS_IDLE_TIMEOUT_MS (600000)  WS_MAX_CONNECTION_MS (7200000)  ASYNC_RETRY_DELAYS_MS (1000,2000)
 *   SIMULATED_DEVICES (3)  DYNAMODB_ENDPOINT (embedded dynalite)  LOG_LEVEL (info)
 *   FAULTS (none; e.g. post:429:0.2,dynamodb:throttle:0.1,invoke:crash:0.05)  FAULTS_SEED (random, printed)
 */
import { DEFAULT_PORTS, type RunningStack, startStack } from './stack.js';
import { parameterOverridesFromArgs, parameterOverridesFromEnv } from './template/parameterOverrides.js';
import { PortAccessError, PortInUseError } from './ports.js';
import { FaultSpecError, describeFaults, parseFaultSeed, parseFaults } from './faults.js';
import { paint } from './stackLog.js';
import { removeStackState, writeStackState } from './stateFile.js';
import type { Level } from './stackLog.js';

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

const authEnabled = (): boolean => {
  const raw = (process.env.AUTH ?? 'on').trim().toLowerCase();
  if (['on', 'true', '1', 'yes', ''].includes(raw)) return true;
  if (['off', 'false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(`AUTH must be on or off, got "${process.env.AUTH}"`);
};

const main = async () => {
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const c = (fn: (t: string) => string, text: string) => (color ? fn(text) : text);
  const logLevel = (process.env.LOG_LEVEL ?? 'info').toLowerCase() as Level;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be debug, info, warn or error, got "${process.env.LOG_LEVEL}"`);

  const auth = authEnabled();
  const faults = parseFaults(process.env.FAULTS);
  const faultsSeed = parseFaultSeed(process.env.FAULTS_SEED);
  const options = {
    port: port('PORT', DEFAULT_PORTS.port),
    wsPort: port('WS_PORT', DEFAULT_PORTS.wsPort),
    mqttPort: port('MQTT_PORT', DEFAULT_PORTS.mqttPort),
    host: process.env.HOST || '127.0.0.1',
    auth,
    simulatedDevices: count('SIMULATED_DEVICES', 3),
    simulatorBackfillMinutes: count('SIMULATOR_HISTORY_MINUTES', 5),
    dynamodbEndpoint: process.env.DYNAMODB_ENDPOINT || undefined,
    authSecret: process.env.AUTH_SECRET || undefined,
    limits: {
      ...(process.env.WS_IDLE_TIMEOUT_MS ? { idleTimeoutMs: count('WS_IDLE_TIMEOUT_MS', 0) } : {}),
      ...(process.env.WS_MAX_CONNECTION_MS ? { maxConnectionMs: count('WS_MAX_CONNECTION_MS', 0) } : {}),
    },
    asyncRetryDelaysMs: retryDelays(),
    faults,
    faultsSeed,
    parameterOverrides: { ...parameterOverridesFromEnv(), ...parameterOverridesFromArgs(process.argv.slice(2)) },
    color,
    logLevel,
    log: (line: string) => console.log(line),
  };
  if (!auth) {
    console.log(c(paint.yellow, c(paint.bold, '!!! AUTH=off: no token is checked, and every client can receive every device. For local development only. !!!')));
  }
  if (faults.length > 0) {
    console.log(c(paint.red, c(paint.bold, `!!! FAULTS injected: ${describeFaults(faults)} !!!`)));
    console.log(c(paint.red, c(paint.bold, `!!! FAULTS_SEED=${faultsSeed} (set it to draw the same faults again). Calls will fail on purpose. !!!`)));
  }
  console.log(`starting the local stack from template.yaml (ports: PORT=${options.port} WS_PORT=${options.wsPort} MQTT_PORT=${options.mqttPort})`);
  const overridden = Object.entries(options.parameterOverrides);
  if (overridden.length > 0) console.log(`template parameters: ${overridden.map(([k, v]) => `${k}=${v}`).join(' ')}`);

  const stack: RunningStack = await startStack(options);

  writeStackState({
    pid: process.pid,
    startedAt: new Date().toISOString(),
    urls: stack.urls,
    endpoints: stack.endpoints,
    tableName: stack.tableName,
    tables: stack.tables,
    devSecret: stack.devSecret,
    devToken: stack.devToken,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      console.log('stopping anyway');
      removeStackState();
      process.exit(1);
    }
    stopping = true;
    console.log(`\n${signal}: stopping (Ctrl-C again to force)`);
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

  if (stack.devToken) {
    console.log('');
    console.log(`development secret: ${stack.devSecret}`);
    console.log(`development token (scope *, publish true, 24 h): ${stack.devToken}`);
    console.log(`try it:  npx wscat -c "${stack.urls.websocket}?token=${stack.devToken}"`);
    console.log('         (it receives every device; a scoped token: npm run token -- --sub alice --devices sim-1)');
  } else {
    console.log('');
    console.log(`try it:  npx wscat -c "${stack.urls.websocket}"`);
  }
  console.log('');
  const { urls } = stack;
  // Plain text, even on a terminal: scripts wait for a line that starts with "ready".
  console.log(
    `ready dashboard=${urls.dashboard} websocket=${urls.websocket} management=${urls.management} mqtt=${urls.mqtt} mqtt-ws=${urls.mqttWs} dynamodb=${urls.dynamodb} table=${stack.tableName}`,
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
