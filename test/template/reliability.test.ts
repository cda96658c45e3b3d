/**
 * Nothing lost, told when it matters, deploys that stay right: template.yaml
 * as written, and as SAM's translator turns it into what CloudFormation gets.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { type IntrinsicContext, evaluateCondition, resolveIntrinsics } from '../../local/template/intrinsics.js';
import { actionsOf } from '../../scripts/deadLetters.js';
import { PROJECT_ROOT, type Resource, type Template, readTemplate, resourcesOfType } from '../../scripts/template.js';

const template = readTemplate();
const resources = template.Resources;
const getAttTarget = (value: unknown): string | undefined => ((value as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt'] ?? [])[0];
/** The logical id behind `!Ref X`, or behind `!Sub '${X}'` (how a Fn::ForEach loop writes a Ref for cfn-lint). */
const refTarget = (value: unknown): string | undefined =>
  (value as { Ref?: string })?.Ref ?? /^\$\{([A-Za-z0-9]+)\}$/.exec(String((value as { 'Fn::Sub'?: unknown })?.['Fn::Sub'] ?? ''))?.[1];
const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Functions something invokes asynchronously: IoT rule Lambda actions, and functions that another function may invoke. */
/** Every IAM statement in the translated template that grants an sqs: action, with the queue it names (both branches of an Fn::If policy). */
const sqsGrants = (t: Template): { role: string; queue: unknown; actions: string[] }[] => {
  const grants: { role: string; queue: unknown; actions: string[] }[] = [];
  for (const [id, role] of resourcesOfType(t, 'AWS::IAM::Role')) {
    for (const policy of role.Properties!.Policies ?? []) {
      const documents = policy['Fn::If'] ? [policy['Fn::If'][1], policy['Fn::If'][2]] : [policy];
      for (const document of documents) {
        for (const statement of document?.PolicyDocument?.Statement ?? []) {
          const actions = list(statement.Action as string[]);
          if (actions.some((action) => action.startsWith('sqs:'))) grants.push({ role: id, queue: getAttTarget(statement.Resource), actions });
        }
      }
    }
  }
  return grants;
};

const asyncInvokedFunctions = (t: Template): string[] => {
  const ids = new Set<string>();
  for (const [, rule] of resourcesOfType(t, 'AWS::IoT::TopicRule')) {
    for (const action of actionsOf(rule.Properties!.TopicRulePayload.Actions)) {
      const target = getAttTarget(action.Lambda?.FunctionArn);
      if (target) ids.add(target);
    }
  }
  for (const [, fn] of resourcesOfType(t, 'AWS::Serverless::Function')) {
    for (const policy of list(fn.Properties!.Policies as unknown[])) {
      for (const statement of list((policy as { Statement?: unknown[] })?.Statement)) {
        const { Action, Resource } = statement as { Action: unknown; Resource: unknown };
        if (list(Action as string[]).includes('lambda:InvokeFunction')) for (const r of list(Resource)) ids.add(getAttTarget(r) as string);
      }
    }
  }
  return [...ids].sort();
};

/** Resolves a value of the template for a given stack name and parameters (conditions included). */
const resolver = (t: Template, { stackName = 'serverless-iot-dashboard', parameters = {} as Record<string, string> } = {}) => {
  const params: Record<string, string> = {};
  for (const [name, spec] of Object.entries(t.Parameters ?? {})) params[name] = parameters[name] ?? String(spec.Default ?? '');
  const ctx: IntrinsicContext = {
    parameters: params,
    pseudo: {
      'AWS::StackName': stackName,
      'AWS::StackId': `arn:aws:cloudformation:us-east-1:123456789012:stack/${stackName}/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`,
      'AWS::Region': 'us-east-1',
      'AWS::AccountId': '123456789012',
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
    },
    condition: (name) => evaluateCondition(t.Conditions![name], ctx),
    ref: (id) => (id in t.Resources ? `${id}-physical-id` : undefined),
    getAtt: (id, attribute) => (id in t.Resources ? `${id}.${attribute}` : undefined),
  };
  return {
    resolve: (value: unknown) => resolveIntrinsics(value, ctx),
    exists: (resource: Resource) => resource.Condition === undefined || ctx.condition(resource.Condition),
  };
};

