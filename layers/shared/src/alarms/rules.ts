/**
 * Alarm rules: what they say, and the checks a rule passes before it is stored
 * (the `putAlarmRule` frame, docs/decisions/010-alarm-evaluation-where-readings-flow.md).
 *
 *   threshold: {"deviceId":"dev-1","field":"temperature","above":30,"forSeconds":10,"deadband":0.5,"name":"Freezer warm"}
 *              one of `above`, `below`, or `outside: [low, high]`
 *   silent:    {"deviceId":"dev-1","silentSeconds":300,"name":"Freezer quiet"}   (field: null)
 *
 * `deviceId` may be `*`: every device in the creator's scope, kept on the rule (`scope`).
 */
import { inScope } from '../auth/principal.js';
import { BadRequest, Forbidden } from '../protocol/errors.js';
import { ALL_DEVICES, type DeviceSelection, isPlainObject, validateDeviceId } from '../protocol/frames.js';

/** At most this many rules per device id (and for `*`): bounds what one reading costs to evaluate (10 rules a device is the benchmark's load). */
export const MAX_RULES_PER_DEVICE = 20;
/** A reading's field names: what a dashboard can chart (telemetryEnvelope.ts keeps `data` as sent). */
export const FIELD_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
export const MAX_RULE_NAME_LENGTH = 80;
/** One day: a condition that must hold longer is a report, not an alarm. */
export const MAX_FOR_SECONDS = 86_400;
/** A silent rule's window: at least a minute (the sweeper runs every minute), at most a week. */
export const MIN_SILENT_SECONDS = 60;
export const MAX_SILENT_SECONDS = 7 * 86_400;

export type Condition = { above: number } | { below: number } | { outside: [number, number] };

export interface AlarmRule {
  id: string;
  deviceId: string;
  /** The numeric field watched; null for a silent rule. */
  field: string | null;
  above?: number;
  below?: number;
  outside?: [number, number];
  /** Silent rule: fires when the device sends nothing for this long. */
  silentSeconds?: number;
  forSeconds?: number;
  deadband?: number;
  name?: string;
  createdBy: string;
  /** The creator's device scope: a `*` rule watches only these devices. */
  scope: DeviceSelection;
  createdAt: number;
}

/** What a client sends in `putAlarmRule.rule`; the server adds id, createdBy, scope, createdAt. */
export type AlarmRuleInput = Omit<AlarmRule, 'id' | 'createdBy' | 'scope' | 'createdAt'> & { id?: string };

const RULE_FIELDS = ['id', 'deviceId', 'field', 'above', 'below', 'outside', 'silentSeconds', 'forSeconds', 'deadband', 'name'] as const;

const describe = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

const finite = (value: unknown, what: string): number => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new BadRequest(`${what} must be a number, got ${describe(value)}${typeof value === 'string' ? ` ${JSON.stringify(value.slice(0, 20))}` : ''}`);
  return value;
};

const seconds = (value: unknown, what: string, min: number, max: number): number => {
  const n = finite(value, what);
  if (n < min || n > max) throw new BadRequest(`${what} must be from ${min} to ${max} seconds, got ${n}`);
  return n;
};

/** A rule id: the device id, `~`, and a random part (`~` is not allowed in device ids, so the device is recoverable). */
export const ruleDevice = (ruleId: string): string | undefined => {
  const at = ruleId.lastIndexOf('~');
  return at > 0 ? ruleId.slice(0, at) : undefined;
};

export const validateRuleId = (value: unknown, what = '"id"'): string => {
  if (typeof value !== 'string' || value.length > 200 || !/^[A-Za-z0-9_.:@*-]+~[A-Za-z0-9]{4,32}$/.test(value)) {
    throw new BadRequest(`${what} must be a rule id as "alarm-rule" frames give it (device~random), got ${describe(value)}`);
  }
  return value;
};

/**
 * The rule a client sent, checked: its shape (bad_request saying why) and its device against the
 * sender's scope (forbidden). The count per device is the store's check (it needs a read).
 */
