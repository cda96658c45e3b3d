/**
 * Alarm rules, their states and their transitions, in one DynamoDB table
 * (AlarmsTable; docs/decisions/010-alarm-evaluation-where-readings-flow.md):
 *
 *   rule:       pk = rules             sk = {ruleId}                 ruleId = {deviceId}~{random}, so a device's rules are one Query
 *   state:      pk = state#{deviceId}  sk = {ruleId}                 the state machine's item; `ver` is the condition of every write
 *   active:     pk = active            sk = {deviceId}#{ruleId}      a copy of each state that is not OK (the `alarms` reply)
 *   transition: pk = tr#{deviceId}     sk = {ts, 13 digits}#{ruleId}#{ver}   kept 30 days (TTL), for the charts' marks
 *   version:    pk = alarmver          sk = version                  `rules` and `states`: new unique values after every change
 *   outbox:     pk = outbox            sk = {deviceId}#{ruleId}#{ver} a notification not yet known to be published (notifier.ts); kept 3 days (TTL)
 *
 * A transition is a conditional Put of the state item (`ver` as read, or no
 * item yet): of two writers that computed the same step from the same state,
 * exactly one succeeds, and only that one writes the transition, the active
 * copy and the version, and then notifies. DynamoDB condition expressions:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, type QueryCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import { BadRequest, NotFound } from '../protocol/errors.js';
import { GLOBAL_VERSION_KEY } from '../store/keys.js';
import { MAX_RULES_PER_DEVICE, type AlarmRule, ruleDevice } from './rules.js';
import type { AlarmState, AlarmStateName } from './stateMachine.js';

/** 3 days: how long an unpublished notification is retried before DynamoDB's TTL drops it. */
export const OUTBOX_RETENTION_DAYS = 3;

/** An alarm notification waiting in the outbox: its SNS message as built when the transition was made. */
export interface PendingNotification {
  key: string;
  subject: string;
  message: string;
  attributes: { deviceId: string; state: string; ruleId: string };
  /** When it was first written (ms). */
  pendingSince: number;
  /** Publishes tried by the sweep so far. */
  attempts: number;
}

/** 30 days: how long transitions are kept for the charts (the table's TTL attribute `expiresAt`). */
export const TRANSITION_RETENTION_DAYS = 30;

export interface AlarmUsage {
  requests: number;
  readUnits: number;
  writeUnits: number;
  /** Transitions whose record, active copy or version write failed after the state moved. */
  followUpFailures?: number;
}

export interface AlarmTransition {
  ruleId: string;
  deviceId: string;
  field: string | null;
  from: AlarmStateName;
  state: AlarmStateName;
  ver: number;
  value: number | null;
  ts: number;
  since: number;
  acknowledgedBy?: string;
  acknowledgedAt?: number;
}

export interface AlarmVersions {
  rules: string;
  states: string;
}

const RULES_PK = 'rules';
const ACTIVE_PK = 'active';
const VERSION_KEY = { pk: 'alarmver', sk: 'version' };
const statePk = (deviceId: string) => `state#${deviceId}`;
const transitionPk = (deviceId: string) => `tr#${deviceId}`;
const OUTBOX_PK = 'outbox';
/** One transition's outbox key: a transition is made once (its `ver`), so is its notification. */
export const outboxKey = (t: Pick<AlarmTransition, 'deviceId' | 'ruleId' | 'ver'>) => `${t.deviceId}#${t.ruleId}#${t.ver}`;
const transitionSk = (ts: number, ruleId: string, ver: number) => `${String(Math.max(0, Math.floor(ts))).padStart(13, '0')}#${ruleId}#${ver}`;

/** A new unique version value: time and randomness, so one never comes back (recipientCache.ts explains why). */
const newVersion = (now: number) => `${now.toString(36)}-${randomBytes(6).toString('hex')}`;

export const newRuleId = (deviceId: string) => `${deviceId}~${randomBytes(8).toString('hex')}`;

const toRule = (item: Record<string, unknown>): AlarmRule => {
  const { pk: _pk, sk: _sk, expiresAt: _e, ...rule } = item;
  return rule as unknown as AlarmRule;
};

