/** template.yaml is the product's core: these specs hold it to the design and to least privilege. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { buildFunction, buildLayer, LAYER_PACKAGE } from '../../scripts/build.js';
import { PROJECT_ROOT, type Resource, functionBuilds, readTemplate, resourcesOfType } from '../../scripts/template.js';

const template = readTemplate();
const resources = template.Resources;
const ref = (value: unknown): string | undefined => (value as { Ref?: string })?.Ref;
const getAttTarget = (value: unknown): string | undefined => ((value as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt'] ?? [])[0];
const subText = (value: unknown): string => {
  const sub = (value as { 'Fn::Sub'?: string | [string, unknown] })?.['Fn::Sub'];
  return Array.isArray(sub) ? sub[0] : (sub ?? '');
};

/** The function an API Gateway integration or authorizer URI points at. */
const functionOfUri = (uri: unknown): string | undefined => /\$\{(\w+)\.Arn\}/.exec(subText(uri))?.[1];

const ROUTE_FIXTURES: Record<string, string> = {
  $connect: 'connect',
  $disconnect: 'disconnect',
  $default: 'default',
  message: 'message',
  subscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
  ping: 'ping',
  history: 'history',
  devices: 'devices',
  putAlarmRule: 'putAlarmRule',
  deleteAlarmRule: 'deleteAlarmRule',
  alarms: 'alarms',
  ackAlarm: 'ackAlarm',
};

