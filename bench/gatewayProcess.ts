/**
 * The local stack (`npm start`'s, from local/stack.ts) in its own process:
 * the WebSocket gateway, the @connections management API, dynalite, the MQTT
 * broker and the functions. Its CPU is never counted as the fan-out's.
 * Announces `{ urls, tableName }` to the bench over IPC. Run by hand
 * (`npx tsx bench/gatewayProcess.ts`), it prints them as JSON and runs until Ctrl-C.
 */
import { startStack } from '../local/stack.js';
import { templateWithoutHistory } from './history.js';
import { serveParent } from './processes.js';

export interface GatewayInfo {
  urls: { websocket: string; management: string; dynamodb: string; mqtt: string };
  tableName: string;
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

try {
  // BENCH_HISTORY=off: the same stack without history storage, for the live-path comparison.
  const template = process.env.BENCH_HISTORY === 'off' ? templateWithoutHistory() : undefined;
  const stack = await startStack({ wsPort: 0, port: 0, mqttPort: 0, simulatedDevices: 0, auth: false, logLevel: 'warn', log: (line) => console.error(line), ...(template ? { template } : {}) });
  const { endpoints } = stack;
  const info: GatewayInfo = {
    // 127.0.0.1, not the `localhost` printed for people: the bench dials IPv4 loopback only.
    urls: { websocket: endpoints.websocket, management: endpoints.management, dynamodb: endpoints.dynamodb, mqtt: endpoints.mqtt },
    tableName: stack.tableName,
  };
  if (process.send) {
    serveParent(info, {}, () => stack.stop());
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