const toState = (item: Record<string, unknown>): AlarmState => ({
  ruleId: String(item.ruleId ?? item.sk),
  deviceId: String(item.deviceId),
  state: item.state as AlarmStateName,
  ver: Number(item.ver),
  since: Number(item.since),
  lastTs: Number(item.lastTs),
  value: item.value === undefined || item.value === null ? null : Number(item.value),
  ...(item.acknowledgedBy !== undefined ? { acknowledgedBy: String(item.acknowledgedBy), acknowledgedAt: Number(item.acknowledgedAt) } : {}),
});

export interface AlarmStoreOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /**
   * The connections table: every rule or state change also moves its table-wide version, which every
   * telemetry invocation already reads (recipientCache.ts), so that warm evaluators see the change on their
   * next reading at no extra read (alarmEvaluator.ts).
   */
  connectionsTableName?: string;
  now?: () => number;
  onFollowUpError?: (transition: AlarmTransition, error: Error) => void;
}

/** 2 h 10 min, as the connections table's version items (connectionStore.ts). */
const GLOBAL_VERSION_TTL_SECONDS = 7800;

export const createAlarmStore = ({ doc, tableName, connectionsTableName, now = Date.now, onFollowUpError }: AlarmStoreOptions) => {
  const usage: AlarmUsage = { requests: 0, readUnits: 0, writeUnits: 0 };
  const read = (out: { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] }) => {
    usage.requests++;
    const list = Array.isArray(out.ConsumedCapacity) ? out.ConsumedCapacity : out.ConsumedCapacity ? [out.ConsumedCapacity] : [];
    usage.readUnits += list.reduce((n, c) => n + (c.CapacityUnits ?? 0), 0);
  };
  const wrote = (out: { ConsumedCapacity?: { CapacityUnits?: number } }) => {
    usage.requests++;
    usage.writeUnits += out.ConsumedCapacity?.CapacityUnits ?? 1;
  };

  const queryAll = async (input: Omit<QueryCommandInput, 'TableName'>) => {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await doc.send(new QueryCommand({ TableName: tableName, ...input, ExclusiveStartKey: start, ReturnConsumedCapacity: 'TOTAL' }));
      read(out);
      items.push(...((out.Items ?? []) as Record<string, unknown>[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  };

  const bumpVersion = async (which: keyof AlarmVersions) => {
    const out = await doc.send(
      new UpdateCommand({ TableName: tableName, Key: VERSION_KEY, UpdateExpression: 'SET #w = :v', ExpressionAttributeNames: { '#w': which }, ExpressionAttributeValues: { ':v': newVersion(now()) }, ReturnConsumedCapacity: 'TOTAL' }),
    );
    wrote(out);
    if (connectionsTableName) {
      // BatchWriteItem, as the connection store writes it (and the telemetry functions may already).
      await doc.send(
        new BatchWriteCommand({
          RequestItems: { [connectionsTableName]: [{ PutRequest: { Item: { ...GLOBAL_VERSION_KEY, v: newVersion(now()), expiresAt: Math.floor(now() / 1000) + GLOBAL_VERSION_TTL_SECONDS } } }] },
        }),
      );
      usage.requests++;
      usage.writeUnits++;
    }
  };

  /** Both versions, strongly consistent (missing: ''). */
  const versions = async (): Promise<AlarmVersions> => {
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: VERSION_KEY, ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }));
    read(out);
    return { rules: String(out.Item?.rules ?? ''), states: String(out.Item?.states ?? '') };
  };

  /** The rules of one device id (or `*`), strongly consistent: read after a version check. */
  const rulesOf = async (deviceId: string): Promise<AlarmRule[]> =>
    (await queryAll({ KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': RULES_PK, ':prefix': `${deviceId}~` }, ConsistentRead: true })).map(toRule);

  /** Every rule (the `alarms` reply and the silent sweep filter it). */
  const allRules = async (): Promise<AlarmRule[]> => (await queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': RULES_PK } })).map(toRule);

  /** Stores a rule (new, or replacing its id's), refusing a device's rule past MAX_RULES_PER_DEVICE. */
  const putRule = async (rule: AlarmRule): Promise<AlarmRule> => {
    const existing = await queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': RULES_PK, ':prefix': `${rule.deviceId}~` },
      ProjectionExpression: 'sk',
      ConsistentRead: true,
    });
    // Two puts at the same moment may both pass this count: the cap is a bound on cost, not a security line.
    if (!existing.some((i) => i.sk === rule.id) && existing.length >= MAX_RULES_PER_DEVICE) {
      throw new BadRequest(`${rule.deviceId} already has ${existing.length} alarm rules, the most a device may have (${MAX_RULES_PER_DEVICE}); delete one first`);
    }
    const out = await doc.send(new PutCommand({ TableName: tableName, Item: { pk: RULES_PK, sk: rule.id, ...rule }, ReturnConsumedCapacity: 'TOTAL' }));
    wrote(out);
    await bumpVersion('rules');
    return rule;
  };

  const getRule = async (ruleId: string): Promise<AlarmRule | undefined> => {
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: RULES_PK, sk: ruleId }, ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }));
    read(out);
    return out.Item ? toRule(out.Item) : undefined;
  };

  /** Deletes a rule; its states stay until their device's next transition would need them (they are read only with their rule). */
  const deleteRule = async (ruleId: string): Promise<AlarmRule | undefined> => {
    const out = await doc.send(new DeleteCommand({ TableName: tableName, Key: { pk: RULES_PK, sk: ruleId }, ReturnValues: 'ALL_OLD', ReturnConsumedCapacity: 'TOTAL' }));
    wrote(out);
    if (!out.Attributes) return undefined;
    await bumpVersion('rules');
    const deviceId = ruleDevice(ruleId);
    // The active copies of a deleted rule: its own device's (a `*` rule's are filtered out on read).
    if (deviceId) await doc.send(new DeleteCommand({ TableName: tableName, Key: { pk: ACTIVE_PK, sk: `${deviceId}#${ruleId}` } })).catch(() => undefined);
    return toRule(out.Attributes);
  };

  /** Every rule's state on one device, strongly consistent. */
  const statesOf = async (deviceId: string): Promise<AlarmState[]> =>
    (await queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': statePk(deviceId) }, ConsistentRead: true })).map(toState);

  const getState = async (deviceId: string, ruleId: string): Promise<AlarmState | undefined> => {
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: statePk(deviceId), sk: ruleId }, ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }));
    read(out);
    return out.Item ? toState(out.Item) : undefined;
  };

  const stateItem = (s: AlarmState) => ({ pk: statePk(s.deviceId), sk: s.ruleId, ...s });

  /** After a state write: the active copy, then the states version (so other containers re-read). */
  const afterWrite = async (s: AlarmState) => {
    if (s.state === 'OK') {
      wrote(await doc.send(new DeleteCommand({ TableName: tableName, Key: { pk: ACTIVE_PK, sk: `${s.deviceId}#${s.ruleId}` }, ReturnConsumedCapacity: 'TOTAL' })));
    } else {
      wrote(await doc.send(new PutCommand({ TableName: tableName, Item: { ...stateItem(s), pk: ACTIVE_PK, sk: `${s.deviceId}#${s.ruleId}` }, ReturnConsumedCapacity: 'TOTAL' })));
    }
    await bumpVersion('states');
  };

  /**
   * The transition `from` → `to`, if `from` is still the stored state (by `ver`); false when another
   * writer moved it first (nothing written). On success, the transition is logged (idempotent key),
   * the active copy kept, and the states version bumped.
   */
  const transition = async (from: AlarmState, to: AlarmState, field: string | null): Promise<AlarmTransition | undefined> => {
    try {
      const out = await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: stateItem(to),
          ...(from.ver === 0 ? { ConditionExpression: 'attribute_not_exists(pk)' } : { ConditionExpression: 'ver = :ver', ExpressionAttributeValues: { ':ver': from.ver } }),
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      wrote(out);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException') {
        usage.requests++;
        usage.writeUnits += 1;
        return undefined;
      }
      throw error;
    }
    const record: AlarmTransition = { ruleId: to.ruleId, deviceId: to.deviceId, field, from: from.state, state: to.state, ver: to.ver, value: to.value, ts: to.lastTs, since: to.since };
    // The transition is made: what follows must not stop its frame and notification. A failure here leaves a
    // chart mark, an `alarms` entry or other containers' freshness behind (they re-read within a minute), and is counted.
    await Promise.all([
      doc
        .send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: transitionPk(to.deviceId), sk: transitionSk(to.lastTs, to.ruleId, to.ver), ...record, expiresAt: Math.floor(to.lastTs / 1000) + TRANSITION_RETENTION_DAYS * 86_400 },
            ReturnConsumedCapacity: 'TOTAL',
          }),
        )
        .then(wrote),
      afterWrite(to),
    ]).catch((error: Error) => {
      usage.followUpFailures = (usage.followUpFailures ?? 0) + 1;
      onFollowUpError?.(record, error);
    });
    return record;
  };

  /** Acknowledges an ALARM: who and when, on the state item (its `ver` moves, so a racing transition re-reads). */
  const acknowledge = async (deviceId: string, ruleId: string, by: string): Promise<AlarmState> => {
    try {
      const out = await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: statePk(deviceId), sk: ruleId },
          UpdateExpression: 'SET acknowledgedBy = :by, acknowledgedAt = :at, ver = ver + :one',
          ConditionExpression: '#s = :alarm',
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: { ':by': by, ':at': now(), ':one': 1, ':alarm': 'ALARM' },
          ReturnValues: 'ALL_NEW',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      wrote(out);
      const state = toState(out.Attributes!);
      await afterWrite(state);
      return state;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') throw new NotFound(`rule ${ruleId} is not in ALARM on ${deviceId}: nothing to acknowledge`);
      throw error;
    }
  };

  /** Every state that is not OK. */
  const active = async (): Promise<AlarmState[]> => (await queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': ACTIVE_PK } })).map(toState);

  /** One device's transitions in [since, until], oldest first. */
  const transitions = async (deviceId: string, since: number, until: number, limit = 500): Promise<AlarmTransition[]> => {
    const out = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': transitionPk(deviceId), ':from': transitionSk(since, '', 0).slice(0, 13), ':to': `${transitionSk(until, '', 0).slice(0, 13)}~` },
        Limit: limit,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    read(out);
    return (out.Items ?? []).map((item) => {
      const { pk: _pk, sk: _sk, expiresAt: _e, ...record } = item;
      return record as AlarmTransition;
    });
  };

  /** Writes a notification to the outbox before it is published (a put: writing it again changes nothing that matters). */
  const pendNotification = async (n: Omit<PendingNotification, 'pendingSince' | 'attempts'> & Partial<Pick<PendingNotification, 'pendingSince' | 'attempts'>>) => {
    const pendingSince = n.pendingSince ?? now();
    const out = await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: { pk: OUTBOX_PK, sk: n.key, subject: n.subject, message: n.message, attributes: n.attributes, pendingSince, attempts: n.attempts ?? 0, expiresAt: Math.floor(pendingSince / 1000) + OUTBOX_RETENTION_DAYS * 86_400 },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    wrote(out);
  };

  /** Removes a published notification from the outbox. */
  const notificationSent = async (key: string) => {
    wrote(await doc.send(new DeleteCommand({ TableName: tableName, Key: { pk: OUTBOX_PK, sk: key }, ReturnConsumedCapacity: 'TOTAL' })));
  };

  /**
   * Takes the outbox's notifications written at least `olderThanMs` ago (at most `limit`): each is deleted
   * on the condition that it is still there, so of two sweeps at once exactly one takes it. The taker
   * publishes it, or puts it back (`pendNotification`) when the publish fails.
   */
  const claimPendingNotifications = async (olderThanMs: number, limit = 100): Promise<PendingNotification[]> => {
    const out = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        FilterExpression: 'pendingSince <= :due',
        ExpressionAttributeValues: { ':pk': OUTBOX_PK, ':due': now() - olderThanMs },
        Limit: limit,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    read(out);
    const claimed: PendingNotification[] = [];
    for (const item of out.Items ?? []) {
      try {
        const del = await doc.send(
          new DeleteCommand({ TableName: tableName, Key: { pk: OUTBOX_PK, sk: item.sk }, ConditionExpression: 'attribute_exists(pk)', ReturnValues: 'ALL_OLD', ReturnConsumedCapacity: 'TOTAL' }),
        );
        wrote(del);
        const a = del.Attributes!;
        claimed.push({ key: String(a.sk), subject: String(a.subject), message: String(a.message), attributes: a.attributes as PendingNotification['attributes'], pendingSince: Number(a.pendingSince), attempts: Number(a.attempts ?? 0) });
      } catch (error) {
        if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
        usage.requests++; // another sweep took it
      }
    }
    return claimed;
  };

  return {
    versions,
    rulesOf,
    allRules,
    putRule,
    getRule,
    deleteRule,
    statesOf,
    getState,
    transition,
    acknowledge,
    active,
    transitions,
    pendNotification,
    notificationSent,
    claimPendingNotifications,
    usage,
  };
};

export type AlarmStore = ReturnType<typeof createAlarmStore>;
