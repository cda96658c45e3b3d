/** FanoutMode=coalesced: the SQS event source mapping's target; fans each batch of readings out as telemetry-batch frames. */
import {
  alarmClientsFromEnv,
  createDevicesStore,
  createHistoryDeadLetters,
  createHistoryWriter,
  createFanOut,
  createDocumentClient,
  createFanOutClients,
  createRecipientCache,
  createTelemetryBatchHandler,
  eventHandler,
  fanOutConfigFromEnv,
  intEnv,
  logger,
  sqsDeadLetterClient,
} from '@serverless-iot-dashboard/shared/telemetry';

const config = {
  ...fanOutConfigFromEnv(),
  // Each device's latest reading (the snapshot frame); unset, none is kept.
  devicesTableName: process.env.DEVICES_TABLE_NAME || undefined,
  // Every reading and its rollups (docs/decisions/008-rollups.md); unset, none are kept.
  historyTableName: process.env.HISTORY_TABLE_NAME || undefined,
  retentionDays: intEnv('HISTORY_RETENTION_DAYS', 7),
  // A failed history write's readings go here, for npm run redrive (historyDeadLetters.ts); unset, they are only logged.
  deadLetterQueueUrl: process.env.DEAD_LETTER_QUEUE_URL || undefined,
};

const { store, counter, post, doc } = createFanOutClients(config);

// One lookup per batch for all its devices, cached across warm invocations (recipientCache.ts).
const recipients = createRecipientCache({ doc, tableName: config.tableName });

// Device data is stored as sent: numbers past 2^53 too.
const dataDoc = config.devicesTableName || config.historyTableName ? createDocumentClient(undefined, { allowImpreciseNumbers: true }) : undefined;
const devices = config.devicesTableName ? createDevicesStore({ doc: dataDoc!, tableName: config.devicesTableName, retentionDays: config.retentionDays }) : undefined;
const history = config.historyTableName ? createHistoryWriter({ doc: dataDoc!, tableName: config.historyTableName, retentionDays: config.retentionDays }) : undefined;

const historyDeadLetters = config.deadLetterQueueUrl ? createHistoryDeadLetters({ client: sqsDeadLetterClient(), queueUrl: config.deadLetterQueueUrl }) : undefined;

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
  createTelemetryBatchHandler({ lookup: recipients.lookup, store, post, log: logger, counter, concurrency: config.concurrency, devices, history, historyDeadLetters, alarms: alarms?.evaluator }),
);
