/**
 * HistoryRule's failed writes are not only logged: its error action leads to the dead-letter queue, which an
 * alarm watches and `npm run redrive` reads.
 */
import { expect } from 'chai';
import { parseRuleSql, topicMatches } from '../../local/iot/iotSql.js';
import { type Resource, readTemplate } from '../../scripts/template.js';

const template = readTemplate();
const resources = template.Resources as Record<string, Resource>;
const sub = (value: unknown) => String(typeof value === 'string' ? value : (value as { 'Fn::Sub': string })['Fn::Sub']).replace(/\$\{AWS::StackName\}/g, 'stack').replace(/\$\{\w+\}/g, '1');

describe('template: a failed history write reaches the dead-letter path and an alarm', () => {
  const history = resources.HistoryRule!.Properties!.TopicRulePayload;

  it('republishes the error to a topic that a rule sends to DeadLetterQueue', () => {
    expect(history.ErrorAction.CloudwatchLogs, 'a log nobody watches is not where errors go').to.equal(undefined);
    const topic = sub(history.ErrorAction.Republish.Topic);
    const readers = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IoT::TopicRule' && topicMatches(parseRuleSql(sub(r.Properties!.TopicRulePayload.Sql)).from, topic));
    const queues = readers.flatMap(([, r]) => (r.Properties!.TopicRulePayload.Actions as Record<string, any>[]).map((a) => a.Sqs?.QueueUrl?.Ref));
    expect(queues).to.include('DeadLetterQueue');
  });

  it('lets the error action publish to that topic', () => {
    const role = resources[history.ErrorAction.Republish.RoleArn['Fn::GetAtt'][0]]!;
    const statements = (role.Properties!.Policies as { PolicyDocument: { Statement: { Action: string; Resource: unknown }[] } }[]).flatMap((p) => p.PolicyDocument.Statement);
    const publish = statements.find((s) => s.Action === 'iot:Publish')!;
    expect([publish.Resource].flat().map(sub).some((arn) => arn.endsWith(`:topic/${sub(history.ErrorAction.Republish.Topic)}`))).to.equal(true);
  });

  it('alarms on the dead-letter queue as soon as one message waits', () => {
    const alarm = resources.DeadLetterQueueAlarm!.Properties!;
    expect(alarm.Dimensions[0].Value).to.deep.equal({ 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] });
    expect(alarm).to.include({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
  });
});
