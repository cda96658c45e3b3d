/** The IoT topic rule's target: fan one telemetry message out to its device's subscribers. */
import {
  createConnectionStore,
  createDocumentClient,
  createFanOut,
  createLambdaDispatcher,
  createShardedDelivery,
  createSignedPoster,
  createTelemetryHandler,
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
  // Recipients one invocation delivers itself; each further batch goes to a FanoutWorkerFunction.
  shardSize: intEnv('FANOUT_SHARD_SIZE', 2000),
  workerFunction: process.env.FANOUT_WORKER_FUNCTION || undefined,
};

const store = createConnectionStore({ doc: createDocumentClient(), tableName: config.tableName });
// SigV4 over a keep-alive pool, not the SDK client: a fifth of the CPU per post (see bench/).
// Not traced per post: one X-Ray subsegment per post would cost more than the post.
const post = createSignedPoster({ endpoint: config.endpoint, region: config.region, maxSockets: config.concurrency });
const counter = metricsCounter();
const fanOut = createFanOut({ store, post, log: logger, counter, concurrency: config.concurrency });

const deliver = createShardedDelivery({
  fanOut,
  dispatch: config.workerFunction ? createLambdaDispatcher(config.workerFunction) : undefined,
  shardSize: config.shardSize,
  log: logger,
  counter,
});

export const handler = eventHandler(createTelemetryHandler({ store, deliver, log: logger, counter }));
