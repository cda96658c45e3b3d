/**
 * npm run redrive -- --stack <name> [--region R] [--dry-run] [--max N]
 * npm run redrive -- --local [--dry-run] [--max N]
 *
 * Replays what is in the stack's dead-letter queue through the same path
 * (see scripts/deadLetters.ts): each failed invocation's event goes to its
 * function again, each rule error's payload through the rule's SQL to its
 * target. A replay that succeeds is deleted from the queue; one that fails
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
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
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

/** A rule's DynamoDBv2 action writes any JSON number DynamoDB can hold; so does its replay. */
const tableWriter = (client: DynamoDBClient) => {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, allowImpreciseNumbers: true } });
  return async (tableName: string, item: Record<string, unknown>) => {
    await doc.send(new PutCommand({ TableName: tableName, Item: item }));
  };
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
    putItem: tableWriter(new DynamoDBClient({ endpoint: state.endpoints.dynamodb, region: 'us-east-1', credentials })),
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
  // The deployed values of the rules' ${Parameter}s (HistoryRule's retention), and the stack's name.
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
    putItem: tableWriter(new DynamoDBClient({ region })),
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
