/**
 * What lands in the dead-letter queue, and how `npm run redrive` replays it
 * through the same path:
 *
 * - Lambda's invocation record (OnFailure of an asynchronous invocation that
 *   failed every attempt): the function is invoked again with the event it
 *   was given (`requestPayload`). The event carries `receivedAt`, so the
 *   frame id is the one clients may already have: they drop duplicates.
 *   https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
 * - An IoT rule error (the error action's document, republished to the
 *   errors rule): the original payload (`base64OriginalPayload`) goes through
 *   the template's own rule SQL again, and the rule's Lambda action target is
 *   invoked with the result. `timestamp()` is the time the error was queued.
 *   https://docs.aws.amazon.com/iot/latest/developerguide/rule-error-handling.html
 * - A history write that failed (kind `history-write`, sent by the telemetry or
 *   the batch function: layers/shared/src/history/historyDeadLetters.ts): its
 *   readings go through the history writer into the stack's history table. The
 *   same reading id gives the same raw item and its buckets are recomputed, so a
 *   replay of a write that partly landed changes nothing twice.
 *   (HistoryRule's failed DynamoDBv2 writes, from before the functions wrote
 *   history, are left in the queue as unreadable: their items are of the old
 *   table layout.)
 *
 * Domain code only: the clients come in, so specs inject fakes.
 */
import { randomUUID } from 'node:crypto';
import { type TelemetryFrame, readHistoryDeadLetter } from '@serverless-iot-dashboard/shared';
import { evaluateRule, parseRuleSql, topicMatches } from '../local/iot/iotSql.js';
import { type Template, resourcesOfType } from './template.js';

export type DeadLetter =
  | { kind: 'invocation'; function: string; event: unknown; error: string; attempts: number }
  | { kind: 'rule-error'; rule: string; topic: string; function?: string; targetLogicalId?: string; event: Record<string, unknown>; error: string }
  | { kind: 'history-write'; readings: TelemetryFrame[]; error: string }
  | { kind: 'unreadable'; reason: string };

/** A topic rule of the template: its SQL and the logical ids of its Lambda action targets. */
export interface RuleSource {
  logicalId: string;
  sql: string;
  functionIds: string[];
}

/** The template's topic rules with Lambda actions: what a rule error is replayed through. */
/** A rule's actions, both branches of an `Fn::If` included (FanoutMode picks Lambda or Sqs). */
export const actionsOf = (actions: any): Record<string, any>[] =>
  Array.isArray(actions) ? actions : Array.isArray(actions?.['Fn::If']) ? (actions['Fn::If'] as unknown[]).slice(1).flatMap(actionsOf) : [];

/**
 * `parameters` fill an `Fn::Sub` SQL's `${Name}`: the deployed stack's
 * values, or the template's defaults where none is given.
 */
export const templateRules = (template: Template, parameters: Record<string, string> = {}): RuleSource[] =>
  resourcesOfType(template, 'AWS::IoT::TopicRule').map(([logicalId, rule]) => {
    const payload = rule.Properties?.TopicRulePayload ?? {};
    const actions = actionsOf(payload.Actions);
    const functionIds = actions.map((a) => a.Lambda?.FunctionArn?.['Fn::GetAtt']?.[0]).filter((id): id is string => typeof id === 'string');
    const value = (name: string) => parameters[name] ?? (template.Parameters?.[name] as { Default?: unknown } | undefined)?.Default;
    const sql = typeof payload.Sql === 'string' ? payload.Sql : String(payload.Sql?.['Fn::Sub'] ?? '').replace(/\$\{([\w:]+)\}/g, (whole, name: string) => String(value(name) ?? whole));
    return { logicalId, sql, functionIds };
  });

const lambdaArn = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:/]+)(?::[^:/]+)?$/;

/** `arn:aws:lambda:…:function:name:$LATEST` → `arn:aws:lambda:…:function:name` (the unqualified function is what the rule and the worker invoke). */
const unqualified = (arn: string) => arn.split(':').slice(0, 7).join(':');

