/**
 * Delivers a shard of a large fan-out, or the rest of one that ran short of
 * time, handed over by the telemetry function or by another worker (async
 * invoke); hands on what its own deadline leaves, to this same function.
 */
import {
  DEFAULT_MAX_EVENT_AGE_SECONDS,
  createFanOutClients,
  createFanoutWorkerHandler,
  createHandOn,
  createLambdaDispatcher,
  createShardedDelivery,
  eventHandler,
  fanOutConfigFromEnv,
  intEnv,
  logger,
} from '@serverless-iot-dashboard/shared/telemetry';

const config = {
  ...fanOutConfigFromEnv(),
  shardSize: intEnv('FANOUT_SHARD_SIZE', 2000),
  // This function itself, by the name Lambda gives it at run time (a !Ref to itself in its own environment would be
  // a circular dependency, and CloudFormation names the function). FANOUT_WORKER_FUNCTION, if set, wins.
  workerFunction: process.env.FANOUT_WORKER_FUNCTION || process.env.AWS_LAMBDA_FUNCTION_NAME || undefined,
  maxEventAgeSeconds: intEnv('FANOUT_MAX_EVENT_AGE_SECONDS', DEFAULT_MAX_EVENT_AGE_SECONDS),
};

// The store resumes recipient lookups from a cursor and deletes connections that answer 410.
const { store, fanOut, counter } = createFanOutClients(config);
const dispatch = config.workerFunction ? createLambdaDispatcher(config.workerFunction) : undefined;

const deliver = createShardedDelivery({ fanOut, dispatch, shardSize: config.shardSize, log: logger, counter });
const handOn = createHandOn({ deliver, store, dispatch, maxEventAgeMs: config.maxEventAgeSeconds * 1000, log: logger, counter });

export const handler = eventHandler(createFanoutWorkerHandler({ handOn, log: logger, counter }));
