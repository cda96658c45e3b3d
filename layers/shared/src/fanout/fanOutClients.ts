/**
 * The fan-out's configuration and clients, shared by every function that
 * posts to connections (message, telemetry, fan-out worker), built once per
 * container at module scope.
 */
import { createDocumentClient } from '../runtime/clients.js';
import { intEnv, requireEnv } from '../runtime/config.js';
import { createConnectionCloser, createLazyDisconnector } from '../connections/connectionExpiry.js';
import { createConnectionStore } from '../store/connectionStore.js';
import { createFanOut } from './fanOut.js';
import { logger, metricsCounter } from '../runtime/observability.js';
import { createSignedPoster } from './signedPoster.js';

export interface FanOutConfig {
  tableName: string;
  /** The @connections endpoint: https://{api}.execute-api.{region}.amazonaws.com/{stage}. */
  endpoint: string;
  region: string;
  /** Posts in flight per invocation, and the size of the keep-alive socket pool. */
  concurrency: number;
}

/** Read at module load: a missing variable fails the cold start, not every message. */
export const fanOutConfigFromEnv = (): FanOutConfig => ({
  tableName: requireEnv('TABLE_NAME'),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
  concurrency: intEnv('FANOUT_CONCURRENCY', 64),
});

export const createFanOutClients = ({ tableName, endpoint, region, concurrency }: FanOutConfig) => {
  const doc = createDocumentClient();
  const store = createConnectionStore({ doc, tableName });
  // SigV4 over a keep-alive pool, not the SDK client: a fifth of the CPU per post (see bench/).
  // Not traced per post: one X-Ray subsegment per post would cost more than the post.
  const post = createSignedPoster({ endpoint, region, maxSockets: concurrency });
  const counter = metricsCounter();
  const fanOut = createFanOut({ store, post, log: logger, counter, concurrency });
  // Closes the connections a lookup meets past their token's exp (DeleteConnection, rare: loaded on first use).
  const closer = createConnectionCloser({ disconnect: createLazyDisconnector(endpoint, region), store, log: logger, counter });
  return { store, fanOut, counter, closer, post, doc };
};