export const parseDeadLetter = (body: string, { sentAt, rules }: { sentAt: number; rules: RuleSource[] }): DeadLetter => {
  let doc: Record<string, any>;
  try {
    doc = JSON.parse(body);
  } catch {
    return { kind: 'unreadable', reason: 'the message body is not JSON' };
  }
  if (!doc || typeof doc !== 'object') return { kind: 'unreadable', reason: 'the message body is not a JSON object' };

  const history = readHistoryDeadLetter(doc);
  if (history && 'invalid' in history) return { kind: 'unreadable', reason: history.invalid };
  if (history) return { kind: 'history-write', readings: history.readings, error: history.error };

  const context = doc.requestContext;
  if (doc.version === '1.0' && typeof context?.functionArn === 'string' && 'requestPayload' in doc) {
    if (!lambdaArn.test(context.functionArn)) return { kind: 'unreadable', reason: `not a Lambda function ARN: ${context.functionArn}` };
    return {
      kind: 'invocation',
      function: unqualified(context.functionArn),
      event: doc.requestPayload,
      error: [doc.responsePayload?.errorType, doc.responsePayload?.errorMessage].filter(Boolean).join(': ') || String(context.condition ?? 'failed'),
      attempts: Number(context.approximateInvokeCount ?? 0),
    };
  }

  if (typeof doc.base64OriginalPayload === 'string' && typeof doc.topic === 'string') {
    const error = ((doc.failures as { failedAction?: string; errorMessage?: string }[] | undefined) ?? []).map((f) => `${f.failedAction ?? '?'}: ${f.errorMessage ?? ''}`).join('; ');
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(doc.base64OriginalPayload, 'base64').toString('utf8'));
    } catch {
      return { kind: 'unreadable', reason: `rule error on ${doc.topic}: the original payload is not JSON` };
    }
    const failures = (doc.failures as { failedAction?: string }[] | undefined) ?? [];
    if (failures.some((f) => /^DynamoDBv2/i.test(f.failedAction ?? ''))) {
      return { kind: 'unreadable', reason: `rule error on ${doc.topic}: a failed DynamoDBv2 write of the retired HistoryRule (its item is of the old table layout; the functions write history now)` };
    }
    const rule = rules.find((r) => {
      try {
        return topicMatches(parseRuleSql(r.sql).from, doc.topic) && r.functionIds.length > 0;
      } catch {
        return false;
      }
    });
    if (!rule) return { kind: 'unreadable', reason: `rule error on ${doc.topic}: no rule of the template with a Lambda action reads that topic` };
    const event = evaluateRule(parseRuleSql(rule.sql), { topic: doc.topic, payload, clientId: doc.clientId, timestamp: sentAt, newUuid: randomUUID });
    if (!event) return { kind: 'unreadable', reason: `rule error on ${doc.topic}: ${rule.logicalId}'s WHERE no longer matches` };
    const failed = ((doc.failures as { failedResource?: string }[] | undefined) ?? []).map((f) => f.failedResource).find((r) => typeof r === 'string' && lambdaArn.test(r));
    return {
      kind: 'rule-error',
      rule: String(doc.ruleName ?? rule.logicalId),
      topic: doc.topic,
      ...(failed ? { function: unqualified(failed) } : { targetLogicalId: rule.functionIds[0] }),
      event,
      error: error || 'rule action failed',
    };
  }
  return { kind: 'unreadable', reason: 'neither a Lambda invocation record nor an IoT rule error' };
};

// ---------------------------------------------------------------- the replay

export interface QueueMessage {
  MessageId?: string;
  ReceiptHandle?: string;
  Body?: string;
  Attributes?: Record<string, string>;
}

export interface RedriveClients {
  /** Up to `max` (at most 10) messages, hidden for `visibilitySeconds`. */
  receive(max: number, visibilitySeconds: number): Promise<QueueMessage[]>;
  remove(receiptHandle: string): Promise<void>;
  /** Makes a message visible again (dry run, or a replay that failed and should be retried soon). */
  release(receiptHandle: string): Promise<void>;
  /** ApproximateNumberOfMessages, for the progress line. */
  depth(): Promise<number>;
  /** Invokes synchronously; rejects when the function fails. */
  invoke(functionName: string, event: unknown): Promise<void>;
  /** A template logical id → the deployed function's name. */
  functionName(logicalId: string): Promise<string>;
  /** Writes readings and their rollups through the history writer into the stack's history table; rejects when it fails. */
  recordHistory?(readings: TelemetryFrame[]): Promise<void>;
}

export interface RedriveOptions {
  clients: RedriveClients;
  rules: RuleSource[];
  dryRun?: boolean;
  max?: number;
  /** Lines of what was done, one per message (and the progress lines). */
  log: (line: string) => void;
  /** A progress line every this many milliseconds on a long run. */
  progressEveryMs?: number;
  now?: () => number;
  /** Longer than the slowest replay (function Timeout 120 s), so no other reader takes a message mid-replay. */
  visibilitySeconds?: number;
}

export interface RedriveSummary {
  seen: number;
  replayed: number;
  failed: number;
  unreadable: number;
  byFunction: Record<string, number>;
}

const describe = (letter: DeadLetter, name: string) => {
  if (letter.kind === 'invocation') return `${name}: invocation record (${letter.attempts} attempts, ${letter.error})`;
  if (letter.kind === 'rule-error') return `${name}: rule error of ${letter.rule} on ${letter.topic} (${letter.error})`;
  if (letter.kind === 'history-write') return `${name}: history write of ${letter.readings.length} reading(s) (${letter.error})`;
  return `unreadable (${letter.reason})`;
};

