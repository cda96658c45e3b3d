/**
 * The target of PresenceConnectedRule and PresenceDisconnectedRule: IoT Core's lifecycle events in, each
 * device's presence kept, a `presence` frame out to every connection that can see the device. The device id
 * is the MQTT client id (docs/decisions/013-presence.md; docs/asyncapi.yaml, channels.presenceConnected).
 */
import {
  createDocumentClient,
  createFanOutClients,
  createPresenceHandler,
  createPresenceStore,
  eventHandler,
  fanOutConfigFromEnv,
  intEnv,
  logger,
  requireEnv,
} from '@serverless-iot-dashboard/shared/telemetry';

const config = {
  ...fanOutConfigFromEnv(),
  devicesTableName: requireEnv('DEVICES_TABLE_NAME'),
  retentionDays: intEnv('HISTORY_RETENTION_DAYS', 7),
};

const { store, fanOut, counter } = createFanOutClients(config);
const presence = createPresenceStore({ doc: createDocumentClient(), tableName: config.devicesTableName, retentionDays: config.retentionDays });

export const handler = eventHandler(createPresenceHandler({ presence, store, fanOut, log: logger, counter }));
