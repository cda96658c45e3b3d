/**
 * AWS IoT Core, locally: an MQTT broker (aedes) on TCP and over WebSocket, and
 * a topic-rule engine that runs the template's AWS::IoT::TopicRule resources
 * (their SQL through ./iotSql.ts), invokes their Lambda actions
 * asynchronously and sends their Sqs actions' messages. A payload a rule cannot read is logged and dropped, as IoT
 * Core does; nothing a device sends can stop the broker.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Server, type Socket, createServer } from 'node:net';
import { Aedes } from 'aedes';
import { attachLifecycleEvents } from './lifecycle.js';
import { type WebSocket, createWebSocketStream } from 'ws';
import { nestingExceeds } from '@serverless-iot-dashboard/shared';
import { type RuleQuery, evaluateRule, parseRuleSql, topicMatches } from './iotSql.js';
import type { TopicRuleSpec } from '../template/stackModel.js';

/**
 * Deeper payloads are dropped: the event crosses to the function's sandbox as
 * JSON text, and JSON.stringify recurses, so a few thousand levels (which fit
 * in a 128 KB message) would overflow the stack here and fail every retry.
 */
export const MAX_PAYLOAD_NESTING = 1000;

export interface RuleInvokeMeta {
  rule: string;
  topic: string;
  attempt: number;
}

export interface IotCoreOptions {
  rules: TopicRuleSpec[];
  /** Runs a function and resolves with its result; rejects with its error. */
  invoke: (functionId: string, event: unknown, meta: RuleInvokeMeta) => Promise<unknown>;
  log: (level: 'debug' | 'info' | 'warn' | 'error', source: 'mqtt' | 'rule', text: string) => void;
  /**
   * Lambda's asynchronous invocation, which a rule's Lambda action uses: the
   * queue and its retries are Lambda's, so the stack passes in local/lambda's.
   */
  asyncInvoker: RuleActionInvoker;
  /**
   * DynamoDB's PutItem, which a rule's DynamoDBv2 action performs (the rule's output is the item).
   * The stack passes in one bound to its DynamoDB; without it, those actions are skipped.
   */
  putItem?: (tableName: string, item: Record<string, unknown>) => Promise<void>;
  /**
   * The Sqs action: sends the rule's output as the message body (UseBase64
   * false). The queue is SQS's, so the stack passes in local/sqs's SendMessage.
   */
  sendToQueue?: (queueId: string, body: string, meta: { rule: string; topic: string }) => Promise<void>;
  now?: () => number;
}

export interface RuleActionOutcome {
  ok: boolean;
  attempts: number;
  error?: Error;
}

