/** unsubscribe: remove devices from this connection's subscriptions. */
import { createConnectionStore, createDocumentClient, createUnsubscribeRoute, logger, requireEnv, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = { tableName: requireEnv('TABLE_NAME') };

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });

export const handler = wsRoute(createUnsubscribeRoute({ store, log: logger }));
