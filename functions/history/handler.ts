/** history: one device's readings in a time window, posted back in frames under 32 KB. */
import {
  createConnectionStore,
  createDocumentClient,
  createHistoryRoute,
  createHistoryStore,
  createRateLimiter,
  createSignedPoster,
  intEnv,
  logger,
  requireEnv,
  wsRoute,
} from '@serverless-iot-dashboard/shared/routes';

const config = {
  tableName: requireEnv('TABLE_NAME'),
  historyTableName: requireEnv('HISTORY_TABLE_NAME'),
  retentionDays: intEnv('HISTORY_RETENTION_DAYS', 7),
  // Per token holder (sub), across its connections: HistoryRatePerMinute / HistoryBurst in template.yaml.
  ratePerMinute: intEnv('HISTORY_RATE_PER_MINUTE', 600),
  burst: intEnv('HISTORY_BURST', 200),
  // Read units one reply may spend (the reply says truncated past it).
  readBudget: intEnv('HISTORY_READ_BUDGET', 250),
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
};

const doc = createDocumentClient();
const store = createConnectionStore({ doc, tableName: config.tableName });
const history = createHistoryStore({ doc, tableName: config.historyTableName });
const limiter = createRateLimiter({ doc, tableName: config.tableName, name: 'history', perMinute: config.ratePerMinute, burst: config.burst });
const post = createSignedPoster({ endpoint: config.endpoint, region: config.region, maxSockets: 2 });

export const handler = wsRoute(createHistoryRoute({ store, history, post, log: logger, retentionDays: config.retentionDays, limiter, readBudget: config.readBudget }));
