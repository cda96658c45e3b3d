/** $connect: store the connection with the scope its token grants. */
import { createConnectRoute, createConnectionStore, createDocumentClient, createHolderConnections, intEnv, logger, optionalEnv, requireEnv, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  // Only the local stack's AUTH=off sets this to false; on AWS the authorizer always runs first.
  requireAuth: optionalEnv('REQUIRE_AUTH', 'true') !== 'false',
  // MaxConnectionsPerUser: live connections per token holder (sub); 0 turns the cap off.
  maxConnectionsPerUser: intEnv('MAX_CONNECTIONS_PER_USER', 20),
};

const doc = createDocumentClient();
const store = createConnectionStore({ doc, tableName: config.tableName });
const holders = createHolderConnections({ doc, tableName: config.tableName, max: config.maxConnectionsPerUser });

export const handler = wsRoute(createConnectRoute({ store, log: logger, requireAuth: config.requireAuth, holders }));
