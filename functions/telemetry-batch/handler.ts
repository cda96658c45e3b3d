/** FanoutMode=coalesced: the SQS event source mapping's target; fans each batch of readings out as telemetry-batch frames. */
import {
  createFanOutClients,
  createRecipientCache,
  createTelemetryBatchHandler,
  eventHandler,
  fanOutConfigFromEnv,
  logger,
} from '@serverless-iot-dashboard/shared/telemetry';

const config = fanOutConfigFromEnv();

const { store, counter, post, doc } = createFanOutClients(config);

// One lookup per batch for all its devices, cached across warm invocations (recipientCache.ts).
const recipients = createRecipientCache({ doc, tableName: config.tableName });

export const handler = eventHandler(
  createTelemetryBatchHandler({ lookup: recipients.lookup, store, post, log: logger, counter, concurrency: config.concurrency }),
);
