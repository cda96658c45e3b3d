/** Delivers one shard of a large fan-out, handed over by the telemetry function (async invoke). */
import { createFanOutClients, createFanoutWorkerHandler, eventHandler, fanOutConfigFromEnv, logger } from '@serverless-iot-dashboard/shared/telemetry';

const config = fanOutConfigFromEnv();

// The store is only used to delete connections that answer 410.
const { fanOut, counter } = createFanOutClients(config);

export const handler = eventHandler(createFanoutWorkerHandler({ fanOut, log: logger, counter }));
