/**
 * npm run redrive -- --stack <name> [--region R] [--dry-run] [--max N]
 * npm run redrive -- --local [--dry-run] [--max N]
 *
 * Replays what is in the stack's dead-letter queue through the same path
 * (see scripts/deadLetters.ts): each failed invocation's event goes to its
 * function again, each rule error's payload through the rule's SQL to its
 * target, each failed history write's readings through the history writer into
 * the history table (idempotent: same reading id, same item). A replay that succeeds is deleted from the queue; one that fails
 * again stays, visible for the next run. Frame ids are stable, so dashboards
 * drop what they already received.
 *
 * --local uses the running `npm start` (its .local-stack.json: the local SQS
 * endpoint and the Lambda Invoke API).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStackResourceCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type TelemetryFrame, createHistoryWriter } from '@serverless-iot-dashboard/shared';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { buildStackModel } from '../local/template/stackModel.js';
import { readStackState } from '../local/stack/stateFile.js';
import { type RedriveClients, formatSummary, redrive, templateRules } from './deadLetters.js';
import { readTemplate } from './template.js';

const USAGE = 'usage: npm run redrive -- (--stack <stack-name> [--region <region>] | --local) [--dry-run] [--max N]';

const sqsClients = (sqs: SQSClient, queueUrl: string) => ({
  async receive(max: number, visibilitySeconds: number) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: max, VisibilityTimeout: visibilitySeconds, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'] }),
    );
    return out.Messages ?? [];
  },
  async remove(receiptHandle: string) {
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
  },
  async release(receiptHandle: string) {
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: 0 }));
  },
  async depth() {
    const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
  },
});

/**
 * The functions' own history writer (readings, then their rollup buckets recomputed), with the stack's table and
 * retention: device data is stored as sent, numbers past 2^53 too.
 */
const historyRecorder = (client: DynamoDBClient, tableName: () => Promise<string>, retentionDays: number) => {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, allowImpreciseNumbers: true } });
  let writer: Promise<ReturnType<typeof createHistoryWriter>> | undefined;
  return async (readings: TelemetryFrame[]) => {
    writer ??= tableName().then((name) => createHistoryWriter({ doc, tableName: name, retentionDays }));
    await (await writer).record(readings);
  };
};

const retentionOf = (parameters: Record<string, string>) => {
  const days = Number(parameters.HistoryRetentionDays ?? (readTemplate().Parameters?.HistoryRetentionDays as { Default?: unknown } | undefined)?.Default ?? 7);
  if (!(days >= 1)) throw new Error(`HistoryRetentionDays is not a number of days: ${parameters.HistoryRetentionDays}`);
  return days;
};

const invoker = (lambda: LambdaClient) => async (functionName: string, event: unknown) => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(event)) }));
  if (out.FunctionError) {
    const payload = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
    let message = payload;
    try {
      const parsed = JSON.parse(payload) as { errorType?: string; errorMessage?: string };
      message = `${parsed.errorType ?? out.FunctionError}: ${parsed.errorMessage ?? ''}`;
    } catch {
      // keep the raw payload
    }
    throw new Error(`${functionName} failed: ${message}`);
  }
};

const localClients = (): RedriveClients => {
  const state = readStackState();
  if (!state?.endpoints.sqs || !state.endpoints.lambda || !state.queues?.DeadLetterQueue) {
    throw new Error('no running local stack with a dead-letter queue: start it with npm start (it writes .local-stack.json)');
  }
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const sqs = new SQSClient({ endpoint: state.endpoints.sqs, region: 'us-east-1', credentials });
  const lambda = new LambdaClient({ endpoint: state.endpoints.lambda, region: 'us-east-1', credentials, maxAttempts: 1 });
  const model = buildStackModel();
  return {
    ...sqsClients(sqs, state.queues.DeadLetterQueue),
    invoke: invoker(lambda),
    recordHistory: historyRecorder(
      new DynamoDBClient({ endpoint: state.endpoints.dynamodb, region: 'us-east-1', credentials }),
      async () => {
        const name = state.tables?.HistoryTable;
        if (!name) throw new Error('the running local stack has no HistoryTable');
        return name;
      },
      retentionOf(model.parameters),
    ),
    functionName: async (logicalId) => {
      const spec = model.functions.get(logicalId);
      if (!spec) throw new Error(`no function ${logicalId} in template.yaml`);
      return spec.name;
    },
  };
};

const stackClients = async (stackName: string, region?: string): Promise<RedriveClients & { parameters: Record<string, string> }> => {
  const cfn = new CloudFormationClient({ region });
  const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
  // The deployed values of the rules' ${Parameter}s and of HistoryRetentionDays (a replayed history write's TTL), and the stack's name.
  const parameters: Record<string, string> = { 'AWS::StackName': stackName };
  for (const p of out.Stacks?.[0]?.Parameters ?? []) if (p.ParameterKey && p.ParameterValue !== undefined) parameters[p.ParameterKey] = p.ParameterValue;
  const queueUrl = out.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'DeadLetterQueueUrl')?.OutputValue;
  if (!queueUrl) throw new Error(`stack ${stackName} has no DeadLetterQueueUrl output (deploy this version of the template first)`);
  // A long replay: the telemetry function may run up to its 120 s Timeout.
  const lambda = new LambdaClient({ region, maxAttempts: 2, requestHandler: { requestTimeout: 150_000 } });
  return {
    parameters,
    ...sqsClients(new SQSClient({ region }), queueUrl),
    invoke: invoker(lambda),
    recordHistory: historyRecorder(
      new DynamoDBClient({ region }),
      async () => {
        const resource = await cfn.send(new DescribeStackResourceCommand({ StackName: stackName, LogicalResourceId: 'HistoryTable' }));
        const name = resource.StackResourceDetail?.PhysicalResourceId;
        if (!name) throw new Error(`stack ${stackName} has no HistoryTable`);
        return name;
      },
      retentionOf(parameters),
    ),
    functionName: async (logicalId) => {
      const resource = await cfn.send(new DescribeStackResourceCommand({ StackName: stackName, LogicalResourceId: logicalId }));
      const name = resource.StackResourceDetail?.PhysicalResourceId;
      if (!name) throw new Error(`stack ${stackName} has no ${logicalId}`);
      return name;
    },
  };
};

const main = async () => {
  const { values } = parseArgs({
    options: {
      stack: { type: 'string' },
      region: { type: 'string' },
      local: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      max: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.stack === !values.local) throw new Error(`give --stack <name> or --local\n${USAGE}`);
  const max = values.max === undefined ? Infinity : Number(values.max);
  if (!(max >= 1) || !Number.isInteger(max === Infinity ? 1 : max)) throw new Error(`--max must be a whole number of at least 1, got "${values.max}"`);
  const dryRun = values['dry-run'] as boolean;
  const clients: RedriveClients & { parameters?: Record<string, string> } = values.local ? localClients() : await stackClients(values.stack as string, values.region);
  const parameters = clients.parameters ?? {};
  const summary = await redrive({ clients, rules: templateRules(readTemplate(), parameters), dryRun, max, log: (line) => console.log(line) });
  console.log(formatSummary(summary, dryRun));
  if (summary.failed > 0) process.exitCode = 2;
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: Error) => {
    console.error(`redrive: ${error.message}`);
    process.exit(1);
  });
}
