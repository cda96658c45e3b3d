/** message: broadcast a client's data to the other connections subscribed to every device. */
import { randomUUID } from 'node:crypto';
import { createFanOutClients, createMessageRoute, createRateLimiter, fanOutConfigFromEnv, intEnv, logger, wsRoute } from '@serverless-iot-dashboard/shared/routes';

const config = {
  ...fanOutConfigFromEnv(),
  // Per token holder (sub), across all its connections: MessageRatePerMinute / MessageBurst in template.yaml.
  ratePerMinute: intEnv('MESSAGE_RATE_PER_MINUTE', 60),
  burst: intEnv('MESSAGE_BURST', 10),
};

const { store, fanOut, closer, doc } = createFanOutClients(config);
const limiter = createRateLimiter({ doc, tableName: config.tableName, name: 'message', perMinute: config.ratePerMinute, burst: config.burst });

export const handler = wsRoute(createMessageRoute({ store, fanOut, log: logger, newId: randomUUID, closer, limiter }));
