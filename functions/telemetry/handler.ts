/** The IoT topic rule's target: fan one telemetry message out to its device's subscribers. */
import {
  createDevicesStore,
  createDocumentClient,
  createFanOutClients,
  createLambdaDispatcher,
  createRecipientCache,
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
  // Each device's latest reading (the snapshot frame); unset, none is kept.
  devicesTableName: process.env.DEVICES_TABLE_NAME || undefined,
  retentionDays: intEnv('HISTORY_RETENTION_DAYS', 7),
};

const { store, fanOut, counter, closer, doc } = createFanOutClients(config);

// Recipients cached across warm invocations, re-read when a subscription changes (recipientCache.ts).
const recipients = createRecipientCache({ doc, tableName: config.tableName });

const deliver = createShardedDelivery({
  fanOut,
  dispatch: config.workerFunction ? createLambdaDispatcher(config.workerFunction) : undefined,
  shardSize: config.shardSize,
  log: logger,
  counter,
});

const devices = config.devicesTableName
  ? createDevicesStore({ doc: createDocumentClient(undefined, { allowImpreciseNumbers: true }), tableName: config.devicesTableName, retentionDays: config.retentionDays })
  : undefined;

export const handler = eventHandler(
  createTelemetryHandler({ store: { ...store, recipientPages: recipients.recipientPages }, deliver, log: logger, counter, devices, closer }),
);
