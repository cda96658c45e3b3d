/**
 * The alarm capability's clients, built once per container from the
 * environment (ALARMS_TABLE_NAME, ALARMS_TOPIC_ARN, DASHBOARD_URL): the
 * telemetry functions, the alarm routes and the silent sweep share them.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { intEnv } from '../runtime/config.js';
import { type Counter, type Log, traceClient } from '../runtime/observability.js';
import { createAlarmEvaluator } from './alarmEvaluator.js';
import { createAlarmStore } from './alarmStore.js';
import { type DeliverToDevice, type PublishNotification, createAlarmEmitter, createNotificationRedelivery } from './notifier.js';

/**
 * Publishes to an SNS topic. The SNS client is loaded on the first notification, not at cold start: most
 * invocations raise no alarm. A local stand-in is reached through SNS_ENDPOINT (local/sns/).
 * https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
 */
export const createSnsPublisher = (topicArn: string, endpoint = process.env.SNS_ENDPOINT || undefined): PublishNotification => {
  let client: Promise<{ publish: PublishNotification }> | undefined;
  const load = async () => {
    const { SNSClient, PublishCommand } = await import('@aws-sdk/client-sns');
    const sns = traceClient(new SNSClient({ endpoint, maxAttempts: 4 }));
    return {
      publish: async ({ subject, message, attributes }: Parameters<PublishNotification>[0]) => {
        await sns.send(
          new PublishCommand({
            TopicArn: topicArn,
            Subject: subject,
            Message: message,
            MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])),
          }),
        );
      },
    };
  };
  return async (notification) => {
    client ??= load();
    client.catch(() => (client = undefined));
    await (await client).publish(notification);
  };
};

export interface AlarmClientsOptions {
  doc: DynamoDBDocumentClient;
  deliver?: DeliverToDevice;
  log: Log;
  counter: Counter;
  env?: NodeJS.ProcessEnv;
  /** The recipient cache's last table-wide version (alarmEvaluator.ts `sharedVersion`). */
  sharedVersion?: () => string | undefined;
}

/** The alarm store, emitter, evaluator and the outbox's redelivery (with a topic); undefined when the stack has no alarms table (ALARMS_TABLE_NAME unset). */
export const alarmClientsFromEnv = ({ doc, deliver, log, counter, env = process.env, sharedVersion }: AlarmClientsOptions) => {
  const tableName = env.ALARMS_TABLE_NAME;
  if (!tableName) return undefined;
  const store = createAlarmStore({
    doc,
    tableName,
    connectionsTableName: env.TABLE_NAME || undefined,
    onFollowUpError: (t, error) => {
      log.warn('an alarm transition is made, but its record or version write failed', { ruleId: t.ruleId, deviceId: t.deviceId, state: t.state, reason: `${error.name}: ${error.message}` });
      counter.count('AlarmFollowUpFailed', 1);
    },
  });
  const publish = env.ALARMS_TOPIC_ARN ? createSnsPublisher(env.ALARMS_TOPIC_ARN) : undefined;
  const emit = createAlarmEmitter({ deliver, publish, outbox: store, dashboardUrl: env.DASHBOARD_URL || undefined, log, counter });
  const redeliver = publish ? createNotificationRedelivery({ store, publish, log, counter }) : undefined;
  const evaluator = createAlarmEvaluator({
    store,
    emit,
    log,
    counter,
    checkEveryMs: intEnv('ALARMS_CHECK_EVERY_MS', 1000, env),
    sharedVersion,
  });
  return { store, emit, evaluator, redeliver };
};
