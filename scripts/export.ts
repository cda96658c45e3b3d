/**
 * npm run export -- --device dev-1 --from 2026-12-01 --to 2026-12-02 > dev-1.csv
 *   One device's history in [from, to] as CSV on stdout (scripts/historyExport.ts: raw readings up
 *   to 100,000 of them, rollup rows with min, max, mean, last and count past that; the first
 *   column says which). Progress goes to stderr.
 *   Locally: the running `npm start` (its .local-stack.json). Against AWS: --stack NAME [--region R]
 *   reads the stack's HistoryTable with the default credentials (dynamodb:Query on it).
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStackResourceCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHistoryStore, validateDeviceId } from '@serverless-iot-dashboard/shared';
import { readStackState } from '../local/stack/stateFile.js';
import { exportHistory } from './historyExport.js';

const USAGE = 'usage: npm run export -- --device <id> --from <ISO date or time> [--to <ISO date or time, default now>] [--stack <stack-name> [--region <region>]]';

const time = (text: string, name: string): number => {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new Error(`--${name} ${text}: not an ISO date or time (2026-12-01, 2026-12-01T12:00:00Z) or epoch ms`);
  return ms;
};

const localTable = (): { doc: DynamoDBDocumentClient; tableName: string } => {
  const state = readStackState();
  if (!state) throw new Error('no local stack is running (npm start), and no --stack was given');
  const tableName = state.tables.HistoryTable;
  if (!tableName) throw new Error('the running local stack has no HistoryTable');
  const client = new DynamoDBClient({ endpoint: state.endpoints.dynamodb, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  return { doc: DynamoDBDocumentClient.from(client), tableName };
};

const stackTable = async (stackName: string, region?: string): Promise<{ doc: DynamoDBDocumentClient; tableName: string }> => {
  const cfn = new CloudFormationClient({ region });
  const resource = await cfn.send(new DescribeStackResourceCommand({ StackName: stackName, LogicalResourceId: 'HistoryTable' }));
  const tableName = resource.StackResourceDetail?.PhysicalResourceId;
  if (!tableName) throw new Error(`stack ${stackName} has no HistoryTable`);
  return { doc: DynamoDBDocumentClient.from(new DynamoDBClient({ region })), tableName };
};

const main = async () => {
  const { values } = parseArgs({
    options: {
      device: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      stack: { type: 'string' },
      region: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.device || !values.from) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const deviceId = validateDeviceId(values.device, '--device');
  const since = time(values.from, 'from');
  const until = values.to ? time(values.to, 'to') : Date.now();
  if (since > until) throw new Error('--from is after --to');
  const { doc, tableName } = values.stack ? await stackTable(values.stack, values.region) : localTable();
  const history = createHistoryStore({ doc, tableName });
  const write = async (chunk: string) => {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  };
  const t0 = performance.now();
  const outcome = await exportHistory({ history, deviceId, since, until, write, progress: (line) => console.error(`export: ${line}`) });
  const seconds = (performance.now() - t0) / 1000;
  console.error(`export: ${outcome.rows.toLocaleString('en-US')} ${outcome.resolution === 'raw' ? 'readings' : `${outcome.resolution} rows`} in ${seconds.toFixed(1)} s`);
  doc.destroy();
};

main().catch((error) => {
  console.error(`export: ${(error as Error).message}`);
  process.exit(1);
});
