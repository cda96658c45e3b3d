/** message: broadcast a client's data to the other connections subscribed to every device. */
import { randomUUID } from 'node:crypto';
import {
  createConnectionStore,
  createDocumentClient,
  createFanOut,
  createSignedPoster,
  createMessageRoute,
  intEnv,
  logger,
  metricsCounter,
  requireEnv,
  wsRoute,
} from '@serverless-iot-dashboard/shared/routes';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
  concurrency: intEnv('FANOUT_CONCURRENCY', 64),
};

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });
// SigV4 over a keep-alive pool, not the SDK client: a fifth of the CPU per post (see bench/).
// Not traced per post: one X-Ray subsegment per post would cost more than the post.
const post = createSignedPoster({ endpoint: config.endpoint, region: config.region, maxSockets: config.concurrency });
const fanOut = createFanOut({ store, post, log: logger, counter: metricsCounter(), concurrency: config.concurrency });

export const handler = wsRoute(createMessageRoute({ store, fanOut, log: logger, newId: randomUUID }));
