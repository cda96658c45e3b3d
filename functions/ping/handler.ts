/** ping: heartbeat; extends the connection's TTL and answers pong. */
import { createConnectionStore, createDocumentClient, createPingRoute, logger, requireEnv, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = { tableName: requireEnv('TABLE_NAME') };

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });

export const handler = wsRoute(createPingRoute({ store, log: logger }));
