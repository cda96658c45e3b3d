/** devices: a snapshot frame with the latest reading of every device this connection subscribes to. */
import {
  createConnectionStore,
  createDevicesRoute,
  createDevicesStore,
  createDocumentClient,
  createRateLimiter,
  createSignedPoster,
  intEnv,
  logger,
  requireEnv,
  wsRoute,
} from '@serverless-iot-dashboard/shared/routes';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  devicesTableName: requireEnv('DEVICES_TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
  // Per token holder (sub), across its connections: HistoryRatePerMinute / HistoryBurst in template.yaml.
  ratePerMinute: intEnv('DEVICES_RATE_PER_MINUTE', 600),
  burst: intEnv('DEVICES_BURST', 200),
};

const doc = createDocumentClient();
const store = createConnectionStore({ doc, tableName: config.tableName });
const devices = createDevicesStore({ doc, tableName: config.devicesTableName });
const limiter = createRateLimiter({ doc, tableName: config.tableName, name: 'devices', perMinute: config.ratePerMinute, burst: config.burst });
const post = createSignedPoster({ endpoint: config.endpoint, region: config.region, maxSockets: 2 });

export const handler = wsRoute(createDevicesRoute({ store, devices, post, log: logger, limiter }));