describe('template.yaml: nothing lost, told when it matters', () => {
  describe('dead letters', () => {
    const queue = resources.DeadLetterQueue as Resource;

    it('keeps dead letters in an encrypted SQS queue for 14 days', () => {
      expect(queue.Type).to.equal('AWS::SQS::Queue');
      expect(queue.Properties!.MessageRetentionPeriod).to.equal(1_209_600);
      expect(queue.Properties!.SqsManagedSseEnabled === true || typeof queue.Properties!.KmsMasterKeyId === 'string').to.equal(true);
    });

    it('finds the asynchronously invoked functions: the rule target and the fan-out worker', () => {
      expect(asyncInvokedFunctions(template)).to.include.members(['FanoutWorkerFunction', 'TelemetryFunction']);
    });

    it('gives every asynchronously invoked function an OnFailure destination in an SQS queue', () => {
      for (const id of asyncInvokedFunctions(template)) {
        const onFailure = resources[id]!.Properties!.EventInvokeConfig?.DestinationConfig?.OnFailure;
        expect(onFailure?.Type, id).to.equal('SQS');
        expect(resources[getAttTarget(onFailure?.Destination) ?? '']?.Type, id).to.equal('AWS::SQS::Queue');
        expect(resources[id]!.Properties!.EventInvokeConfig.MaximumRetryAttempts, id).to.equal(2);
      }
    });

    it("routes the errors of each rule that invokes a function to a queue, with the original payload, and still logs them", () => {
      const rules = resourcesOfType(template, 'AWS::IoT::TopicRule');
      // A rule that invokes a function or writes a table: its failures must reach the queue too. (History is written by
      // the functions, which dead-letter a failed write themselves: test/template/historyErrors.test.ts.)
      const invoking = rules.filter(([, rule]) => actionsOf(rule.Properties!.TopicRulePayload.Actions).some((a) => a.Lambda || a.DynamoDBv2));
      expect(invoking.map(([id]) => id)).to.include.members(['TelemetryRule', 'PresenceConnectedRule', 'PresenceDisconnectedRule']);
      const rulesReading = (topic: string) =>
        rules.filter(([, rule]) => {
          const sql = rule.Properties!.TopicRulePayload.Sql;
          const filter = /FROM '([^']+)'/.exec(sql['Fn::Sub'] ?? sql)?.[1] ?? '';
          const [f, t] = [filter.split('/'), topic.split('/')];
          return f.length === t.length && f.every((level, i) => level === '+' || level === t[i]);
        });
      for (const [id, rule] of invoking) {
        const errorAction = rule.Properties!.TopicRulePayload.ErrorAction;
        if (errorAction.Sqs) {
          expect(getAttTarget(errorAction.Sqs.QueueUrl) ?? refTarget(errorAction.Sqs.QueueUrl), id).to.equal('DeadLetterQueue');
          continue;
        }
        // One error action per rule: republished (the error document carries base64OriginalPayload) to a rule that queues and logs.
        const topic: string = errorAction.Republish.Topic['Fn::Sub'];
        const readers = rulesReading(topic);
        expect(readers, `${id}: a rule reading ${topic}`).to.have.length(1);
        const actions = readers[0]![1].Properties!.TopicRulePayload.Actions as Record<string, any>[];
        expect(actions.some((a) => refTarget(a.Sqs?.QueueUrl) === 'DeadLetterQueue'), `${id}: queued`).to.equal(true);
        expect(actions.some((a) => a.Sqs?.UseBase64 === false), `${id}: the error document as JSON`).to.equal(true);
        expect(actions.some((a) => a.CloudwatchLogs), `${id}: still logged`).to.equal(true);
        // The errors rule's own errors (queueing itself failed) end in the log.
        expect(readers[0]![1].Properties!.TopicRulePayload.ErrorAction.CloudwatchLogs, `${id}: last resort`).to.not.equal(undefined);
      }
    });

    it('lets the rule error role describe log streams, as the IoT CloudWatch Logs action requires', () => {
      const statements = resources.TelemetryRuleErrorRole!.Properties!.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
      const logs = statements.find((s: any) => list(s.Action).includes('logs:PutLogEvents'));
      expect(logs.Action).to.include.members(['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents']);
    });

    it('refuses anything but TLS on every queue, in the mode the queue exists in', () => {
      const queues = resourcesOfType(template, 'AWS::SQS::Queue');
      expect(queues.map(([id]) => id)).to.have.members(['DeadLetterQueue', 'TelemetryQueue', 'TelemetryDeadLetterQueue']);
      for (const [id, queue] of queues) {
        const policies = resourcesOfType(template, 'AWS::SQS::QueuePolicy').filter(([, p]) => list(p.Properties!.Queues).some((q) => refTarget(q) === id));
        expect(policies, id).to.have.length(1);
        const [policyId, policy] = policies[0]!;
        expect(policy.Condition, `${policyId} exists when ${id} does`).to.equal(queue.Condition);
        const deny = policy.Properties!.PolicyDocument.Statement.find((st: any) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false');
        expect(deny, `${policyId}: a Deny on aws:SecureTransport false`).to.include({ Principal: '*', Action: 'sqs:*' });
        expect(list(deny.Resource).map(getAttTarget), policyId).to.include(id);
      }
    });
  });

  describe('alarms', () => {
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm');
    const existing = (parameters: Record<string, string>) => {
      const { exists } = resolver(template, { parameters });
      return Object.entries(resources)
        // DeviceAlarmTopic carries the device alarms (alarm rules), there whatever AlarmEmail says.
        .filter(([id, r]) => r.Type.startsWith('AWS::CloudWatch::Alarm') || (r.Type.startsWith('AWS::SNS::') && !id.startsWith('DeviceAlarm')))
        .filter(([, r]) => exists(r))
        .map(([id]) => id);
    };

    it('has no alarm and no SNS topic without AlarmEmail', () => {
      expect(alarms.length).to.be.greaterThan(20);
      expect(existing({ AlarmEmail: '' })).to.deep.equal([]);
      expect(existing({ AlarmEmail: '', AuthorizerDenialsAlarmThreshold: '50' })).to.deep.equal([]);
    });

    it('has every alarm and the topic with AlarmEmail; the denials alarm only with its threshold', () => {
      const withEmail = existing({ AlarmEmail: 'ops@example.com' });
      expect(withEmail).to.include('AlarmTopic');
      expect(withEmail).to.not.include('AuthorizerDenialsAlarm');
      // The topic in, the denials alarm out, and the coalesced batch function's two alarms and its dead-letter queue's only in that mode.
      const coalescedOnly = alarms.filter(([, alarm]) => alarm.Condition === 'CoalescedAlarms').map(([id]) => id);
      expect(coalescedOnly).to.have.members(['TelemetryBatchErrorsAlarm', 'TelemetryBatchThrottlesAlarm', 'TelemetryDeadLetterQueueAlarm']);
      expect(withEmail).to.have.length(alarms.length - coalescedOnly.length);
      const coalesced = existing({ AlarmEmail: 'ops@example.com', FanoutMode: 'coalesced' });
      expect(coalesced).to.include.members(coalescedOnly);
      expect(coalesced).to.not.include.members(['TelemetryErrorsAlarm', 'FanoutWorkerErrorsAlarm']);
      expect(existing({ AlarmEmail: 'ops@example.com', AuthorizerDenialsAlarmThreshold: '50' })).to.include('AuthorizerDenialsAlarm');
    });

    it('emails the AlarmEmail address, and every alarm notifies the topic on alarm and on recovery', () => {
      expect(resources.AlarmTopic!.Properties!.Subscription).to.deep.equal([{ Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' } }]);
      for (const [id, alarm] of alarms) {
        expect(alarm.Properties!.AlarmActions, id).to.deep.equal([{ Ref: 'AlarmTopic' }]);
        expect(alarm.Properties!.OKActions, id).to.deep.equal([{ Ref: 'AlarmTopic' }]);
        expect(alarm.Properties!.AlarmDescription, id).to.match(/When an alarm fires/);
      }
    });

    it('watches the dead-letter queue, failed deliveries, the API errors and authorizer denials', () => {
      const metric = (id: string) => resources[id]!.Properties!;
      expect(metric('DeadLetterQueueAlarm')).to.include({ Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible' });
      expect(metric('TelemetryDeadLetterQueueAlarm')).to.include({ Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible' });
      expect(metric('TelemetryDeadLetterQueueAlarm').Dimensions).to.deep.equal([{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['TelemetryDeadLetterQueue', 'QueueName'] } }]);
      expect(metric('FailedDeliveriesAlarm')).to.include({ Namespace: 'ServerlessIotDashboard', MetricName: 'Failed' });
      expect(metric('ApiErrorsAlarm').Metrics.map((m: any) => m.MetricStat?.Metric.MetricName).filter(Boolean)).to.deep.equal(['ExecutionError', 'IntegrationError']);
      expect(metric('AuthorizerDenialsAlarm')).to.include({ MetricName: 'ClientError' });
      expect(metric('AuthorizerDenialsAlarm').Threshold).to.deep.equal({ Ref: 'AuthorizerDenialsAlarmThreshold' });
    });

    it('has an Errors and a Throttles alarm for every function', () => {
      for (const [id] of resourcesOfType(template, 'AWS::Serverless::Function')) {
        for (const metricName of ['Errors', 'Throttles']) {
          const alarm = alarms.find(([, a]) => a.Properties!.MetricName === metricName && refTarget(a.Properties!.Dimensions?.[0]?.Value) === id);
          expect(alarm, `${id} ${metricName}`).to.not.equal(undefined);
          expect(alarm![1].Properties!.Namespace).to.equal('AWS/Lambda');
        }
      }
    });

    it('declares a CloudWatch dashboard with the fan-out outcomes, its duration, connections and dead letters', () => {
      const [[, dashboard]] = resourcesOfType(template, 'AWS::CloudWatch::Dashboard') as [string, Resource][];
      const body = JSON.parse(resolver(template).resolve(dashboard.Properties!.DashboardBody) as string);
      const metrics = body.widgets.flatMap((w: any) => w.properties.metrics.map((m: string[]) => m[1]));
      expect(metrics).to.include.members(['Delivered', 'Gone', 'Failed', 'Retried', 'Duration', 'ConnectCount', 'ApproximateNumberOfMessagesVisible']);
    });
  });

  describe('names that fit any stack name', () => {
    // CloudFormation stack names have up to 128 characters; each name below has its own service limit.
    const LIMITS: Record<string, Record<string, number>> = {
      'AWS::Serverless::Function': { FunctionName: 64 },
      'AWS::Serverless::LayerVersion': { LayerName: 140 },
      'AWS::CloudFront::OriginAccessControl': { 'OriginAccessControlConfig.Name': 64 },
      'AWS::CloudWatch::Dashboard': { DashboardName: 255 },
      'AWS::SNS::Topic': { DisplayName: 100, TopicName: 256 },
      'AWS::SQS::Queue': { QueueName: 80 },
      'AWS::Logs::LogGroup': { LogGroupName: 512 },
      'AWS::IoT::TopicRule': { RuleName: 128 },
      'AWS::CloudWatch::Alarm': { AlarmName: 255 },
      // Issue 24, item 10: each of these took the stack name plus a suffix, past its limit with a long stack name.
      'AWS::Cognito::UserPool': { UserPoolName: 128 },
      'AWS::Cognito::UserPoolClient': { ClientName: 128 },
      'AWS::Cognito::UserPoolGroup': { GroupName: 128 },
      'AWS::CloudFront::Distribution': { 'DistributionConfig.Comment': 128 },
    };

    it('keeps every named resource within its limit with a 128-character stack name', () => {
      const { resolve } = resolver(template, {
        stackName: `s${'x'.repeat(126)}s`,
        parameters: { AlarmEmail: 'ops@example.com', DashboardHosting: 'true', AuthMode: 'cognito', CognitoDomainPrefix: 'acme-iot' },
      });
      const types = new Set<string>();
      let checked = 0;
      for (const [id, resource] of Object.entries(resources)) {
        for (const [path, limit] of Object.entries(LIMITS[resource.Type] ?? {})) {
          const raw = path.split('.').reduce<any>((value, key) => value?.[key], resource.Properties);
          if (raw === undefined) continue;
          const name = String(resolve(raw));
          checked++;
          types.add(resource.Type);
          expect(name.length, `${id} ${path}: ${name}`).to.be.at.most(limit);
        }
      }
      expect(checked).to.be.greaterThan(10);
      expect([...types], 'every type with a limit above was checked').to.include.members(['AWS::Cognito::UserPool', 'AWS::Cognito::UserPoolClient', 'AWS::CloudFront::Distribution']);
    });

    it('lets CloudFormation name the functions (a name from the stack name could pass 64 characters)', () => {
      for (const [id, fn] of resourcesOfType(template, 'AWS::Serverless::Function')) expect(fn.Properties!.FunctionName, id).to.equal(undefined);
    });
  });

  describe('as SAM translates it (what CloudFormation receives)', function () {
    this.timeout(60_000);
    const python = join(PROJECT_ROOT, '.venv', 'bin', 'python');
    let translated: Template;

    before(function () {
      if (!existsSync(python)) {
        // CI installs the SAM CLI into .venv; a developer machine without it skips loudly.
        if (process.env.CI === 'true') throw new Error('.venv/bin/python (the SAM CLI virtualenv) is missing in CI');
        console.warn('    (skipped: no .venv with the SAM CLI; bash .ci/run creates it)');
        this.skip();
      }
      translated = JSON.parse(execFileSync(python, [join(PROJECT_ROOT, 'test/template/samTranslate.py'), join(PROJECT_ROOT, 'template.yaml')], { encoding: 'utf8' }));
    });

    it('grants sqs:SendMessage on the dead-letter queue only, to the functions with a destination, the history writers and the rule error roles', () => {
      const grants = sqsGrants(translated);
      const deadLetter = grants.filter((g) => g.queue === 'DeadLetterQueue');
      for (const { role, actions } of deadLetter) expect(actions, role).to.deep.equal(['sqs:SendMessage']);
      // TelemetryFunction twice: its OnFailure destination (SAM's statement) and its history dead letters (its own);
      // TelemetryBatchFunction for its history dead letters only.
      expect(deadLetter.map((g) => g.role).sort()).to.deep.equal([
        'FanoutWorkerFunctionRole',
        'PresenceFunctionRole',
        'PresenceRuleErrorRole',
        'TelemetryBatchFunctionRole',
        'TelemetryFunctionRole',
        'TelemetryFunctionRole',
        'TelemetryRuleErrorRole',
      ]);
    });

    it('lets only the batch function consume the telemetry queue, and only the IoT rule send to it; nothing else touches SQS', () => {
      const grants = sqsGrants(translated);
      const telemetryQueue = grants.filter((g) => g.queue === 'TelemetryQueue');
      expect(telemetryQueue.map(({ role, actions }) => ({ role, actions: [...actions].sort() })).sort((a, b) => a.role.localeCompare(b.role))).to.deep.equal([
        { role: 'TelemetryBatchFunctionRole', actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'] },
        { role: 'TelemetryRuleQueueRole', actions: ['sqs:SendMessage'] },
      ]);
      expect(grants.filter((g) => g.queue !== 'TelemetryQueue' && g.queue !== 'DeadLetterQueue'), 'statements on any other queue').to.deep.equal([]);
    });

    it('gives each asynchronously invoked function an EventInvokeConfig with the dead-letter queue', () => {
      const configs = resourcesOfType(translated, 'AWS::Lambda::EventInvokeConfig');
      for (const id of asyncInvokedFunctions(template)) {
        const config = configs.find(([, c]) => refTarget(c.Properties!.FunctionName) === id);
        expect(getAttTarget(config?.[1].Properties!.DestinationConfig.OnFailure.Destination), id).to.equal('DeadLetterQueue');
      }
    });
  });
});
