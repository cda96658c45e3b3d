/** The IoT topic rule's target: fan one telemetry message out to its device's subscribers. */
import {
  DEFAULT_MAX_EVENT_AGE_SECONDS,
  alarmClientsFromEnv,
  createDevicesStore,
  createHistoryDeadLetters,
  createHistoryWriter,
  createDocumentClient,
  createFanOutClients,
  createHandOn,
  createLambdaDispatcher,
  createRecipientCache,
  createShardedDelivery,
  createTelemetryHandler,
  eventHandler,
  fanOutConfigFromEnv,
  groupHistoryWrites,
  intEnv,
  logger,
  sqsDeadLetterClient,
} from '@serverless-iot-dashboard/shared/telemetry';

const config = {
  ...fanOutConfigFromEnv(),
  // Recipients one invocation delivers itself; each further batch goes to a FanoutWorkerFunction.
  shardSize: intEnv('FANOUT_SHARD_SIZE', 2000),
  workerFunction: process.env.FANOUT_WORKER_FUNCTION || undefined,
  // A reading older than this is not handed on past a deadline: it is shed, and its recipients get a resync frame.
  maxEventAgeSeconds: intEnv('FANOUT_MAX_EVENT_AGE_SECONDS', DEFAULT_MAX_EVENT_AGE_SECONDS),
  // Each device's latest reading (the snapshot frame); unset, none is kept.
  devicesTableName: process.env.DEVICES_TABLE_NAME || undefined,
  // Every reading and its rollups (docs/decisions/008-rollups.md); unset, none are kept.
  historyTableName: process.env.HISTORY_TABLE_NAME || undefined,
  retentionDays: intEnv('HISTORY_RETENTION_DAYS', 7),
  // A failed history write's readings go here, for npm run redrive (historyDeadLetters.ts); unset, they are only logged.
  deadLetterQueueUrl: process.env.DEAD_LETTER_QUEUE_URL || undefined,
};

const { store, fanOut, counter, closer, doc } = createFanOutClients(config);
const dispatch = config.workerFunction ? createLambdaDispatcher(config.workerFunction) : undefined;

// Recipients cached across warm invocations, re-read when a subscription changes (recipientCache.ts). The first
// invocation of a reading looks them up here; a worker it hands on to resumes from the table (the store).
const recipients = createRecipientCache({ doc, tableName: config.tableName });

const deliver = createShardedDelivery({ fanOut, dispatch, shardSize: config.shardSize, log: logger, counter });
const handOn = createHandOn({ deliver, store, dispatch, maxEventAgeMs: config.maxEventAgeSeconds * 1000, log: logger, counter });

// Device data is stored as sent: numbers past 2^53 too.
const dataDoc = config.devicesTableName || config.historyTableName ? createDocumentClient(undefined, { allowImpreciseNumbers: true }) : undefined;
const devices = config.devicesTableName ? createDevicesStore({ doc: dataDoc!, tableName: config.devicesTableName, retentionDays: config.retentionDays }) : undefined;
// Invocations that arrive together in this container write their readings together (groupedHistoryWrites.ts).
const history = config.historyTableName
  ? groupHistoryWrites(createHistoryWriter({ doc: dataDoc!, tableName: config.historyTableName, retentionDays: config.retentionDays }))
  : undefined;

const historyDeadLetters = config.deadLetterQueueUrl ? createHistoryDeadLetters({ client: sqsDeadLetterClient(), queueUrl: config.deadLetterQueueUrl }) : undefined;

// Alarm rules on each reading, after its fan-out (alarms/alarmEvaluator.ts); an alarm frame reaches the device's recipients.
const alarms = alarmClientsFromEnv({
  doc,
  deliver: (deviceId, body) => fanOut.deliver(recipients.recipientPages(deviceId), body),
  log: logger,
  counter,
  // Checked on every reading against the version this invocation's recipient lookup already read.
  sharedVersion: () => recipients.globalVersion,
});

export const handler = eventHandler(
  createTelemetryHandler({ store: { recipientPages: recipients.recipientPages }, handOn, log: logger, counter, devices, history, historyDeadLetters, closer, alarms: alarms?.evaluator }),
);
