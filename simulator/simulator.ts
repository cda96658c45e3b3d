/**
 * Simulated devices: each is its own MQTT client (client id = thing name =
 * device id, as the template's DevicePolicy requires on AWS) publishing JSON
 * telemetry to devices/{id}/telemetry at a steady rate.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type TelemetryReading, createDeviceModel } from './telemetry.js';

export interface SimulatorOptions {
  /** mqtt://localhost:1883 by default; mqtts://<endpoint>:8883 for AWS IoT Core. */
  url?: string;
  /** How many devices, named `${prefix}1` ... (ignored when `ids` is given). */
  devices?: number;
  ids?: string[];
  prefix?: string;
  /** Messages per second, per device. */
  rate?: number;
  /** Stop each device after this many messages. */
  count?: number;
  /** PEM file paths (or contents) for mutual TLS with AWS IoT Core. */
  cert?: string | Buffer;
  key?: string | Buffer;
  ca?: string | Buffer;
  qos?: 0 | 1;
  seed?: number;
  topic?: (deviceId: string) => string;
  /** Give up if the first connection fails within this time. */
  connectTimeoutMs?: number;
  /**
   * Every this many ms each device drops its connection (the socket destroyed, no DISCONNECT: IoT Core says
   * CONNECTION_LOST) and mqtt.js brings it back a second later. Devices are staggered across the period.
   */
  dropEveryMs?: number;
  log?: (line: string) => void;
  /**
   * Readings the devices "sent" before they started: `ms` of them at `rate`, from the same model the
   * live readings continue (seq and values carry on), handed to `write` per device before the first publish.
   */
  backfill?: { ms: number; write: (deviceId: string, readings: TelemetryReading[]) => Promise<void> };
}

export interface Simulator {
  readonly devices: string[];
  readonly published: number;
  /** Resolves when every device has sent `count` messages (never, without `count`). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_BROKER_URL = 'mqtt://localhost:1883';

const pem = (value: string | Buffer | undefined): Buffer | undefined =>
  value === undefined ? undefined : Buffer.isBuffer(value) ? value : value.includes('-----BEGIN') ? Buffer.from(value) : readFileSync(value);

export const telemetryTopic = (deviceId: string) => `devices/${deviceId}/telemetry`;

/** Connects every device, then publishes until stopped. Rejects with a clear message if the broker cannot be reached. */
export const startSimulator = async (options: SimulatorOptions = {}): Promise<Simulator> => {
  const {
    url = DEFAULT_BROKER_URL,
    devices: deviceCount = 3,
    prefix = 'dev-',
    rate = 1,
    count,
    qos = 0,
    seed = Date.now() & 0xffff,
    topic = telemetryTopic,
    connectTimeoutMs = 5000,
    log = () => undefined,
  } = options;
  if (!(rate > 0) || !Number.isFinite(rate)) throw new Error(`rate must be a positive number of messages per second, got ${rate}`);
  const ids = options.ids ?? Array.from({ length: deviceCount }, (_, i) => `${prefix}${i + 1}`);
  const tls = { cert: pem(options.cert), key: pem(options.key), ca: pem(options.ca) };

  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  let published = 0;
  let finished = 0;
  let stopped = false;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  const connectOne = (deviceId: string) =>
    new Promise<MqttClient>((resolve, reject) => {
      const clientOptions: IClientOptions = {
        clientId: deviceId,
        clean: true,
        reconnectPeriod: 1000,
        connectTimeout: connectTimeoutMs,
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.ca ? { ca: tls.ca } : {}),
      };
      const client = mqtt.connect(url, clientOptions);
      clients.push(client);
      const timer = setTimeout(() => fail(new Error(`no answer from ${url} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        client.end(true);
        reject(error);
      };
      client.once('connect', () => {
        clearTimeout(timer);
        client.on('error', (error) => log(`${deviceId}: ${error.message}`));
        resolve(client);
      });
      client.once('error', fail);
    });

  try {
    await Promise.all(ids.map(connectOne));
  } catch (error) {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(`cannot connect to ${url}: ${reason}`);
  }

  const intervalMs = 1000 / rate;
  const models = ids.map((_, index) => createDeviceModel(seed + index * 7919));
  if (options.backfill && options.backfill.ms > 0) {
    const { ms, write } = options.backfill;
    const now = Date.now();
    try {
      await Promise.all(
        ids.map((deviceId, index) => {
          const readings: TelemetryReading[] = [];
          for (let at = now - ms; at < now; at += intervalMs) readings.push(models[index]!.next(Math.round(at)));
          return write(deviceId, readings);
        }),
      );
    } catch (error) {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      throw error;
    }
  }
  ids.forEach((deviceId, index) => {
    const client = clients[index] as MqttClient;
    const model = models[index]!;
    let sent = 0;
    const publish = () => {
      if (stopped) return;
      if (!client.connected) return; // mqtt.js reconnects by itself; readings during the gap are skipped, as a device's would be
      const reading = model.next(Date.now());
      client.publish(topic(deviceId), JSON.stringify(reading), { qos });
      published++;
      sent++;
      if (count !== undefined && sent >= count) {
        clearInterval(timer);
        if (++finished === ids.length) resolveDone();
      }
    };
    // Devices are staggered across the interval, as real ones would be.
    const timer = setInterval(publish, intervalMs);
    timers.push(timer);
    const dropEveryMs = options.dropEveryMs;
    if (dropEveryMs !== undefined && dropEveryMs > 0) {
      const drop = () => {
        if (stopped || !client.connected) return;
        options.log?.(`${deviceId}: dropping the connection (it comes back in a second)`);
        client.stream.destroy();
      };
      const staggered = setTimeout(() => {
        drop();
        timers.push(setInterval(drop, dropEveryMs));
      }, dropEveryMs * ((index + 1) / ids.length));
      timers.push(staggered);
    }
    const first = setTimeout(publish, (intervalMs * index) / ids.length);
    timers.push(first);
  });
  if (count === 0 || ids.length === 0) resolveDone();

  return {
    devices: ids,
    get published() {
      return published;
    },
    done,
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
      resolveDone();
    },
  };
};
