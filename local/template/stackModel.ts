/**
 * What the local stack runs, read from template.yaml: functions (with their
 * resolved environment), the WebSocket API's routes and authorizer, the
 * tables and the IoT topic rules. Nothing here is written down twice: a route
 * or a variable added to the template shows up locally on the next start.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { PROJECT_ROOT, type Resource, type Template, readTemplate } from '../../scripts/template.js';
import { type IntrinsicContext, NO_VALUE, TemplateError, evaluateCondition, resolveIntrinsics } from './intrinsics.js';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';
export const LOCAL_STACK_NAME = 'local';

export interface FunctionSpec {
  logicalId: string;
  name: string;
  arn: string;
  codeUri: string;
  /** The source file the esbuild entry point builds from: what the stack imports. */
  entryFile: string;
  exportName: string;
  timeoutSeconds: number;
  memoryMb: number;
  runtime: string;
  /** Globals.Function.Environment merged with the function's own, intrinsics resolved (AWS values). */
  environment: Record<string, string>;
  /** EventInvokeConfig's OnFailure destination: where a failed asynchronous invocation's record goes. */
  onFailure?: { type: string; destination: string };
}

export interface AuthorizerSpec {
  logicalId: string;
  name: string;
  type: string;
  functionId: string;
  /** e.g. `route.request.querystring.token`: API Gateway answers 401 without calling the function when one is missing. */
  identitySources: string[];
}

export interface RouteSpec {
  logicalId: string;
  routeKey: string;
  /** The function behind an AWS_PROXY integration; undefined for integrations the local stack cannot run. */
  functionId?: string;
  /** A RouteResponseSelectionExpression makes the route two-way: the integration's `body` goes back to the sender. */
  twoWay: boolean;
  authorizer?: AuthorizerSpec;
}

export interface WebSocketApiSpec {
  logicalId: string;
  apiId: string;
  name: string;
  stage: string;
  routeSelectionExpression: string;
  routes: Map<string, RouteSpec>;
  /**
   * The stage's route throttling (requests/s and burst) by route key: its `RouteSettings`, else its
   * `DefaultRouteSettings` under the key `*`. https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-protect.html
   */
  throttles?: Map<string, { rateLimit: number; burstLimit: number }>;
}

export interface TableSpec {
  logicalId: string;
  tableName: string;
  keySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  attributeDefinitions: { AttributeName: string; AttributeType: 'S' | 'N' | 'B' }[];
  globalSecondaryIndexes?: Record<string, unknown>[];
  localSecondaryIndexes?: Record<string, unknown>[];
  ttlAttribute?: string;
}

/** An `AWS::SQS::Queue`: its Ref is its URL on AWS, which the local SQS resolves by the name at its end. */
export interface QueueSpec {
  logicalId: string;
  name: string;
  arn: string;
  /** The queue's attributes as SQS's CreateQueue takes them (strings), RedrivePolicy's target as an ARN. */
  attributes: Record<string, string>;
}

export interface TopicRuleSpec {
  logicalId: string;
  name: string;
  sql: string;
  sqlVersion: string;
  disabled: boolean;
  /** Targets of `Lambda` actions. */
  functionIds: string[];
  /** Tables of `DynamoDBv2` actions: each puts the rule's output as one item. */
  putItemTables: string[];
  /** Targets of `Sqs` actions (queue logical ids). */
  queueIds?: string[];
  /** Action types the local stack does not run (logged once at start). */
  unsupportedActions: string[];
  /**
   * The rule's error action, where the local stack runs it: `Republish` (to a topic, which the rules then read) or
   * `Sqs` (a queue logical id). `CloudwatchLogs` is logged instead.
   * https://docs.aws.amazon.com/iot/latest/developerguide/rule-error-handling.html
   */
  errorAction?: { republishTopic: string } | { queueId: string };
}

