/** message: broadcast a client's data to the other connections subscribed to every device. */
import { randomUUID } from 'node:crypto';
import { createFanOutClients, createMessageRoute, fanOutConfigFromEnv, logger, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = fanOutConfigFromEnv();

const { store, fanOut, closer } = createFanOutClients(config);

export const handler = wsRoute(createMessageRoute({ store, fanOut, log: logger, newId: randomUUID, closer }));
