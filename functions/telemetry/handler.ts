/** The IoT topic rule's target: fan one telemetry message out to its device's subscribers. */
import {
  createConnectionStore,
  createDocumentClient,
  createFanOut,
  createManagementClient,
  createTelemetryHandler,
  eventHandler,
  intEnv,
  logger,
  metricsCounter,
  requireEnv,
  sdkPoster,
} from '@serverless-iot-dashboard/shared';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  concurrency: intEnv('FANOUT_CONCURRENCY', 64),
};

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });
// Not wrapped by the tracer: one X-Ray subsegment per post would cost more than the post.
const management = createManagementClient({ endpoint: config.endpoint, maxSockets: config.concurrency });
const counter = metricsCounter();
const fanOut = createFanOut({ store, post: sdkPoster(management), log: logger, counter, concurrency: config.concurrency });

export const handler = eventHandler(createTelemetryHandler({ store, fanOut, log: logger, counter }));