export interface QueueSpec {
  logicalId: string;
  name: string;
  /** What `Ref` gives: `https://sqs.{region}.amazonaws.com/{account}/{name}`; the local queue resolves any URL by its name. */
  url: string;
  arn: string;
  /** CreateQueue attributes from the template's properties (RedrivePolicy as JSON text). */
  attributes: Record<string, string>;
  /** The queue this one redrives to, when it is one of the template's. */
  deadLetterQueueId?: string;
}

export interface EventSourceMappingSpec {
  logicalId: string;
  functionId: string;
  queueId: string;
  batchSize: number;
  maximumBatchingWindowInSeconds: number;
  reportBatchItemFailures: boolean;
  enabled: boolean;
}


/** A function's `Schedule` event (an EventBridge rule that invokes it): what local/eventbridge/ runs. */
export interface ScheduleSpec {
  functionId: string;
  /** The event's name under the function's Events. */
  eventName: string;
  /** `rate(1 minute)`, `cron(…)`. */
  expression: string;
  /** The period of a rate() expression; undefined for cron(), which the local stack does not run. */
  periodMs?: number;
  enabled: boolean;
}

const RATE_UNITS_MS: Record<string, number> = { minute: 60_000, minutes: 60_000, hour: 3_600_000, hours: 3_600_000, day: 86_400_000, days: 86_400_000 };

/** `rate(5 minutes)` → 300000; undefined for anything else. https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html */
export const ratePeriodMs = (expression: string): number | undefined => {
  const match = /^rate\(\s*(\d+)\s+([a-z]+)\s*\)$/.exec(expression.trim());
  const unit = match ? RATE_UNITS_MS[match[2] as string] : undefined;
  return match && unit && Number(match[1]) > 0 ? Number(match[1]) * unit : undefined;
};

export interface StackModel {
  stackName: string;
  region: string;
  accountId: string;
  parameters: Record<string, string>;
  functions: Map<string, FunctionSpec>;
  api?: WebSocketApiSpec;
  tables: TableSpec[];
  rules: TopicRuleSpec[];
  /** SQS queues, dead-letter queues first. */
  queues: QueueSpec[];
  /** SQS event source mappings. */
  eventSourceMappings: EventSourceMappingSpec[];
  schedules: ScheduleSpec[];
  /** Things in the template that the local stack skips, for one warning each at start. */
  warnings: string[];
}

export interface StackModelOptions {
  template?: Template;
  projectRoot?: string;
  stackName?: string;
  parameterOverrides?: Record<string, string>;
}

const HANDLER_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.cjs'];

/** A stable, API Gateway-looking id (10 lowercase alphanumerics) for a logical id. */
export const localApiId = (stackName: string, logicalId: string): string =>
  BigInt(`0x${createHash('sha256').update(`${stackName}/${logicalId}`).digest('hex').slice(0, 16)}`)
    .toString(36)
    .padStart(10, '0')
    .slice(-10);

const lambdaArnPattern = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:/]+)(?::[^:/]+)?$/;

/** The function name inside a Lambda ARN or an API Gateway integration URI that wraps one. */
export const functionNameFromArn = (value: string): string | undefined => {
  const wrapped = /\/functions\/(arn:[^/]+)\/invocations$/.exec(value);
  return lambdaArnPattern.exec(wrapped ? wrapped[1] : value)?.[1];
};

