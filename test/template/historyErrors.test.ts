/**
 * A failed history write is not only logged (issue 24, defect 5): the functions that write history (the telemetry
 * function in direct mode, the batch function in coalesced mode) are given the dead-letter queue and may send to it,
 * and an alarm watches that queue. `npm run redrive` reads it (scripts/deadLetters.ts).
 */
import { expect } from 'chai';
import { type Resource, readTemplate } from '../../scripts/template.js';

const template = readTemplate();
const resources = template.Resources as Record<string, Resource>;
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
const statements = (id: string): Statement[] =>
  ((resources[id]!.Properties!.Policies ?? []) as { Statement?: Statement[] }[]).flatMap((policy) => policy.Statement ?? []);
const actions = (s: Statement) => [s.Action].flat();

/** The functions whose environment names the history table and that write to it. */
const historyWriters = Object.entries(resources)
  .filter(([, r]) => r.Type === 'AWS::Serverless::Function' && r.Properties?.Environment?.Variables?.HISTORY_TABLE_NAME !== undefined)
  .filter(([id]) => statements(id).some((s) => actions(s).includes('dynamodb:BatchWriteItem') && JSON.stringify(s.Resource).includes('HistoryTable')))
  .map(([id]) => id);

describe('template: a failed history write reaches the dead-letter queue, and an alarm', () => {
  it('knows the functions that write history: the telemetry function and the batch function', () => {
    expect(historyWriters.sort()).to.deep.equal(['TelemetryBatchFunction', 'TelemetryFunction']);
  });

  for (const id of ['TelemetryFunction', 'TelemetryBatchFunction']) {
    it(`gives ${id} the dead-letter queue's URL`, () => {
      expect(resources[id]!.Properties!.Environment.Variables.DEAD_LETTER_QUEUE_URL).to.deep.equal({ Ref: 'DeadLetterQueue' });
    });

    it(`lets ${id} send to the dead-letter queue, and do nothing else with it`, () => {
      const onQueue = statements(id).filter((s) => JSON.stringify(s.Resource).includes('"DeadLetterQueue"'));
      expect(onQueue).to.have.length(1);
      expect(onQueue[0]).to.deep.equal({ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] } });
    });
  }

  it('no longer has HistoryRule, whose error action only logged', () => {
    expect(resources.HistoryRule).to.equal(undefined);
  });

  it('alarms on the dead-letter queue as soon as one message waits', () => {
    const alarm = resources.DeadLetterQueueAlarm!.Properties!;
    expect(alarm.Dimensions[0].Value).to.deep.equal({ 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] });
    expect(alarm).to.include({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(alarm.AlarmActions).to.deep.equal([{ Ref: 'AlarmTopic' }]);
  });

  it('alarms when a failed write could not even be queued (HistoryDeadLetterFailed, counted by both functions)', () => {
    const alarm = resources.HistoryLostAlarm!;
    expect(alarm.Condition).to.equal('HasAlarms');
    expect(alarm.Properties).to.deep.include({
      Namespace: 'ServerlessIotDashboard',
      MetricName: 'HistoryDeadLetterFailed',
      Dimensions: [{ Name: 'service', Value: 'serverless-iot-dashboard' }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });
});
