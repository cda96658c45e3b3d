/**
 * npm run token -- --sub alice --devices dev-1,dev-2 --ttl 1h [--publish] [--alarms]
 *   Locally: signs with the local stack's development secret (LOCAL_AUTH_SECRET,
 *   or the secret a running `npm start` wrote to .local-stack.json).
 *   Against AWS: --stack NAME [--region R] reads the secret from Secrets Manager
 *   through the stack's AuthSecretArn output.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ALL_DEVICES,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  MAX_SCOPE_DEVICES,
  fetchSecretString,
  parseDuration,
  signToken,
  validateDeviceSelection,
} from '@serverless-iot-dashboard/shared';
import { PROJECT_ROOT } from './template.js';

const USAGE = `usage: npm run token -- --sub <name> --devices dev-1,dev-2 | --devices '*' [--ttl 1h] [--publish] [--alarms]
                      [--stack <stack-name> [--region <region>]] [--issuer ...] [--audience ...]`;

const localSecret = (): string | undefined => {
  if (process.env.LOCAL_AUTH_SECRET) return process.env.LOCAL_AUTH_SECRET;
  const state = join(PROJECT_ROOT, '.local-stack.json');
  if (!existsSync(state)) return undefined;
  const running = JSON.parse(readFileSync(state, 'utf8')) as { devSecret?: string; oidcIssuer?: string };
  if (!running.devSecret && running.oidcIssuer) {
    throw new Error('the running stack signs people in (LOCAL_AUTH=oidc, the default): sign in on the dashboard, or restart it with LOCAL_AUTH=token npm start for npm run token');
  }
  return running.devSecret;
  return undefined;
};

const stackSecret = async (stack: string, region?: string): Promise<string> => {
  const cfn = new CloudFormationClient({ region });
  const out = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
  const arn = out.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'AuthSecretArn')?.OutputValue;
  if (!arn) throw new Error(`stack ${stack} has no AuthSecretArn output (is it deployed with AuthMode=secret?)`);
  return fetchSecretString(arn, new SecretsManagerClient({ region }));
};

const main = async () => {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      // No default: a token for every device must be asked for by name (--devices '*').
      devices: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      publish: { type: 'boolean', default: false },
      alarms: { type: 'boolean', default: false },
      stack: { type: 'string' },
      region: { type: 'string' },
      issuer: { type: 'string', default: DEFAULT_ISSUER },
      audience: { type: 'string', default: DEFAULT_AUDIENCE },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.sub) throw new Error(`--sub is required\n${USAGE}`);
  if (!values.devices) {
    throw new Error(`--devices is required: the devices the token may receive, e.g. --devices dev-1,dev-2 (at most ${MAX_SCOPE_DEVICES}), or --devices '*' for every device\n${USAGE}`);
  }
  const devices = validateDeviceSelection(values.devices === ALL_DEVICES ? ALL_DEVICES : values.devices.split(',').map((d) => d.trim()), {
    max: MAX_SCOPE_DEVICES,
    per: 'token',
  });
  const secret = values.stack ? await stackSecret(values.stack, values.region) : localSecret();
  if (!secret) {
    throw new Error('no secret: start the local stack (npm start) first, set LOCAL_AUTH_SECRET, or pass --stack <name> for a deployed stack');
  }
  const token = await signToken({
    secret,
    sub: values.sub,
    devices,
    publish: values.publish,
    alarms: values.alarms,
    ttlSeconds: parseDuration(values.ttl!),
    issuer: values.issuer,
    audience: values.audience,
  });
  process.stdout.write(`${token}\n`);
};

main().catch((error) => {
  console.error(`token: ${(error as Error).message}`);
  process.exit(1);
});
