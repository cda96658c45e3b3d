/** history: one device's readings in a time window, posted back in frames under 32 KB. */
import {
  createConnectionStore,
  createDocumentClient,
  createHistoryRoute,
  createHistoryStore,
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
  endpoint: requireEnv('WEBSOCKET_ENDPOINT'),
  region: requireEnv('AWS_REGION'),
};

const doc = createDocumentClient();
const store = createConnectionStore({ doc, tableName: config.tableName });
const history = createHistoryStore({ doc, tableName: config.historyTableName });
const post = createSignedPoster({ endpoint: config.endpoint, region: config.region, maxSockets: 2 });

export const handler = wsRoute(createHistoryRoute({ store, history, post, log: logger, retentionDays: config.retentionDays }));
