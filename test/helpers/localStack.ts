/**
 * The local stack for integration tests: ephemeral ports on 127.0.0.1, no
 * simulated devices, fast async retries, and its log lines kept for failure
 * messages (set LOCAL_STACK_LOG=1 to see them live).
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import mqtt, { type MqttClient } from 'mqtt';
import { dynamoClient } from '../../local/dynamodb/dynamodb.js';
import { type RunningStack, type StackOptions, startStack } from '../../local/stack/stack.js';
import { type Template, readTemplate } from '../../scripts/template.js';

export interface TestStack extends RunningStack {
  lines: string[];
}

export const startTestStack = async (options: StackOptions = {}): Promise<TestStack> => {
  const lines: string[] = [];
  const stack = await startStack({
    port: 0,
    wsPort: 0,
    mqttPort: 0,
    simulatedDevices: 0,
    // Today's development-token mode; sign-in specs pass localAuth: 'oidc'.
    localAuth: 'token',
    asyncRetryDelaysMs: [20, 40],
    logLevel: 'debug',
    log: (line) => {
      lines.push(line);
      if (lines.length > 5000) lines.splice(0, 1000);
      if (process.env.LOCAL_STACK_LOG) console.log(line);
    },
    ...options,
  });
  return Object.assign(stack, { lines });
};

/**
 * template.yaml with a shorter Timeout (seconds) for the named functions only, so that a spec can make a
 * fan-out run short of time while $connect and the routes keep the template's own.
 */
export const templateWithTimeouts = (timeouts: Record<string, number>): Template => {
  const template = structuredClone(readTemplate());
  for (const [logicalId, seconds] of Object.entries(timeouts)) {
    const resource = template.Resources[logicalId] as { Properties?: Record<string, unknown> } | undefined;
    if (!resource?.Properties) throw new Error(`template.yaml has no function ${logicalId}`);
    resource.Properties.Timeout = seconds;
  }
  return template;
};

/** Every item of a table (one page is plenty for tests). */
export const scanTable = async (endpoint: string, tableName: string): Promise<Record<string, unknown>[]> => {
  const client = dynamoClient(endpoint);
  try {
    const out = await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
    return (out.Items ?? []) as Record<string, unknown>[];
  } finally {
    client.destroy();
  }
};

/** An MQTT device connected to the stack's broker. */
export const connectDevice = (url: string, clientId: string): Promise<MqttClient> => mqtt.connectAsync(url, { clientId, connectTimeout: 5000, reconnectPeriod: 0 });
