/**
 * The local stack (`npm start`'s, from local/stack.ts) in its own process:
 * the WebSocket gateway, the @connections management API, dynalite, the MQTT
 * broker and the functions. Its CPU is never counted as the fan-out's.
 * Announces `{ urls, tableName }` to the bench over IPC. Run by hand
 * (`npx tsx bench/gatewayProcess.ts`), it prints them as JSON and runs until Ctrl-C.
 */
import { startStack } from '../local/stack/stack.js';
import { templateWithoutHistory } from './history.js';
import { serveParent } from './processes.js';
import { parameterOverridesFromEnv } from '../local/template/parameterOverrides.js';

export interface GatewayInfo {
  urls: { websocket: string; management: string; dynamodb: string; mqtt: string };
  tableName: string;
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

try {
  // The fan-out functions' summary lines (one per reading, or per batch): their recipient lookups.
  const usage = { invocations: 0, readings: 0, ddbRequests: 0 };
  const tally = (line: string) => {
    if (!/fanned out (a telemetry batch|telemetry)/.test(line)) return false;
    usage.invocations++;
    usage.readings += Number(/\breadings=(\d+)/.exec(line)?.[1] ?? 1);
    usage.ddbRequests += Number(/\bddbRequests=(\d+)/.exec(line)?.[1] ?? 0);
    return true;
  };
  // BENCH_HISTORY=off: the same stack without history storage, for the live-path comparison.
  const template = process.env.BENCH_HISTORY === 'off' ? templateWithoutHistory() : undefined;
  const stack = await startStack({
    ...(template ? { template } : {}),
    wsPort: 0,
    port: 0,
    mqttPort: 0,
    simulatedDevices: 0,
    auth: false,
    // PARAM_<Name>: template parameters, as for npm start (the high-rate bench runs FanoutMode=coalesced). The benches
    // open thousands of connections at once: $connect route throttling (a guard against bad tokens) is raised for them.
    parameterOverrides: { ConnectRouteRateLimit: '100000', ConnectRouteBurstLimit: '100000', ...parameterOverridesFromEnv() },
    logLevel: 'info',
    log: (line) => {
      if (!tally(line) && /\b(WARN|ERROR|warn|error)\b/.test(line)) console.error(line);
    },
  });
  const { endpoints } = stack;
  const info: GatewayInfo = {
    // 127.0.0.1, not the `localhost` printed for people: the bench dials IPv4 loopback only.
    urls: { websocket: endpoints.websocket, management: endpoints.management, dynamodb: endpoints.dynamodb, mqtt: endpoints.mqtt },
    tableName: stack.tableName,
  };
  if (process.send) {
    serveParent(
      info,
      {
        usage: () => ({ ...usage }),
        reset: () => {
          Object.assign(usage, { invocations: 0, readings: 0, ddbRequests: 0 });
          return true;
        },
      },
      () => stack.stop(),
    );
  } else {
    console.log(JSON.stringify(info));
    const stop = () => void stack.stop().finally(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
} catch (error) {
  console.error(`the local stack did not start: ${(error as Error).stack ?? error}`);
  process.exit(1);
}