export const redrive = async ({ clients, rules, dryRun = false, max = Infinity, log, progressEveryMs = 2000, now = Date.now, visibilitySeconds = 300 }: RedriveOptions): Promise<RedriveSummary> => {
  const summary: RedriveSummary = { seen: 0, replayed: 0, failed: 0, unreadable: 0, byFunction: {} };
  const total = Math.min(await clients.depth(), max);
  const seen = new Set<string>();
  const toRelease: string[] = [];
  let lastProgress = now();
  const progress = (force = false) => {
    if (!force && now() - lastProgress < progressEveryMs) return;
    lastProgress = now();
    log(`redrive: ${summary.seen}/${total} ${dryRun ? 'read' : 'done'}, ${summary.replayed} ${dryRun ? 'replayable' : 'replayed'}, ${summary.failed} failed, ${summary.unreadable} unreadable`);
  };

  /** Leaves the message for a person (or the next run): visible again once the run ends. */
  const keep = (message: QueueMessage, why: string) => {
    summary.failed++;
    toRelease.push(message.ReceiptHandle as string);
    log(`  ${message.MessageId} ${why}`);
  };
  const counted = (name: string) => {
    summary.replayed++;
    summary.byFunction[name] = (summary.byFunction[name] ?? 0) + 1;
  };

  while (summary.seen < max) {
    const batch = await clients.receive(Math.min(10, max - summary.seen), visibilitySeconds);
    const fresh = batch.filter((message) => message.MessageId && !seen.has(message.MessageId));
    if (fresh.length === 0) break;
    for (const message of fresh) {
      progress();
      seen.add(message.MessageId as string);
      summary.seen++;
      const letter = parseDeadLetter(message.Body ?? '', { sentAt: Number(message.Attributes?.SentTimestamp ?? now()), rules });
      if (letter.kind === 'unreadable') {
        summary.unreadable++;
        log(`  ${message.MessageId} left in the queue: ${describe(letter, '')}`);
        toRelease.push(message.ReceiptHandle as string);
        continue;
      }
      if (letter.kind === 'history-write') {
        const name = 'history table';
        if (dryRun) {
          counted(name);
          log(`  ${message.MessageId} would replay ${describe(letter, name)}`);
          toRelease.push(message.ReceiptHandle as string);
          continue;
        }
        try {
          if (!clients.recordHistory) throw new Error('this redrive cannot write history');
          await clients.recordHistory(letter.readings);
          await clients.remove(message.ReceiptHandle as string);
          counted(name);
          log(`  ${message.MessageId} replayed ${describe(letter, name)}`);
        } catch (error) {
          keep(message, `failed again, kept in the queue: ${(error as Error).message}`);
        }
        continue;
      }
      let name: string;
      try {
        name = letter.function ?? (await clients.functionName(letter.kind === 'rule-error' ? (letter.targetLogicalId as string) : ''));
      } catch (error) {
        // No such function in this stack (a rule error of the coalesced mode names the direct mode's target):
        // this message stays for a person to look at, the others are still replayed.
        keep(message, `kept in the queue, nothing to replay it to: ${(error as Error).message}`);
        continue;
      }
      if (dryRun) {
        counted(name);
        log(`  ${message.MessageId} would replay ${describe(letter, name)}`);
        toRelease.push(message.ReceiptHandle as string);
        continue;
      }
      try {
        await clients.invoke(name, letter.event);
        await clients.remove(message.ReceiptHandle as string);
        counted(name);
        log(`  ${message.MessageId} replayed ${describe(letter, name)}`);
      } catch (error) {
        keep(message, `failed again, kept in the queue: ${(error as Error).message}`);
      }
    }
  }
  for (const handle of toRelease) await clients.release(handle).catch(() => undefined);
  if (summary.seen > 0 && total > 20) progress(true);
  return summary;
};

export const formatSummary = (summary: RedriveSummary, dryRun: boolean): string => {
  const functions = Object.entries(summary.byFunction)
    .map(([name, count]) => `${name.replace(/^arn:[^:]+:lambda:[^:]*:[^:]*:function:/, '')} ${count}`)
    .join(', ');
  const verb = dryRun ? 'would replay' : 'replayed';
  return `redrive${dryRun ? ' (dry run)' : ''}: ${summary.seen} message(s) read, ${verb} ${summary.replayed}${functions ? ` (${functions})` : ''}, ${summary.failed} failed again, ${summary.unreadable} unreadable; failed and unreadable ones stay in the queue`;
};