export const validateAlarmRule = (value: unknown, scope: DeviceSelection): AlarmRuleInput => {
  if (!isPlainObject(value)) throw new BadRequest(`"rule" must be a JSON object, got ${describe(value)}`);
  const unknown = Object.keys(value).filter((k) => !(RULE_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new BadRequest(`unknown rule field ${JSON.stringify(unknown[0]!.slice(0, 40))}; a rule has: ${RULE_FIELDS.join(', ')}`);
  const deviceId = value.deviceId === ALL_DEVICES ? ALL_DEVICES : validateDeviceId(value.deviceId, 'rule.deviceId');
  if (deviceId !== ALL_DEVICES && !inScope(scope, [deviceId])) throw new Forbidden(`your token does not cover ${JSON.stringify(deviceId)}: a rule may watch only devices you can see`);
  const rule: AlarmRuleInput = { deviceId, field: null };
  if (value.id !== undefined) {
    rule.id = validateRuleId(value.id, 'rule.id');
    if (ruleDevice(rule.id) !== deviceId) throw new BadRequest(`rule.id ${JSON.stringify(rule.id)} belongs to another device: a rule keeps its device`);
  }
  if (value.name !== undefined) {
    if (typeof value.name !== 'string' || value.name.length === 0 || value.name.length > MAX_RULE_NAME_LENGTH) throw new BadRequest(`rule.name must be a string of 1 to ${MAX_RULE_NAME_LENGTH} characters`);
    rule.name = value.name;
  }
  const conditions = (['above', 'below', 'outside', 'silentSeconds'] as const).filter((k) => value[k] !== undefined);
  if (conditions.length !== 1) {
    throw new BadRequest(
      conditions.length === 0
        ? 'a rule needs one condition: "above", "below", "outside" ([low, high]) or "silentSeconds"'
        : `a rule takes one condition, got ${conditions.map((c) => `"${c}"`).join(' and ')}`,
    );
  }
  const [condition] = conditions as [(typeof conditions)[number]];
  if (condition === 'silentSeconds') {
    if (value.field !== undefined && value.field !== null) throw new BadRequest('a silent rule watches the whole device: leave "field" out (or null)');
    for (const k of ['forSeconds', 'deadband'] as const) if (value[k] !== undefined) throw new BadRequest(`a silent rule takes no "${k}"`);
    rule.silentSeconds = seconds(value.silentSeconds, 'rule.silentSeconds', MIN_SILENT_SECONDS, MAX_SILENT_SECONDS);
    return rule;
  }
  if (typeof value.field !== 'string') throw new BadRequest(`rule.field must name a numeric field of the readings (e.g. "temperature"), got ${describe(value.field)}`);
  if (!FIELD_PATTERN.test(value.field)) throw new BadRequest(`rule.field ${JSON.stringify(value.field.slice(0, 40))} is not a field name: 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or _`);
  rule.field = value.field;
  if (condition === 'outside') {
    const range = value.outside;
    if (!Array.isArray(range) || range.length !== 2) throw new BadRequest(`rule.outside must be [low, high], got ${describe(range)}`);
    const low = finite(range[0], 'rule.outside[0]');
    const high = finite(range[1], 'rule.outside[1]');
    if (!(low < high)) throw new BadRequest(`rule.outside must be [low, high] with low < high, got [${low}, ${high}]`);
    rule.outside = [low, high];
  } else rule[condition] = finite(value[condition], `rule.${condition}`);
  if (value.forSeconds !== undefined) rule.forSeconds = seconds(value.forSeconds, 'rule.forSeconds', 0, MAX_FOR_SECONDS);
  if (value.deadband !== undefined) {
    const deadband = finite(value.deadband, 'rule.deadband');
    if (deadband < 0) throw new BadRequest(`rule.deadband must not be negative, got ${deadband}`);
    if (rule.outside && deadband * 2 >= rule.outside[1] - rule.outside[0]) throw new BadRequest('rule.deadband must be less than half the range: the value could never clear');
    rule.deadband = deadband;
  }
  return rule;
};

/** Whether a rule watches this device: its own, or a `*` rule whose creator's scope covers it. */
export const ruleWatches = (rule: Pick<AlarmRule, 'deviceId' | 'scope'>, deviceId: string): boolean =>
  rule.deviceId === deviceId || (rule.deviceId === ALL_DEVICES && inScope(rule.scope, [deviceId]));

/** Whether a reader with this scope may see a rule: its device (a `*` rule: any device it watches) is in the reader's scope. */
export const ruleVisibleTo = (rule: Pick<AlarmRule, 'deviceId' | 'scope'>, scope: DeviceSelection): boolean => {
  if (rule.deviceId !== ALL_DEVICES) return inScope(scope, [rule.deviceId]);
  if (scope === ALL_DEVICES || rule.scope === ALL_DEVICES) return true;
  const watched = new Set(rule.scope);
  return scope.some((d) => watched.has(d));
};

/** The rule as it travels in frames (the store's bookkeeping left out). */
export const ruleFrame = (rule: AlarmRule) => {
  const { scope: _scope, ...shown } = rule;
  return shown;
};

/** A short description for notifications and logs: "temperature above 30 for 10 s". */
export const describeCondition = (rule: AlarmRule): string => {
  if (rule.silentSeconds !== undefined) return `no reading for ${rule.silentSeconds} s`;
  const what = rule.above !== undefined ? `above ${rule.above}` : rule.below !== undefined ? `below ${rule.below}` : `outside [${rule.outside![0]}, ${rule.outside![1]}]`;
  return `${rule.field} ${what}${rule.forSeconds ? ` for ${rule.forSeconds} s` : ''}`;
};
