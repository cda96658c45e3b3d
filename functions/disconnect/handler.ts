/** $disconnect: remove the connection and all its subscriptions. */
import { createConnectionStore, createDisconnectRoute, createDocumentClient, logger, requireEnv, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = { tableName: requireEnv('TABLE_NAME') };

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });

export const handler = wsRoute(createDisconnectRoute({ store, log: logger }));
