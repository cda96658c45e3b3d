/** Delivers one shard of a large fan-out, handed over by the telemetry function (async invoke). */
import {
  createConnectionStore,
  createDocumentClient,
  createFanOut,
  createFanoutWorkerHandler,
  createSignedPoster,
  eventHandler,
  intEnv,
  logger,
  metricsCounter,
  requireEnv,
} from '@serverless-iot-dashboard/shared/telemetry';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
  concurrency: intEnv('FANOUT_CONCURRENCY', 64),
};

// The store is only used to delete connections that answer 410.
const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });
const post = createSignedPoster({ endpoint: config.endpoint, region: config.region, maxSockets: config.concurrency });
const counter = metricsCounter();
const fanOut = createFanOut({ store, post, log: logger, counter, concurrency: config.concurrency });

export const handler = eventHandler(createFanoutWorkerHandler({ fanOut, log: logger, counter }));