export const buildStackModel = ({
  template = readTemplate(),
  projectRoot = PROJECT_ROOT,
  stackName = LOCAL_STACK_NAME,
  parameterOverrides = {},
}: StackModelOptions = {}): StackModel => {
  const region = LOCAL_REGION;
  const accountId = LOCAL_ACCOUNT_ID;
  const partition = 'aws';
  const warnings: string[] = [];

  const parameters: Record<string, string> = {};
  for (const [name, spec] of Object.entries(template.Parameters ?? {})) {
    const value = parameterOverrides[name] ?? spec.Default;
    if (value === undefined) throw new TemplateError(`parameter ${name} has no Default: pass it in parameterOverrides`);
    parameters[name] = String(value);
  }

  const conditionCache = new Map<string, boolean>();
  const resolving = new Set<string>();
  const allResources = template.Resources;

  const ctx: IntrinsicContext = {
    parameters,
    pseudo: {
      'AWS::Region': region,
      'AWS::AccountId': accountId,
      'AWS::Partition': partition,
      'AWS::StackName': stackName,
      'AWS::StackId': `arn:${partition}:cloudformation:${region}:${accountId}:stack/${stackName}/00000000-0000-0000-0000-000000000000`,
      'AWS::URLSuffix': 'amazonaws.com',
    },
    condition: (name) => {
      const cached = conditionCache.get(name);
      if (cached !== undefined) return cached;
      const expression = template.Conditions?.[name];
      if (expression === undefined) throw new TemplateError(`condition ${name} is not defined`);
      if (resolving.has(`condition:${name}`)) throw new TemplateError(`condition ${name} refers to itself`);
      resolving.add(`condition:${name}`);
      const value = evaluateCondition(expression, ctx);
      resolving.delete(`condition:${name}`);
      conditionCache.set(name, value);
      return value;
    },
    ref: (logicalId) => (exists(logicalId) ? physicalId(logicalId) : undefined),
    getAtt: (logicalId, attribute) => (exists(logicalId) ? attributeOf(logicalId, attribute) : undefined),
  };

  const exists = (logicalId: string): boolean => {
    const resource = allResources[logicalId];
    return resource !== undefined && (resource.Condition === undefined || ctx.condition(resource.Condition));
  };

  const resolve = (value: unknown) => {
    const out = resolveIntrinsics(value, ctx);
    return out === NO_VALUE ? undefined : out;
  };

  /** A property of a resource, resolved, guarding against a resource that names itself. */
  const property = (logicalId: string, name: string): unknown => {
    const key = `${logicalId}.${name}`;
    if (resolving.has(key)) throw new TemplateError(`${key} refers to itself`);
    resolving.add(key);
    try {
      return resolve(allResources[logicalId]?.Properties?.[name]);
    } finally {
      resolving.delete(key);
    }
  };

  const names = new Map<string, string>();
  const physicalId = (logicalId: string): string => {
    const known = names.get(logicalId);
    if (known) return known;
    const resource = allResources[logicalId] as Resource;
    let id: string;
    switch (resource.Type) {
      case 'AWS::Serverless::Function':
      case 'AWS::Lambda::Function':
        id = (property(logicalId, 'FunctionName') as string | undefined) ?? `${stackName}-${logicalId}`;
        break;
      case 'AWS::DynamoDB::Table':
      case 'AWS::Serverless::SimpleTable':
        id = (property(logicalId, 'TableName') as string | undefined) ?? logicalId;
        break;
      case 'AWS::ApiGatewayV2::Api':
        id = localApiId(stackName, logicalId);
        break;
      case 'AWS::SecretsManager::Secret':
        id = `arn:${partition}:secretsmanager:${region}:${accountId}:secret:${stackName}-${logicalId}-local`;
        break;
      case 'AWS::Logs::LogGroup':
        id = (property(logicalId, 'LogGroupName') as string | undefined) ?? `${stackName}-${logicalId}`;
        break;
      case 'AWS::Serverless::LayerVersion':
      case 'AWS::Lambda::LayerVersion':
        id = `arn:${partition}:lambda:${region}:${accountId}:layer:${stackName}-${logicalId}:1`;
        break;
      case 'AWS::IoT::TopicRule':
        id = (property(logicalId, 'RuleName') as string | undefined) ?? `${stackName}_${logicalId}`.replace(/[^A-Za-z0-9_]/g, '_');
        break;
      case 'AWS::SNS::Topic':
        id = `arn:${partition}:sns:${region}:${accountId}:${stackName}-${logicalId}`;
        break;
      case 'AWS::SQS::Queue':
        // Ref of a queue is its URL.
        id = `https://sqs.${region}.amazonaws.com/${accountId}/${queueName(logicalId)}`;
        break;
      default:
        // Integrations, routes, authorizers, stages, ...: their logical id stands in for the physical id.
        id = logicalId;
    }
    names.set(logicalId, id);
    return id;
  };

  const queueName = (logicalId: string): string => (property(logicalId, 'QueueName') as string | undefined) ?? `${stackName}-${logicalId}`;

  const attributeOf = (logicalId: string, attribute: string): string => {
    const resource = allResources[logicalId] as Resource;
    const id = physicalId(logicalId);
    switch (`${resource.Type}.${attribute}`) {
      case 'AWS::Serverless::Function.Arn':
      case 'AWS::Lambda::Function.Arn':
        return `arn:${partition}:lambda:${region}:${accountId}:function:${id}`;
      case 'AWS::DynamoDB::Table.Arn':
        return `arn:${partition}:dynamodb:${region}:${accountId}:table/${id}`;
      case 'AWS::DynamoDB::Table.StreamArn':
        return `arn:${partition}:dynamodb:${region}:${accountId}:table/${id}/stream/1970-01-01T00:00:00.000`;
      case 'AWS::ApiGatewayV2::Api.ApiEndpoint':
        return `wss://${id}.execute-api.${region}.amazonaws.com`;
      case 'AWS::ApiGatewayV2::Api.ApiId':
        return id;
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:${partition}:logs:${region}:${accountId}:log-group:${id}:*`;
      case 'AWS::IAM::Role.Arn':
        return `arn:${partition}:iam::${accountId}:role/${stackName}-${logicalId}`;
      case 'AWS::IoT::TopicRule.Arn':
        return `arn:${partition}:iot:${region}:${accountId}:rule/${id}`;
      case 'AWS::SQS::Queue.Arn':
        return `arn:${partition}:sqs:${region}:${accountId}:${queueName(logicalId)}`;
      case 'AWS::SQS::Queue.QueueName':
        return queueName(logicalId);
      case 'AWS::SQS::Queue.QueueUrl':
        return id;
      default:
        return attribute === 'Arn' ? `arn:${partition}:local:${region}:${accountId}:${logicalId}` : `${logicalId}.${attribute}`;
    }
  };

  const onFailureOf = (logicalId: string): { onFailure?: FunctionSpec['onFailure'] } => {
    const config = property(logicalId, 'EventInvokeConfig') as { DestinationConfig?: { OnFailure?: { Type?: string; Destination?: string } } } | undefined;
    const onFailure = config?.DestinationConfig?.OnFailure;
    return onFailure?.Destination ? { onFailure: { type: String(onFailure.Type ?? 'SQS'), destination: String(onFailure.Destination) } } : {};
  };

  const resourcesOfType = (...types: string[]): [string, Resource][] =>
    Object.entries(allResources).filter(([id, r]) => types.includes(r.Type) && exists(id));

  // ---- functions
  const globals = template.Globals?.Function ?? {};
  const globalEnv = (resolve(globals.Environment?.Variables) as Record<string, unknown> | undefined) ?? {};
  const functions = new Map<string, FunctionSpec>();
  const functionIdByName = new Map<string, string>();
  for (const [logicalId, resource] of resourcesOfType('AWS::Serverless::Function')) {
    const props = resource.Properties ?? {};
    const codeUri = String(resolve(props.CodeUri ?? globals.CodeUri ?? '.'));
    const handler = String(resolve(props.Handler ?? globals.Handler ?? 'index.handler'));
    const dot = handler.lastIndexOf('.');
    const modulePath = handler.slice(0, dot);
    const exportName = handler.slice(dot + 1);
    const entryPoints: string[] = resource.Metadata?.BuildProperties?.EntryPoints ?? [];
    const candidates = [
      ...entryPoints.filter((e) => basename(e, extname(e)) === basename(modulePath)).map((e) => join(projectRoot, codeUri, e)),
      ...HANDLER_EXTENSIONS.map((ext) => join(projectRoot, codeUri, `${modulePath}${ext}`)),
    ];
    const entryFile = candidates.find((file) => existsSync(file)) ?? candidates[0] ?? join(projectRoot, codeUri, `${modulePath}.ts`);
    const ownEnv = (resolve(props.Environment?.Variables) as Record<string, unknown> | undefined) ?? {};
    const environment: Record<string, string> = {};
    for (const [key, value] of Object.entries({ ...globalEnv, ...ownEnv })) {
      environment[key] = typeof value === 'string' ? value : JSON.stringify(value);
    }
    const name = physicalId(logicalId);
    functions.set(logicalId, {
      logicalId,
      name,
      arn: attributeOf(logicalId, 'Arn'),
      codeUri,
      entryFile,
      exportName,
      timeoutSeconds: Number(resolve(props.Timeout ?? globals.Timeout ?? 3)),
      memoryMb: Number(resolve(props.MemorySize ?? globals.MemorySize ?? 128)),
      runtime: String(resolve(props.Runtime ?? globals.Runtime ?? 'nodejs20.x')),
      environment,
      ...onFailureOf(logicalId),
    });
    functionIdByName.set(name, logicalId);
  }
  for (const [logicalId] of resourcesOfType('AWS::Lambda::Function')) {
    warnings.push(`${logicalId}: AWS::Lambda::Function is not run locally (only AWS::Serverless::Function)`);
  }

  const functionIdFromArn = (value: unknown, where: string): string | undefined => {
    const name = typeof value === 'string' ? functionNameFromArn(value) : undefined;
    const id = name ? functionIdByName.get(name) : undefined;
    if (!id) warnings.push(`${where}: target ${JSON.stringify(value)} is not a function of this template`);
    return id;
  };

  // ---- the WebSocket API
  let api: WebSocketApiSpec | undefined;
  const apis = resourcesOfType('AWS::ApiGatewayV2::Api').filter(([id]) => property(id, 'ProtocolType') === 'WEBSOCKET');
  if (apis.length > 1) warnings.push(`only the first WebSocket API (${apis[0][0]}) runs locally`);
  if (apis.length > 0) {
    const [apiLogicalId] = apis[0];
    const apiId = physicalId(apiLogicalId);
    const belongs = (id: string) => property(id, 'ApiId') === apiId;

    const stages = resourcesOfType('AWS::ApiGatewayV2::Stage').filter(([id]) => belongs(id));
    const stage = stages.length > 0 ? String(property(stages[0][0], 'StageName')) : '$default';

    const authorizers = new Map<string, AuthorizerSpec>();
    for (const [logicalId] of resourcesOfType('AWS::ApiGatewayV2::Authorizer').filter(([id]) => belongs(id))) {
      const functionId = functionIdFromArn(property(logicalId, 'AuthorizerUri'), logicalId);
      if (!functionId) continue;
      authorizers.set(physicalId(logicalId), {
        logicalId,
        name: String(property(logicalId, 'Name') ?? logicalId),
        type: String(property(logicalId, 'AuthorizerType') ?? 'REQUEST'),
        functionId,
        identitySources: ((property(logicalId, 'IdentitySource') as string[] | undefined) ?? []).map(String),
      });
    }

    const routes = new Map<string, RouteSpec>();
    for (const [logicalId] of resourcesOfType('AWS::ApiGatewayV2::Route').filter(([id]) => belongs(id))) {
      const routeKey = String(property(logicalId, 'RouteKey'));
      const target = String(property(logicalId, 'Target') ?? '');
      const integrationId = target.startsWith('integrations/') ? target.slice('integrations/'.length) : undefined;
      let functionId: string | undefined;
      if (integrationId && exists(integrationId)) {
        const type = property(integrationId, 'IntegrationType');
        if (type === 'AWS_PROXY' || type === 'AWS') {
          functionId = functionIdFromArn(property(integrationId, 'IntegrationUri'), `${logicalId} → ${integrationId}`);
        } else {
          warnings.push(`${logicalId}: integration type ${String(type)} is not run locally`);
        }
      } else {
        warnings.push(`${logicalId}: no integration target`);
      }
      const authorizerId = property(logicalId, 'AuthorizerId');
      const custom = property(logicalId, 'AuthorizationType') === 'CUSTOM';
      routes.set(routeKey, {
        logicalId,
        routeKey,
        functionId,
        twoWay: property(logicalId, 'RouteResponseSelectionExpression') !== undefined,
        authorizer: custom && typeof authorizerId === 'string' ? authorizers.get(authorizerId) : undefined,
      });
    }

    const throttles = new Map<string, { rateLimit: number; burstLimit: number }>();
    const throttleOf = (settings: Record<string, unknown> | undefined) => {
      const rateLimit = Number(settings?.ThrottlingRateLimit);
      const burstLimit = Number(settings?.ThrottlingBurstLimit);
      return Number.isFinite(rateLimit) && Number.isFinite(burstLimit) ? { rateLimit, burstLimit } : undefined;
    };
    if (stages.length > 0) {
      const fallback = throttleOf(property(stages[0][0], 'DefaultRouteSettings') as Record<string, unknown> | undefined);
      if (fallback) throttles.set('*', fallback);
      for (const [routeKey, settings] of Object.entries((property(stages[0][0], 'RouteSettings') as Record<string, Record<string, unknown>> | undefined) ?? {})) {
        const throttle = throttleOf(settings);
        if (throttle) throttles.set(routeKey, throttle);
      }
    }

    api = {
      throttles,
      logicalId: apiLogicalId,
      apiId,
      name: String(property(apiLogicalId, 'Name') ?? apiLogicalId),
      stage,
      routeSelectionExpression: String(property(apiLogicalId, 'RouteSelectionExpression') ?? '$request.body.action'),
      routes,
    };
  }

  // ---- tables
  const tables: TableSpec[] = [];
  for (const [logicalId, resource] of resourcesOfType('AWS::DynamoDB::Table', 'AWS::Serverless::SimpleTable')) {
    const tableName = physicalId(logicalId);
    if (resource.Type === 'AWS::Serverless::SimpleTable') {
      const key = (property(logicalId, 'PrimaryKey') as { Name?: string; Type?: string } | undefined) ?? {};
      const type = ({ String: 'S', Number: 'N', Binary: 'B' } as const)[(key.Type ?? 'String') as 'String' | 'Number' | 'Binary'];
      tables.push({
        logicalId,
        tableName,
        keySchema: [{ AttributeName: key.Name ?? 'id', KeyType: 'HASH' }],
        attributeDefinitions: [{ AttributeName: key.Name ?? 'id', AttributeType: type ?? 'S' }],
      });
      continue;
    }
    const ttl = property(logicalId, 'TimeToLiveSpecification') as { AttributeName?: string; Enabled?: boolean } | undefined;
    tables.push({
      logicalId,
      tableName,
      keySchema: property(logicalId, 'KeySchema') as TableSpec['keySchema'],
      attributeDefinitions: property(logicalId, 'AttributeDefinitions') as TableSpec['attributeDefinitions'],
      globalSecondaryIndexes: property(logicalId, 'GlobalSecondaryIndexes') as TableSpec['globalSecondaryIndexes'],
      localSecondaryIndexes: property(logicalId, 'LocalSecondaryIndexes') as TableSpec['localSecondaryIndexes'],
      ttlAttribute: ttl?.Enabled ? ttl.AttributeName : undefined,
    });
  }

  // ---- SQS queues (before the rules, which send to them)
  const QUEUE_ATTRIBUTES = ['DelaySeconds', 'MaximumMessageSize', 'MessageRetentionPeriod', 'ReceiveMessageWaitTimeSeconds', 'VisibilityTimeout', 'SqsManagedSseEnabled', 'KmsMasterKeyId'];
  const queueIdByArn = new Map<string, string>();
  const queueIdByUrl = new Map<string, string>();
  const queueSpecs: QueueSpec[] = [];
  for (const [logicalId] of resourcesOfType('AWS::SQS::Queue')) {
    if (property(logicalId, 'FifoQueue') === true || property(logicalId, 'FifoQueue') === 'true') {
      warnings.push(`${logicalId}: FIFO queues are not run locally`);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const name of QUEUE_ATTRIBUTES) {
      const value = property(logicalId, name);
      if (value !== undefined) attributes[name] = String(value);
    }
    const redrive = property(logicalId, 'RedrivePolicy') as { deadLetterTargetArn?: string; maxReceiveCount?: unknown } | string | undefined;
    const redrivePolicy = typeof redrive === 'string' ? (JSON.parse(redrive) as { deadLetterTargetArn?: string; maxReceiveCount?: unknown }) : redrive;
    if (redrivePolicy) attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: redrivePolicy.deadLetterTargetArn, maxReceiveCount: Number(redrivePolicy.maxReceiveCount) });
    const spec: QueueSpec = { logicalId, name: queueName(logicalId), url: physicalId(logicalId), arn: attributeOf(logicalId, 'Arn'), attributes };
    queueIdByArn.set(spec.arn, logicalId);
    queueIdByUrl.set(spec.url, logicalId);
    queueSpecs.push(spec);
  }
  for (const spec of queueSpecs) {
    const target = spec.attributes.RedrivePolicy ? (JSON.parse(spec.attributes.RedrivePolicy) as { deadLetterTargetArn?: string }).deadLetterTargetArn : undefined;
    if (target) spec.deadLetterQueueId = queueIdByArn.get(target);
  }
  // Dead-letter queues first: CreateQueue needs its redrive target to exist.
  const queues = [...queueSpecs].sort((a, b) => Number(a.deadLetterQueueId !== undefined) - Number(b.deadLetterQueueId !== undefined));

  // ---- Lambda event source mappings (SQS)
  const eventSourceMappings: EventSourceMappingSpec[] = [];
  for (const [logicalId] of resourcesOfType('AWS::Lambda::EventSourceMapping')) {
    const source = String(property(logicalId, 'EventSourceArn') ?? '');
    const queueId = queueIdByArn.get(source);
    const fnRef = String(property(logicalId, 'FunctionName') ?? '');
    const functionId = functionIdByName.get(fnRef) ?? functionIdByName.get(functionNameFromArn(fnRef) ?? '') ?? (functions.has(fnRef) ? fnRef : undefined);
    if (!queueId || !functionId) {
      warnings.push(`${logicalId}: event source ${JSON.stringify(source)} → ${JSON.stringify(fnRef)} is not run locally (only SQS queues of this template to its functions)`);
      continue;
    }
    const enabled = property(logicalId, 'Enabled');
    eventSourceMappings.push({
      logicalId,
      functionId,
      queueId,
      batchSize: Number(property(logicalId, 'BatchSize') ?? 10),
      maximumBatchingWindowInSeconds: Number(property(logicalId, 'MaximumBatchingWindowInSeconds') ?? 0),
      reportBatchItemFailures: ((property(logicalId, 'FunctionResponseTypes') as string[] | undefined) ?? []).includes('ReportBatchItemFailures'),
      enabled: enabled === undefined || enabled === true || enabled === 'true',
    });
  }

  // ---- IoT topic rules
  const rules: TopicRuleSpec[] = [];
  for (const [logicalId] of resourcesOfType('AWS::IoT::TopicRule')) {
    const payload = (property(logicalId, 'TopicRulePayload') as Record<string, any> | undefined) ?? {};
    const functionIds: string[] = [];
    const queueIds: string[] = [];
    const putItemTables: string[] = [];
    const unsupportedActions: string[] = [];
    for (const action of (payload.Actions as Record<string, any>[] | undefined) ?? []) {
      for (const [type, config] of Object.entries(action)) {
        if (type === 'Lambda') {
          const id = functionIdFromArn(config?.FunctionArn, logicalId);
          if (id) functionIds.push(id);
        } else if (type === 'Sqs') {
          const queue = queueIdByUrl.get(String(config?.QueueUrl ?? ''));
          if (queue) queueIds.push(queue);
          else warnings.push(`${logicalId}: Sqs action to ${JSON.stringify(config?.QueueUrl)}, not a queue of this template`);
          if (config?.UseBase64 === true || config?.UseBase64 === 'true') warnings.push(`${logicalId}: Sqs action with UseBase64 is sent as plain text locally`);
        } else if (type === 'DynamoDBv2' && typeof config?.PutItem?.TableName === 'string') {
          putItemTables.push(config.PutItem.TableName);
        } else {
          unsupportedActions.push(type);
        }
      }
    }
    if (unsupportedActions.length > 0) warnings.push(`${logicalId}: actions not run locally: ${unsupportedActions.join(', ')}`);
    const onError = (payload.ErrorAction as Record<string, any> | undefined) ?? {};
    let errorAction: TopicRuleSpec['errorAction'];
    if (typeof onError.Republish?.Topic === 'string') errorAction = { republishTopic: onError.Republish.Topic };
    else if (onError.Sqs && queueIdByUrl.has(String(onError.Sqs.QueueUrl ?? ''))) errorAction = { queueId: queueIdByUrl.get(String(onError.Sqs.QueueUrl))! };
    rules.push({
      ...(errorAction ? { errorAction } : {}),
      logicalId,
      name: physicalId(logicalId),
      sql: String(payload.Sql ?? ''),
      sqlVersion: String(payload.AwsIotSqlVersion ?? '2016-03-23'),
      disabled: payload.RuleDisabled === true || payload.RuleDisabled === 'true',
      functionIds,
      queueIds,
      putItemTables,
      unsupportedActions,
    });
  }

  // ---- Schedule events (SAM turns each into an EventBridge rule)
  const schedules: ScheduleSpec[] = [];
  for (const [logicalId] of resourcesOfType('AWS::Serverless::Function')) {
    const events = (property(logicalId, 'Events') as Record<string, { Type?: string; Properties?: Record<string, unknown> }> | undefined) ?? {};
    for (const [eventName, event] of Object.entries(events)) {
      if (event?.Type !== 'Schedule') continue;
      const expression = String(event.Properties?.Schedule ?? '');
      const periodMs = ratePeriodMs(expression);
      if (periodMs === undefined) warnings.push(`${logicalId}.${eventName}: schedule "${expression}" is not run locally (only rate() is)`);
      schedules.push({ functionId: logicalId, eventName, expression, periodMs, enabled: event.Properties?.Enabled !== false && event.Properties?.Enabled !== 'false' });
    }
  }

  return { stackName, region, accountId, parameters, functions, api, tables, rules, queues, eventSourceMappings, schedules, warnings };
};

/**
 * Points the API's AWS endpoints at the local gateway:
 * `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}` → `{http}/{stage}`, and `wss://...` → `{ws}/...`.
 */
export const localizeApiEndpoints = (value: string, apiId: string, region: string, local: { http: string; ws: string }): string => {
  const host = `${apiId}.execute-api.${region}.amazonaws.com`;
  return value.replaceAll(`https://${host}`, local.http).replaceAll(`wss://${host}`, local.ws);
};
