/** message: broadcast a client's data to the other connections subscribed to every device. */
import { randomUUID } from 'node:crypto';
import {
  createConnectionStore,
  createDocumentClient,
  createFanOut,
  createManagementClient,
  createMessageRoute,
  intEnv,
  logger,
  metricsCounter,
  requireEnv,
  sdkPoster,
  wsRoute,
} from '@serverless-iot-dashboard/shared';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  concurrency: intEnv('FANOUT_CONCURRENCY', 64),
};

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });
// Not wrapped by the tracer: one X-Ray subsegment per post would cost more than the post.
const management = createManagementClient({ endpoint: config.endpoint, maxSockets: config.concurrency });
const fanOut = createFanOut({ store, post: sdkPoster(management), log: logger, counter: metricsCounter(), concurrency: config.concurrency });

export const handler = wsRoute(createMessageRoute({ store, fanOut, log: logger, newId: randomUUID }));