/** What the rule engine needs of Lambda's async invocation queue. */
export interface RuleActionInvoker {
  /** `job` names the function and event, for Lambda's OnFailure destination. */
  enqueue(run: (attempt: number) => Promise<unknown>, onDone?: (outcome: RuleActionOutcome) => void, job?: { functionId: string; event: unknown }): void;
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface IotStats {
  /** Lifecycle events published ($aws/events/presence/...). */
  lifecycle: number;
  published: number;
  matched: number;
  invoked: number;
  /** Messages sent to a queue by an Sqs action. */
  queued: number;
  failed: number;
  dropped: number;
  /** DynamoDBv2 actions performed, and those that failed (IoT Core sends those to the rule's error action). */
  stored: number;
  storeFailed: number;
  /** Error actions run (a failed Sqs or DynamoDBv2 action). */
  errorActions: number;
}

export interface IotCore {
  readonly broker: Aedes;
  readonly stats: IotStats;
  /** MQTT over TCP. Resolves with the bound port. */
  listen(port: number, host: string): Promise<number>;
  /** MQTT over WebSocket: hand over a socket accepted on the HTTP server's /mqtt path. */
  handleWebSocket(ws: WebSocket, req: IncomingMessage): void;
  /** Resolves when every rule invocation so far, retries included, has finished. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

interface CompiledRule {
  spec: TopicRuleSpec;
  query: RuleQuery;
}

export const compileRules = (rules: TopicRuleSpec[], log: IotCoreOptions['log']): CompiledRule[] => {
  const compiled: CompiledRule[] = [];
  for (const spec of rules) {
    if (spec.disabled) {
      log('info', 'rule', `${spec.logicalId} is disabled (RuleDisabled: true)`);
      continue;
    }
    try {
      compiled.push({ spec, query: parseRuleSql(spec.sql) });
    } catch (error) {
      log('error', 'rule', `${spec.logicalId}: its SQL cannot run locally: ${(error as Error).message}`);
    }
  }
  return compiled;
};

export const startIotCore = async (options: IotCoreOptions): Promise<IotCore> => {
  const { invoke, log, asyncInvoker, putItem, sendToQueue, now = Date.now } = options;
  const pending = new Set<Promise<void>>();
  const rules = compileRules(options.rules, log);
  const stats: IotStats = { lifecycle: 0, published: 0, matched: 0, invoked: 0, queued: 0, failed: 0, dropped: 0, stored: 0, storeFailed: 0, errorActions: 0 };
  const broker = await Aedes.createBroker({ heartbeatInterval: 60_000 });
  const sockets = new Set<Socket>();
  let tcp: Server | undefined;

  broker.on('clientError', (client, error) => log('debug', 'mqtt', `client ${client?.id ?? '?'}: ${error.message}`));
  broker.on('connectionError', (_client, error) => log('debug', 'mqtt', `connection error: ${error.message}`));
  broker.on('client', (client) => log('debug', 'mqtt', `client ${client.id} connected`));
  broker.on('clientDisconnect', (client) => log('debug', 'mqtt', `client ${client.id} disconnected`));

  /**
   * A rule's action failed: IoT Core runs the rule's error action with a document naming the failure and carrying
   * the original payload, base64-encoded (https://docs.aws.amazon.com/iot/latest/developerguide/rule-error-handling.html).
   * Republish publishes it (and the rules that read that topic run on it); Sqs sends it to the queue.
   */
  const runErrorAction = (rule: CompiledRule, topic: string, clientId: string, payload: Buffer, failure: { failedAction: string; failedResource: string; errorMessage: string }) => {
    const target = rule.spec.errorAction;
    if (!target) return;
    stats.errorActions++;
    const doc = JSON.stringify({
      ruleName: rule.spec.name,
      topic,
      cloudwatchTraceId: randomUUID(),
      clientId,
      base64OriginalPayload: payload.toString('base64'),
      failures: [failure],
    });
    if ('republishTopic' in target) {
      const body = Buffer.from(doc);
      broker.publish({ cmd: 'publish', topic: target.republishTopic, payload: body, qos: 1, retain: false, dup: false }, () => undefined);
      // The broker runs no rules for its own publications (no client): the rules engine reads the republished message here.
      runRules(target.republishTopic, body, clientId, false);
      return;
    }
    if (!sendToQueue) return;
    const sent = sendToQueue(target.queueId, doc, { rule: rule.spec.logicalId, topic })
      .catch((error: Error) => log('error', 'rule', `${rule.spec.logicalId}'s error action → ${target.queueId} failed too: ${error.message}`))
      .finally(() => pending.delete(sent));
    pending.add(sent);
  };

