/** `npm run device -- ...` arguments, validated into SimulatorOptions or a clear UsageError. */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDurationMs } from '@serverless-iot-dashboard/shared/protocol';
import { DEFAULT_BROKER_URL, type SimulatorOptions } from './simulator.js';

export const USAGE = `Usage: npm run device -- [options]

Publishes simulated telemetry to devices/{id}/telemetry.

  --devices N       how many devices (default 3), named dev-1 ... dev-N
  --ids a,b,c       explicit device ids (AWS IoT thing names) instead of --devices
  --prefix P        device id prefix (default dev-)
  --rate R          messages per second, per device (default 1)
  --count N         stop after N messages per device (default: run until Ctrl-C)
  --url URL         broker (default ${DEFAULT_BROKER_URL});
                    mqtts://<your-endpoint>-ats.iot.<region>.amazonaws.com:8883 for AWS IoT Core
  --cert FILE       device certificate (PEM), required with mqtts://
  --key FILE        the certificate's private key (PEM), required with mqtts://
  --ca FILE         Amazon Root CA 1 (PEM), required with mqtts://
  --qos 0|1         MQTT QoS (default 0)
  --drop-every D    each device drops its connection every D (e.g. 60s, 5m) and comes back a
                    second later: presence goes offline (CONNECTION_LOST) and online again
  --seed N          random seed, for repeatable readings
  --quiet           no progress lines
  --help            this text
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

const positiveNumber = (name: string, text: string | undefined, integer: boolean): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'whole number' : 'number'}, got ${JSON.stringify(text)}`);
  }
  return value;
};

export interface DeviceCommand {
  help: boolean;
  quiet: boolean;
  options: SimulatorOptions;
}

export const parseDeviceArgs = (argv: string[]): DeviceCommand => {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        devices: { type: 'string' },
        ids: { type: 'string' },
        prefix: { type: 'string' },
        rate: { type: 'string' },
        count: { type: 'string' },
        url: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        ca: { type: 'string' },
        qos: { type: 'string' },
        seed: { type: 'string' },
        'drop-every': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^.*?: /, '').split('\n')[0] ?? 'invalid arguments');
  }
  if (values.help) return { help: true, quiet: false, options: {} };

  const str = (name: string) => values[name] as string | undefined;
  const url = str('url') ?? DEFAULT_BROKER_URL;
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new UsageError(`--url ${JSON.stringify(url)} is not a URL: use e.g. ${DEFAULT_BROKER_URL}`);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(protocol)) {
    throw new UsageError(`--url must start with mqtt://, mqtts://, ws:// or wss://, got ${JSON.stringify(url)}`);
  }
  for (const name of ['cert', 'key', 'ca']) {
    const file = str(name);
    if (file !== undefined && !existsSync(file)) throw new UsageError(`--${name} ${file}: no such file`);
  }
  if (protocol === 'mqtts:' && (!str('cert') || !str('key'))) {
    throw new UsageError('AWS IoT Core authenticates devices by certificate: --url mqtts://... needs --cert and --key (and usually --ca)');
  }
  const ids = str('ids')
    ?.split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  if (ids !== undefined) {
    if (ids.length === 0) throw new UsageError('--ids names no device');
    if (str('devices') !== undefined) throw new UsageError('give either --devices or --ids, not both');
    const bad = ids.find((id) => !/^[A-Za-z0-9_.:@-]{1,128}$/.test(id));
    if (bad) throw new UsageError(`device id ${JSON.stringify(bad)} is invalid: use letters, digits and _ . : @ - (no / + #)`);
  }
  const prefix = str('prefix');
  if (prefix !== undefined && !/^[A-Za-z0-9_.:@-]{0,100}$/.test(prefix)) throw new UsageError(`--prefix ${JSON.stringify(prefix)} may only contain letters, digits and _ . : @ -`);
  const qos = str('qos');
  if (qos !== undefined && qos !== '0' && qos !== '1') throw new UsageError('--qos must be 0 or 1 (AWS IoT Core does not support QoS 2)');
  const dropEvery = str('drop-every');
  const dropEveryMs = dropEvery === undefined ? undefined : parseDurationMs(dropEvery);
  if (dropEvery !== undefined && (dropEveryMs === undefined || dropEveryMs < 2000)) {
    throw new UsageError(`--drop-every must be a duration of at least 2s (e.g. 60s, 5m), got ${JSON.stringify(dropEvery)}`);
  }
  const seed = str('seed');
  if (seed !== undefined && !/^\d+$/.test(seed)) throw new UsageError(`--seed must be a whole number, got ${JSON.stringify(seed)}`);

  return {
    help: false,
    quiet: values.quiet === true,
    options: {
      url,
      devices: positiveNumber('devices', str('devices'), true),
      ids,
      prefix,
      rate: positiveNumber('rate', str('rate'), false),
      count: positiveNumber('count', str('count'), true),
      cert: str('cert'),
      key: str('key'),
      ca: str('ca'),
      qos: qos === undefined ? undefined : (Number(qos) as 0 | 1),
      seed: seed === undefined ? undefined : Number(seed),
      ...(dropEveryMs === undefined ? {} : { dropEveryMs }),
    },
  };
};
