/** putAlarmRule, deleteAlarmRule, alarms, ackAlarm: alarm rules and their states, scoped by the connection's token. */
import {
  alarmClientsFromEnv,
  createAlarmRoutes,
  createConnectionStore,
  createDocumentClient,
  createFanOut,
  createSignedPoster,
  logger,
  metricsCounter,
  requireEnv,
  wsRoute,
} from '@serverless-iot-dashboard/shared/alarms';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  alarmsTableName: requireEnv('ALARMS_TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
};

const doc = createDocumentClient();
const store = createConnectionStore({ doc, tableName: config.tableName });
const post = createSignedPoster({ endpoint: config.endpoint, region: config.region, maxSockets: 8 });
const counter = metricsCounter();
const fanOut = createFanOut({ store, post, log: logger, counter, concurrency: 8 });
// An acknowledgement's alarm frame goes to every connection that can see the device.
const deliver = (deviceId: string, body: string) => fanOut.deliver(store.recipientPages(deviceId), body);
const alarms = alarmClientsFromEnv({ doc, deliver, log: logger, counter })!;

export const handler = wsRoute(createAlarmRoutes({ store, alarms: alarms.store, log: logger, deliver }));