  const runRules = (topic: string, payload: Buffer, clientId: string, errorActions = true): void => {
    const candidates = rules.filter((rule) => topicMatches(rule.query.from, topic));
    if (candidates.length === 0) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      stats.dropped++;
      log('warn', 'rule', `dropped a message on ${topic} from ${clientId}: the payload is not JSON (${payload.length} bytes)`);
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      stats.dropped++;
      log('warn', 'rule', `dropped a message on ${topic} from ${clientId}: the payload is not a JSON object`);
      return;
    }
    if (nestingExceeds(parsed, MAX_PAYLOAD_NESTING)) {
      stats.dropped++;
      log('warn', 'rule', `dropped a message on ${topic} from ${clientId}: the payload nests deeper than ${MAX_PAYLOAD_NESTING} levels`);
      return;
    }
    for (const rule of candidates) {
      let output: Record<string, unknown> | undefined;
      try {
        output = evaluateRule(rule.query, { topic, payload: parsed, clientId, timestamp: now(), newUuid: randomUUID });
      } catch (error) {
        stats.dropped++;
        log('warn', 'rule', `${rule.spec.logicalId}: could not evaluate on ${topic}: ${(error as Error).message}`);
        continue;
      }
      if (!output) continue;
      stats.matched++;
      for (const queueId of rule.spec.queueIds ?? []) {
        if (!sendToQueue) {
          log('warn', 'rule', `${rule.spec.logicalId}: no queue service for its Sqs action to ${queueId}`);
          continue;
        }
        stats.queued++;
        const sent = sendToQueue(queueId, JSON.stringify(output), { rule: rule.spec.logicalId, topic })
          .catch((error: Error) => {
            stats.failed++;
            log('error', 'rule', `${rule.spec.logicalId} → ${queueId}: SendMessage failed for a message from ${topic}: ${error.message} (the rule's error action)`);
            if (errorActions) runErrorAction(rule, topic, clientId, payload, { failedAction: 'SqsAction', failedResource: queueId, errorMessage: error.message });
          })
          .finally(() => pending.delete(sent));
        pending.add(sent);
      }
      for (const tableName of putItem ? rule.spec.putItemTables : []) {
        // IoT Core writes the item itself, beside the Lambda action: nothing here waits on it.
        const item = output;
        const write: Promise<void> = putItem!(tableName, item)
          .then(() => {
            stats.stored++;
          })
          .catch((error: Error) => {
            stats.storeFailed++;
            // A reading DynamoDB cannot hold (a number out of its range, an empty attribute name) is the device's
            // mistake, like unreadable JSON; anything else (throttling, a 500) is a failure. Both reach the error action on AWS.
            if (error.name === 'ValidationException') log('warn', 'rule', `${rule.spec.logicalId} → DynamoDBv2 ${tableName}: refused a reading from ${topic}: ${error.message}`);
            else log('error', 'rule', `${rule.spec.logicalId} → DynamoDBv2 ${tableName}: ${error.name}: ${error.message} (the rule's error action)`);
            if (errorActions) runErrorAction(rule, topic, clientId, payload, { failedAction: 'DynamoDBv2Action', failedResource: tableName, errorMessage: `${error.name}: ${error.message}` });
          })
          .finally(() => pending.delete(write));
        pending.add(write);
      }
      for (const functionId of rule.spec.functionIds) {
        const event = output;
        asyncInvoker.enqueue(
          (attempt) => {
            stats.invoked++;
            return invoke(functionId, event, { rule: rule.spec.logicalId, topic, attempt });
          },
          (outcome) => {
            if (!outcome.ok) {
              stats.failed++;
              log('error', 'rule', `${rule.spec.logicalId} → ${functionId}: gave up on a message from ${topic} after ${outcome.attempts} attempts: ${outcome.error?.message ?? 'unknown error'}`);
            }
          },
          { functionId, event },
        );
      }
    }
  };

  // IoT Core's lifecycle events (./lifecycle.ts): to MQTT subscribers of $aws/events/presence/#, and through the rules.
  const lifecycle = attachLifecycleEvents(broker, {
    now,
    emit: (topic, event) => {
      const payload = Buffer.from(JSON.stringify(event));
      stats.lifecycle++;
      broker.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, () => undefined);
      try {
        runRules(topic, payload, event.clientId);
      } catch (error) {
        log('error', 'rule', `rule engine failed on ${topic}: ${(error as Error).message}`);
      }
    },
  });

  broker.on('publish', (packet, client) => {
    // Only what devices publish: the broker's own $SYS heartbeats have no client.
    if (!client) return;
    stats.published++;
    try {
      runRules(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(String(packet.payload ?? '')), client.id);
    } catch (error) {
      log('error', 'rule', `rule engine failed on ${packet.topic}: ${(error as Error).message}`);
    }
  });

  return {
    broker,
    stats,
    listen(port, host) {
      const server = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
        broker.handle(socket);
      });
      tcp = server;
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as { port: number }).port);
        });
      });
    },
    handleWebSocket(ws, req) {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => undefined);
      broker.handle(stream, req);
    },
    async settled() {
      await Promise.all([...pending]);
      await asyncInvoker.settled();
    },
    async close() {
      lifecycle.shuttingDown();
      const server = tcp;
      tcp = undefined;
      if (server) {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
      }
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await Promise.all([...pending]);
      await asyncInvoker.close();
    },
  };
};
