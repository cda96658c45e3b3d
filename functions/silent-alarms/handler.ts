/** Scheduled: publishes the alarm notifications left in the outbox, and raises silent alarm rules for devices that sent nothing for the rule's window. */
import {
  alarmClientsFromEnv,
  createConnectionStore,
  createDevicesStore,
  createDocumentClient,
  createFanOut,
  createSignedPoster,
  createSilentSweep,
  devicesLastSeen,
  eventHandler,
  logger,
  metricsCounter,
  requireEnv,
} from '@serverless-iot-dashboard/shared/alarms';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  alarmsTableName: requireEnv('ALARMS_TABLE_NAME'),
  devicesTableName: requireEnv('DEVICES_TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
};

const doc = createDocumentClient();
const store = createConnectionStore({ doc, tableName: config.tableName });
const counter = metricsCounter();
const fanOut = createFanOut({ store, post: createSignedPoster({ endpoint: config.endpoint, region: config.region, maxSockets: 8 }), log: logger, counter, concurrency: 8 });
const deliver = (deviceId: string, body: string) => fanOut.deliver(store.recipientPages(deviceId), body);
const alarms = alarmClientsFromEnv({ doc, deliver, log: logger, counter })!;
const devices = devicesLastSeen(createDevicesStore({ doc: createDocumentClient(undefined, { allowImpreciseNumbers: true }), tableName: config.devicesTableName }));

const sweep = createSilentSweep({ store: alarms.store, evaluator: alarms.evaluator, emit: alarms.emit, redeliver: alarms.redeliver, devices, log: logger });

export const handler = eventHandler(() => sweep());
