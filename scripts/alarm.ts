/**
 * npm run alarm -- list
 * npm run alarm -- put --device dev-1 --field temperature --above 30 [--for 10s] [--deadband 0.5] [--name "Freezer warm"]
 * npm run alarm -- put --device dev-1 --silent 5m [--name "Freezer quiet"]
 * npm run alarm -- delete ID
 * npm run alarm -- ack ID --device dev-1
 *
 * Speaks the WebSocket API's alarm frames (README, "Alarms") with a token that carries the `alarms`
 * claim: against the running local stack (its .local-stack.json, LOCAL_AUTH=token), or a deployed
 * one with --stack NAME [--region R] (its WebSocketUrl output and AuthSecretArn, AuthMode=secret).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import WebSocket from 'ws';
import { ALL_DEVICES, fetchSecretString, parseDurationMs, signToken } from '@serverless-iot-dashboard/shared';
import { readStackState } from '../local/stack/stateFile.js';

export const USAGE = `usage: npm run alarm -- list
       npm run alarm -- put --device dev-1 --field temperature (--above N | --below N | --outside LOW,HIGH) [--for 10s] [--deadband N] [--name TEXT]
       npm run alarm -- put --device dev-1 --silent 5m [--name TEXT]
       npm run alarm -- delete RULE_ID
       npm run alarm -- ack RULE_ID --device dev-1
  options: [--stack <stack-name> [--region <region>]] [--sub NAME]`;

const number = (text: string | undefined, flag: string): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${flag} must be a number, got "${text}"`);
  return value;
};

const seconds = (text: string | undefined, flag: string): number | undefined => {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new Error(`--${flag} must be a duration such as 10s, 5m, 1h, got "${text}"`);
  return ms / 1000;
};

/** The frame a command sends (exported for its spec). */
export const frameOf = (args: string[]): Record<string, unknown> => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      device: { type: 'string' },
      field: { type: 'string' },
      above: { type: 'string' },
      below: { type: 'string' },
      outside: { type: 'string' },
      for: { type: 'string' },
      deadband: { type: 'string' },
      silent: { type: 'string' },
      name: { type: 'string' },
      stack: { type: 'string' },
      region: { type: 'string' },
      sub: { type: 'string' },
    },
  });
  const [command, id] = positionals;
  switch (command) {
    case 'list':
      return { action: 'alarms' };
    case 'delete':
      if (!id) throw new Error(`delete needs the rule id\n${USAGE}`);
      return { action: 'deleteAlarmRule', id };
    case 'ack':
      if (!id || !values.device) throw new Error(`ack needs the rule id and --device\n${USAGE}`);
      return { action: 'ackAlarm', ruleId: id, deviceId: values.device };
    case 'put': {
      if (!values.device) throw new Error(`put needs --device (a device id, or '*')\n${USAGE}`);
      const outside = values.outside?.split(',').map((v) => number(v, 'outside'));
      const rule = {
        deviceId: values.device,
        ...(values.field !== undefined ? { field: values.field } : {}),
        ...(values.above !== undefined ? { above: number(values.above, 'above') } : {}),
        ...(values.below !== undefined ? { below: number(values.below, 'below') } : {}),
        ...(outside ? { outside } : {}),
        ...(values.for !== undefined ? { forSeconds: seconds(values.for, 'for') } : {}),
        ...(values.deadband !== undefined ? { deadband: number(values.deadband, 'deadband') } : {}),
        ...(values.silent !== undefined ? { silentSeconds: seconds(values.silent, 'silent') } : {}),
        ...(values.name !== undefined ? { name: values.name } : {}),
      };
      return { action: 'putAlarmRule', rule };
    }
    default:
      throw new Error(USAGE);
  }
};

const target = async (stack: string | undefined, region: string | undefined): Promise<{ url: string; secret: string }> => {
  if (stack) {
    const cfn = new CloudFormationClient({ region });
    const outputs = (await cfn.send(new DescribeStacksCommand({ StackName: stack }))).Stacks?.[0]?.Outputs ?? [];
    const output = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
    const url = output('WebSocketUrl');
    const arn = output('AuthSecretArn');
    if (!url || !arn) throw new Error(`stack ${stack} needs the WebSocketUrl and AuthSecretArn outputs (AuthMode=secret)`);
    return { url, secret: await fetchSecretString(arn, new SecretsManagerClient({ region })) };
  }
  const state = readStackState();
  if (!state?.devSecret) throw new Error('no local stack with a development secret: start it with LOCAL_AUTH=token npm start, or pass --stack <name>');
  return { url: state.endpoints?.websocket ?? state.urls.websocket, secret: state.devSecret };
};

const main = async () => {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.length === 0) {
    console.log(USAGE);
    return;
  }
  const frame = frameOf(args);
  const { values } = parseArgs({ args, allowPositionals: true, strict: false });
  const { url, secret } = await target(values.stack as string | undefined, values.region as string | undefined);
  const token = await signToken({ secret, sub: (values.sub as string | undefined) ?? 'alarm-cli', devices: ALL_DEVICES, alarms: true, ttlSeconds: 300 });
  // ?devices=: subscribe to nothing in particular; the CLI only asks and answers.
  const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}&devices=alarm-cli`, { handshakeTimeout: 10_000 });
  const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer within 15 s')), 15_000);
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify(frame)));
    ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as Record<string, unknown>;
      if (parsed.type === 'telemetry' || parsed.type === 'snapshot') return;
      clearTimeout(timer);
      resolve(parsed);
    });
  });
  ws.close();
  if (reply.type === 'error') throw new Error(`${reply.code}: ${reply.message}`);
  if (reply.type === 'alarms') {
    const rules = reply.rules as Record<string, unknown>[];
    const active = reply.active as Record<string, unknown>[];
    console.log(`${rules.length} rule${rules.length === 1 ? '' : 's'}, ${active.length} active`);
    for (const a of active) console.log(`ACTIVE ${a.state} ${a.deviceId} ${a.ruleId} value=${a.value} since=${new Date(a.since as number).toISOString()}${a.acknowledgedBy ? ` ack=${a.acknowledgedBy}` : ''}`);
    for (const r of rules) console.log(`${r.id}\t${r.deviceId}\t${r.field ?? '(silent)'}\t${JSON.stringify(r)}`);
    return;
  }
  console.log(JSON.stringify(reply));
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(`alarm: ${(error as Error).message}`);
    process.exit(1);
  });
}
