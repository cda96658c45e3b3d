/** Scheduled: closes (DeleteConnection) every connection past its token's exp, idle ones included. */
import {
  createConnectionCloser,
  createConnectionStore,
  createDocumentClient,
  createExpirySweep,
  createExpirySweepHandler,
  createLazyDisconnector,
  eventHandler,
  logger,
  metricsCounter,
  requireEnv,
} from '@serverless-iot-dashboard/shared/routes';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
};

const doc = createDocumentClient();
const store = createConnectionStore({ doc, tableName: config.tableName });
const closer = createConnectionCloser({ disconnect: createLazyDisconnector(config.endpoint, config.region), store, log: logger, counter: metricsCounter() });
const sweep = createExpirySweep({ doc, tableName: config.tableName, closer, log: logger });

export const handler = eventHandler(createExpirySweepHandler({ sweep, log: logger }));
