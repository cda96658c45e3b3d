/** FanoutMode=coalesced: the SQS event source mapping's target; fans each batch of readings out as telemetry-batch frames. */
import {
  alarmClientsFromEnv,
  createDevicesStore,
  createFanOut,
  createDocumentClient,
  createFanOutClients,
  createRecipientCache,
  createTelemetryBatchHandler,
  eventHandler,
  fanOutConfigFromEnv,
  intEnv,
  logger,
} from '@serverless-iot-dashboard/shared/telemetry';

const config = {
  ...fanOutConfigFromEnv(),
  // Each device's latest reading (the snapshot frame); unset, none is kept.
  devicesTableName: process.env.DEVICES_TABLE_NAME || undefined,
  retentionDays: intEnv('HISTORY_RETENTION_DAYS', 7),
};

const { store, counter, post, doc } = createFanOutClients(config);

// One lookup per batch for all its devices, cached across warm invocations (recipientCache.ts).
const recipients = createRecipientCache({ doc, tableName: config.tableName });

const devices = config.devicesTableName
  ? createDevicesStore({ doc: createDocumentClient(undefined, { allowImpreciseNumbers: true }), tableName: config.devicesTableName, retentionDays: config.retentionDays })
  : undefined;

// Alarm rules on each batch, after its fan-out (alarms/alarmEvaluator.ts); an alarm frame reaches the device's recipients.
const alarmFanOut = createFanOut({ store, post, log: logger, counter, concurrency: config.concurrency });
const alarms = alarmClientsFromEnv({
  doc,
  deliver: (deviceId, body) => alarmFanOut.deliver(recipients.recipientPages(deviceId), body),
  log: logger,
  counter,
  // Checked on every batch against the version this batch's recipient lookup already read.
  sharedVersion: () => recipients.globalVersion,
});

export const handler = eventHandler(
  createTelemetryBatchHandler({ lookup: recipients.lookup, store, post, log: logger, counter, concurrency: config.concurrency, devices, alarms: alarms?.evaluator }),
);
