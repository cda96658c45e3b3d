/** $connect: store the connection with the scope its token grants. */
import { createConnectRoute, createConnectionStore, createDocumentClient, logger, optionalEnv, requireEnv, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  // Only the local stack's AUTH=off sets this to false; on AWS the authorizer always runs first.
  requireAuth: optionalEnv('REQUIRE_AUTH', 'true') !== 'false',
};

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });

export const handler = wsRoute(createConnectRoute({ store, log: logger, requireAuth: config.requireAuth }));