describe('template.yaml', () => {
  describe('wiring', () => {
    it('declares a WEBSOCKET API that routes on $request.body.action', () => {
      const [[, api]] = resourcesOfType(template, 'AWS::ApiGatewayV2::Api') as [string, Resource][];
      expect(api.Properties).to.include({ ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' });
    });

    it('wires every route to a function through an AWS_PROXY integration, with an events/ fixture for each', () => {
      const routes = resourcesOfType(template, 'AWS::ApiGatewayV2::Route');
      expect(routes.map(([, r]) => r.Properties!.RouteKey).sort()).to.deep.equal(Object.keys(ROUTE_FIXTURES).sort());
      for (const [id, route] of routes) {
        const integrationId = /^integrations\/\$\{(\w+)\}$/.exec(subText(route.Properties!.Target))?.[1];
        const integration = resources[integrationId ?? ''];
        expect(integration?.Properties?.IntegrationType, id).to.equal('AWS_PROXY');
        const fn = functionOfUri(integration!.Properties!.IntegrationUri);
        expect(resources[fn ?? '']?.Type, id).to.equal('AWS::Serverless::Function');
        expect(existsSync(join(PROJECT_ROOT, 'events', `${ROUTE_FIXTURES[route.Properties!.RouteKey]}.json`)), id).to.equal(true);
      }
    });

    it('puts a REQUEST authorizer on $connect that reads the token from the query string', () => {
      const [, connect] = resourcesOfType(template, 'AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties!.RouteKey === '$connect')!;
      expect(connect.Properties!.AuthorizationType).to.equal('CUSTOM');
      const authorizer = resources[ref(connect.Properties!.AuthorizerId)!]!;
      expect(authorizer.Properties).to.deep.include({ AuthorizerType: 'REQUEST', IdentitySource: ['route.request.querystring.token'] });
      expect(resources[functionOfUri(authorizer.Properties!.AuthorizerUri)!]?.Type).to.equal('AWS::Serverless::Function');
    });

    it('sends the IoT rule output of devices/+/telemetry to the telemetry function, with an error action', () => {
      const [[, rule]] = resourcesOfType(template, 'AWS::IoT::TopicRule') as [string, Resource][];
      const payload = rule.Properties!.TopicRulePayload;
      expect(payload.Sql).to.match(/^SELECT \*, topic\(2\) AS deviceId, timestamp\(\) AS receivedAt FROM 'devices\/\+\/telemetry' WHERE /);
      const [condition, coalesced, direct] = payload.Actions['Fn::If'];
      expect(condition).to.equal('CoalescedFanout');
      expect(getAttTarget(direct[0].Lambda.FunctionArn)).to.equal('TelemetryFunction');
      expect(ref(coalesced[0].Sqs.QueueUrl)).to.equal('TelemetryQueue');
      expect(payload.ErrorAction).to.be.an('object');
      expect(existsSync(join(PROJECT_ROOT, 'events', 'telemetry.json'))).to.equal(true);
    });

    it('throttles the message route tighter than the stage, and limits each sender in the function', () => {
      const [[, stage]] = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage') as [string, Resource][];
      const message = stage.Properties!.RouteSettings?.message;
      const params = template.Parameters!;
      expect(message).to.deep.equal({ ThrottlingRateLimit: { Ref: 'MessageRouteRateLimit' }, ThrottlingBurstLimit: { Ref: 'MessageRouteBurstLimit' } });
      expect(Number(params.MessageRouteRateLimit!.Default)).to.be.below(Number(params.ThrottlingRateLimit!.Default));
      expect(Number(params.MessageRouteBurstLimit!.Default)).to.be.below(Number(params.ThrottlingBurstLimit!.Default));
      expect(resources.MessageFunction!.Properties!.Environment.Variables).to.deep.include({
        MESSAGE_RATE_PER_MINUTE: { Ref: 'MessageRatePerMinute' },
        MESSAGE_BURST: { Ref: 'MessageBurst' },
      });
    });

    it('stores history in one table keyed pk/sk (readings and rollups), written by the telemetry functions, no rule action, with a TTL from HistoryRetentionDays', () => {
      expect(resources.HistoryRule).to.equal(undefined);
      expect(template.Parameters!.HistoryRetentionDays).to.deep.include({ Type: 'Number', Default: 7 });
      const table = resources.HistoryTable!.Properties!;
      expect(table.KeySchema).to.deep.equal([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      expect(table.TimeToLiveSpecification).to.deep.equal({ AttributeName: 'expiresAt', Enabled: true });
      for (const id of ['TelemetryFunction', 'TelemetryBatchFunction']) {
        expect(resources[id]!.Properties!.Environment.Variables, id).to.deep.include({ HISTORY_TABLE_NAME: { Ref: 'HistoryTable' }, HISTORY_RETENTION_DAYS: { Ref: 'HistoryRetentionDays' } });
      }
      expect(resources.DevicesTable!.Properties!.KeySchema).to.deep.equal([{ AttributeName: 'deviceId', KeyType: 'HASH' }]);
    });

    it('throttles the history and devices routes below the stage, and limits each token holder in the function', () => {
      const [[, stage]] = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage') as [string, Resource][];
      const params = template.Parameters!;
      for (const route of ['history', 'devices']) {
        expect(stage.Properties!.RouteSettings?.[route], route).to.deep.equal({ ThrottlingRateLimit: { Ref: 'HistoryRouteRateLimit' }, ThrottlingBurstLimit: { Ref: 'HistoryRouteBurstLimit' } });
      }
      expect(Number(params.HistoryRouteRateLimit!.Default)).to.be.below(Number(params.ThrottlingRateLimit!.Default));
      expect(Number(params.HistoryRouteBurstLimit!.Default)).to.be.below(Number(params.ThrottlingBurstLimit!.Default));
      expect(resources.HistoryFunction!.Properties!.Environment.Variables).to.deep.include({ HISTORY_RATE_PER_MINUTE: { Ref: 'HistoryRatePerMinute' }, HISTORY_BURST: { Ref: 'HistoryBurst' } });
      expect(resources.DevicesFunction!.Properties!.Environment.Variables).to.deep.include({ DEVICES_RATE_PER_MINUTE: { Ref: 'HistoryRatePerMinute' }, DEVICES_BURST: { Ref: 'HistoryBurst' } });
    });

    it('keeps connections in an on-demand, encrypted table with TTL on expiresAt', () => {
      const [[, table]] = resourcesOfType(template, 'AWS::DynamoDB::Table') as [string, Resource][];
      expect(table.Properties).to.deep.include({
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        SSESpecification: { SSEEnabled: true },
      });
    });

    it('gives every function the shared layer, a LogGroup with retention, and esbuild Metadata with the createRequire banner', () => {
      expect(template.Globals!.Function!.Layers).to.deep.equal([{ Ref: 'SharedLayer' }]);
      expect(template.Globals!.Function).to.include({ Runtime: 'nodejs24.x' });
      expect(template.Globals!.Function!.Architectures).to.deep.equal(['arm64']);
      for (const [id, fn] of resourcesOfType(template, 'AWS::Serverless::Function')) {
        const logGroup = resources[ref(fn.Properties!.LoggingConfig?.LogGroup)!];
        expect(logGroup?.Type, id).to.equal('AWS::Logs::LogGroup');
        expect(logGroup!.Properties!.RetentionInDays, id).to.not.equal(undefined);
        const props = fn.Metadata!.BuildProperties;
        expect(fn.Metadata!.BuildMethod, id).to.equal('esbuild');
        expect(props.Format, id).to.equal('esm');
        expect(props.External, id).to.include(LAYER_PACKAGE);
        expect(props.Banner.join(''), id).to.include('createRequire(import.meta.url)');
      }
    });
  });

  describe('fan-out modes', () => {
    const conditionOf = (id: string) => resources[id]!.Condition;

    it('takes FanoutMode (direct by default), BatchSize and MaximumBatchingWindowInSeconds as parameters', () => {
      expect(template.Parameters!.FanoutMode).to.deep.include({ Default: 'direct', AllowedValues: ['direct', 'coalesced'] });
      expect(template.Parameters!.BatchSize).to.deep.include({ Type: 'Number', Default: 1000, MaxValue: 10000 });
      expect(template.Parameters!.MaximumBatchingWindowInSeconds).to.deep.include({ Type: 'Number', Default: 1, MaxValue: 300 });
      expect(template.Conditions!.CoalescedFanout).to.deep.equal({ 'Fn::Equals': [{ Ref: 'FanoutMode' }, 'coalesced'] });
    });

    it('deploys the per-reading functions only in direct mode, and the queue, its dead-letter queue and the batch function only in coalesced mode', () => {
      for (const id of ['TelemetryFunction', 'FanoutWorkerFunction', 'TelemetryRulePermission', 'TelemetryLogGroup', 'FanoutWorkerLogGroup']) expect(conditionOf(id), id).to.equal('DirectFanout');
      for (const id of ['TelemetryQueue', 'TelemetryDeadLetterQueue', 'TelemetryRuleQueueRole', 'TelemetryBatchFunction', 'TelemetryBatchLogGroup', 'TelemetryBatchEventSource']) {
        expect(conditionOf(id), id).to.equal('CoalescedFanout');
      }
      expect(existsSync(join(PROJECT_ROOT, 'events', 'telemetry-batch.json'))).to.equal(true);
    });

    it('encrypts both queues and redrives the telemetry queue to the dead-letter queue after MaxReceiveCount', () => {
      const queue = resources.TelemetryQueue!.Properties!;
      expect(queue.SqsManagedSseEnabled).to.equal(true);
      expect(resources.TelemetryDeadLetterQueue!.Properties!.SqsManagedSseEnabled).to.equal(true);
      expect(getAttTarget(queue.RedrivePolicy.deadLetterTargetArn)).to.equal('TelemetryDeadLetterQueue');
      expect(ref(queue.RedrivePolicy.maxReceiveCount)).to.equal('MaxReceiveCount');
      // Lambda refuses an event source whose queue hides a message for less than the function may run.
      expect(template.Parameters!.QueueVisibilityTimeout!.Default as number).to.be.at.least(6 * (resources.TelemetryBatchFunction!.Properties!.Timeout as number));
    });

    it('maps the queue to the batch function with the batch parameters and partial batch failures', () => {
      const mapping = resources.TelemetryBatchEventSource!.Properties!;
      expect(getAttTarget(mapping.EventSourceArn)).to.equal('TelemetryQueue');
      expect(ref(mapping.FunctionName)).to.equal('TelemetryBatchFunction');
      expect(ref(mapping.BatchSize)).to.equal('BatchSize');
      expect(ref(mapping.MaximumBatchingWindowInSeconds)).to.equal('MaximumBatchingWindowInSeconds');
      expect(mapping.FunctionResponseTypes).to.deep.equal(['ReportBatchItemFailures']);
    });

    it('lets the rule only send to the queue, and the batch function only consume it', () => {
      const send = resources.TelemetryRuleQueueRole!.Properties!.Policies[0].PolicyDocument.Statement;
      expect(send).to.deep.equal([{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['TelemetryQueue', 'Arn'] } }]);
      const statements = resources.TelemetryBatchFunction!.Properties!.Policies[0].Statement as { Action: string | string[]; Resource: unknown }[];
      // Besides: sqs:SendMessage on DeadLetterQueue, for its history dead letters (test/template/historyErrors.test.ts).
      const sqs = statements.filter((st) => [st.Action].flat().some((a) => a.startsWith('sqs:')) && getAttTarget(st.Resource) !== 'DeadLetterQueue');
      expect(sqs).to.have.length(1);
      expect([sqs[0]!.Action].flat().sort()).to.deep.equal(['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage']);
      expect(getAttTarget(sqs[0]!.Resource)).to.equal('TelemetryQueue');
    });
  });

  describe('tracing', () => {
    it('makes X-Ray tracing a parameter, Active by default, that sets both Lambda tracing and the Powertools tracer', () => {
      expect(template.Parameters!.Tracing).to.deep.include({ Default: 'Active', AllowedValues: ['Active', 'PassThrough'] });
      expect(template.Globals!.Function!.Tracing).to.deep.equal({ Ref: 'Tracing' });
      expect(template.Conditions!.TracingActive).to.deep.equal({ 'Fn::Equals': [{ Ref: 'Tracing' }, 'Active'] });
      expect(template.Globals!.Function!.Environment.Variables.POWERTOOLS_TRACE_ENABLED).to.deep.equal({ 'Fn::If': ['TracingActive', 'true', 'false'] });
    });
  });

  describe('least privilege', () => {
    const statements: { where: string; statement: any }[] = [];
    for (const [id, r] of Object.entries(resources)) {
      const docs: unknown[] = [];
      if (r.Type === 'AWS::Serverless::Function') docs.push(...((r.Properties!.Policies as unknown[]) ?? []));
      if (r.Type === 'AWS::IAM::Role') docs.push(...((r.Properties!.Policies as { PolicyDocument: unknown }[]) ?? []).map((p) => p.PolicyDocument));
      if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs.push(r.Properties!.PolicyDocument);
      const unwrap = (doc: any): any[] => {
        if (doc?.['Fn::If']) return [...unwrap(doc['Fn::If'][1]), ...unwrap(doc['Fn::If'][2])];
        return doc?.Statement ? doc.Statement : [];
      };
      for (const doc of docs) for (const statement of unwrap(doc)) statements.push({ where: id, statement });
    }

    it('finds the policy statements to check', () => {
      expect(statements.length).to.be.greaterThan(8);
    });

    it("has no Resource '*' and no Action '*' (or service:*) in any statement", () => {
      for (const { where, statement } of statements) {
        const list = (v: unknown) => (Array.isArray(v) ? v : [v]);
        for (const resource of list(statement.Resource)) expect(resource, where).to.not.equal('*');
        for (const action of list(statement.Action)) expect(String(action), where).to.not.match(/(^\*$|:\*$)/);
      }
    });

    it('scopes ManageConnections to POST (and DELETE, for the functions that close expired connections) on this API and stage only', () => {
      const manage = statements.filter(({ statement }) => statement.Action === 'execute-api:ManageConnections');
      expect(manage.length).to.be.greaterThan(0);
      for (const { statement } of manage) {
        expect(subText(statement.Resource)).to.match(/:\$\{WebSocketApi\}\/\$\{StageName\}\/(POST|DELETE)\/@connections\/\*$/);
      }
      const deleters = manage.filter(({ statement }) => subText(statement.Resource).includes('/DELETE/')).map(({ where }) => where);
      expect(deleters.sort()).to.deep.equal(['ConnectionExpiryFunction', 'MessageFunction', 'TelemetryFunction']);
    });

    it('scopes DynamoDB actions to one of the four tables', () => {
      const dynamo = statements.filter(({ statement }) => [statement.Action].flat().some((a: string) => a.startsWith('dynamodb:')));
      expect(dynamo.length).to.be.greaterThan(0);
      for (const { where, statement } of dynamo) {
        // A table, or one of the connections table's indexes (${ConnectionsTable.Arn}/index/NAME).
        const target = getAttTarget(statement.Resource) ?? /^\$\{(\w+)\.Arn\}\/index\/\w+$/.exec(subText(statement.Resource))?.[1];
        expect(target, where).to.be.oneOf(['ConnectionsTable', 'HistoryTable', 'DevicesTable', 'AlarmsTable']);
      }
    });

    it('gives each history reader and writer only the actions it uses, on its table', () => {
      const actionsOn = (id: string, table: string) =>
        statements.filter(({ where, statement }) => where === id && getAttTarget(statement.Resource) === table).flatMap(({ statement }) => [statement.Action].flat()).sort();
      // UpdateItem: the latest reading keeps the item's presence (layers/shared/src/history/devices.ts).
      expect(actionsOn('TelemetryFunction', 'DevicesTable')).to.deep.equal(['dynamodb:UpdateItem']);
      expect(actionsOn('TelemetryFunction', 'HistoryTable')).to.deep.equal(['dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:Query']);
      expect(actionsOn('TelemetryBatchFunction', 'HistoryTable')).to.deep.equal(['dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:Query']);
      expect(actionsOn('PresenceFunction', 'DevicesTable')).to.deep.equal(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
      expect(actionsOn('PresenceFunction', 'HistoryTable')).to.deep.equal([]);
      expect(actionsOn('HistoryFunction', 'HistoryTable')).to.deep.equal(['dynamodb:Query']);
      expect(actionsOn('HistoryFunction', 'DevicesTable')).to.deep.equal([]);
      expect(actionsOn('DevicesFunction', 'DevicesTable')).to.deep.equal(['dynamodb:BatchGetItem', 'dynamodb:Scan']);
      expect(actionsOn('SubscribeFunction', 'DevicesTable')).to.deep.equal(['dynamodb:BatchGetItem', 'dynamodb:Scan']);
    });

    it('names a SourceArn on every Lambda permission', () => {
      const permissions = resourcesOfType(template, 'AWS::Lambda::Permission');
      expect(permissions.length).to.equal(17);
      for (const [id, p] of permissions) expect(p.Properties!.SourceArn, id).to.not.equal(undefined);
    });
  });

  describe('build, exactly as sam build does it', function () {
    this.timeout(60000);
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sid-build-'));
      // Lambda puts layers on /opt/nodejs/node_modules; here the layer's node_modules sits above the function.
      await buildLayer(join(dir, 'layer'));
      symlinkSync(join(dir, 'layer', 'nodejs', 'node_modules'), join(dir, 'node_modules'));
    });

    after(() => rmSync(dir, { recursive: true, force: true }));

    it('keeps the JWT library and Secrets Manager out of what the route and telemetry functions load at init', () => {
      const layerDir = join(dir, 'layer', 'nodejs', 'node_modules', ...LAYER_PACKAGE.split('/'));
      /** The layer files an entry loads: itself and every chunk it imports statically, transitively. */
      const loaded = (file: string, seen = new Set<string>()): Set<string> => {
        if (seen.has(file)) return seen;
        seen.add(file);
        const text = readFileSync(join(layerDir, file), 'utf8');
        for (const [, chunk] of text.matchAll(/(?:from|import)\s*"\.\/(?:\.\.\/)?(?:chunks\/)?([\w-]+\.mjs)"/g)) loaded(`chunks/${chunk}`, seen);
        return seen;
      };
      const loads = (entry: string, marker: string) => [...loaded(`${entry}.mjs`)].some((f) => readFileSync(join(layerDir, f), 'utf8').includes(marker));
      const jose = 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'; // an error code only jose carries
      const secretsManager = 'GetSecretValue';
      expect(loads('authorizer', jose), 'the authorizer loads jose (this check can see it)').to.equal(true);
      expect(loads('authorizer', secretsManager), 'the authorizer loads Secrets Manager').to.equal(true);
      // The X-Ray SDK comes in only through the tracing chunk, which observability.ts imports dynamically when tracing is on.
      const xray = 'AWS_XRAY_DAEMON_ADDRESS';
      const tracingChunks = readdirSync(join(layerDir, 'chunks')).filter((f) => f.endsWith('.mjs') && readFileSync(join(layerDir, 'chunks', f), 'utf8').includes(xray));
      expect(tracingChunks, 'the layer carries the X-Ray SDK for Tracing=Active (this check can see it)').to.have.length(1);
      for (const entry of ['routes', 'telemetry', 'authorizer']) expect(loads(entry, xray), `${entry} loads the X-Ray SDK at init`).to.equal(false);
      for (const entry of ['routes', 'telemetry']) {
        expect(loads(entry, jose), `${entry} loads jose`).to.equal(false);
        expect(loads(entry, secretsManager), `${entry} loads Secrets Manager`).to.equal(false);
      }
    });

    for (const fn of functionBuilds()) {
      it(`bundles ${fn.logicalId} from its Metadata into a tiny handler that loads against the layer`, async () => {
        const out = await buildFunction(fn, join(dir, 'functions', fn.logicalId));
        expect(out.bytes).to.be.lessThan(8 * 1024); // domain code lives in the layer, not in the function
        const probe = `import('${out.file}').then((m) => process.stdout.write(typeof m.handler))`;
        const type = execFileSync(process.execPath, ['-e', probe], {
          cwd: dir,
          env: {
            PATH: process.env.PATH,
            TABLE_NAME: 'probe',
            HISTORY_TABLE_NAME: 'probe-history',
            DEVICES_TABLE_NAME: 'probe-devices',
            ALARMS_TABLE_NAME: 'probe-alarms',
            WEBSOCKET_ENDPOINT: 'http://127.0.0.1:9/production',
            AUTH_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:probe',
            AWS_REGION: 'us-east-1',
            POWERTOOLS_TRACE_ENABLED: 'false',
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          },
        }).toString();
        expect(type).to.equal('function');
      });
    }

    it('loads the X-Ray SDK and traces with Tracing=Active (POWERTOOLS_TRACE_ENABLED=true), as before', async () => {
      const fn = functionBuilds().find((f) => f.logicalId === 'TelemetryFunction')!;
      const out = await buildFunction(fn, join(dir, 'functions', 'traced'));
      const layerEntry = join(dir, 'node_modules', ...LAYER_PACKAGE.split('/'), 'telemetry.mjs');
      const probe = `Promise.all([import('${out.file}'), import('${layerEntry}')]).then(([m, shared]) => process.stdout.write(typeof m.handler + ' ' + shared.tracingEnabled() + ' ' + (typeof shared.tracer?.captureAWSv3Client === 'function' ? 'tracer' : 'none')))`;
      const env = { PATH: process.env.PATH, TABLE_NAME: 'probe', WEBSOCKET_ENDPOINT: 'http://127.0.0.1:9/production', AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
      expect(execFileSync(process.execPath, ['-e', probe], { cwd: dir, env: { ...env, POWERTOOLS_TRACE_ENABLED: 'true' } }).toString()).to.equal('function true tracer');
      expect(execFileSync(process.execPath, ['-e', probe], { cwd: dir, env: { ...env, POWERTOOLS_TRACE_ENABLED: 'false' } }).toString()).to.equal('function false none');
    });
  });
});
