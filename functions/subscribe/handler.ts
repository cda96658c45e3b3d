/** subscribe: add devices to this connection's subscriptions, within its token's scope. */
import { createConnectionStore, createDocumentClient, createSubscribeRoute, logger, requireEnv, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = { tableName: requireEnv('TABLE_NAME') };

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });

export const handler = wsRoute(createSubscribeRoute({ store, log: logger }));
