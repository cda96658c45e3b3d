/** $disconnect: remove the connection and all its subscriptions. */
import { createConnectionStore, createDisconnectRoute, createDocumentClient, logger, requireEnv, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = { tableName: requireEnv('TABLE_NAME') };

// API Gateway never retries a $disconnect and no client waits for it, so its requests get more attempts
// than a route's 4: a removal given up half-way leaves a connection item until the TTL (2 h) ends it.
// 6: under 30 % throttling a request then fails once in 1,400 (0.3^6) instead of once in 120 (0.3^4);
// the SDK's throttling backoff before the sixth attempt averages 15.5 s, inside the 30 s timeout.
const DISCONNECT_MAX_ATTEMPTS = 6;

const store = createConnectionStore({ doc: createDocumentClient(undefined, { maxAttempts: DISCONNECT_MAX_ATTEMPTS }), tableName: config.tableName });

export const handler = wsRoute(createDisconnectRoute({ store, log: logger }));
