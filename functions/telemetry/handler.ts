/** The IoT topic rule's target: fan one telemetry message out to its device's subscribers. */
import {
  createFanOutClients,
  createLambdaDispatcher,
  createShardedDelivery,
  createTelemetryHandler,
  eventHandler,
  fanOutConfigFromEnv,
  intEnv,
  logger,
} from '@serverless-iot-dashboard/shared/telemetry';

const config = {
  ...fanOutConfigFromEnv(),
  // Recipients one invocation delivers itself; each further batch goes to a FanoutWorkerFunction.
  shardSize: intEnv('FANOUT_SHARD_SIZE', 2000),
  workerFunction: process.env.FANOUT_WORKER_FUNCTION || undefined,
};

const { store, fanOut, counter, closer } = createFanOutClients(config);

const deliver = createShardedDelivery({
  fanOut,
  dispatch: config.workerFunction ? createLambdaDispatcher(config.workerFunction) : undefined,
  shardSize: config.shardSize,
  log: logger,
  counter,
});

export const handler = eventHandler(createTelemetryHandler({ store, deliver, log: logger, counter, closer }));
