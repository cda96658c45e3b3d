/**
 * The AWS IoT SQL subset that topic rules use locally (SQL version 2016-03-23):
 *   SELECT *, fields, a.b paths and `AS` aliases
 *   topic(), topic(n), timestamp(), newuuid(), clientid(), floor(), isNumber(), isUndefined()
 *   FROM 'topic/filter' with + and #
 *   WHERE with = <> != < <= > >=, AND, OR, NOT, parentheses, + - * / %
 *   CASE v WHEN t THEN r ... [ELSE e] END
 * WHERE reads the incoming payload (it runs before SELECT, and cannot see SELECT's aliases):
 * https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-where.html
 * Pure functions only: parse once, evaluate per message.
 * https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-reference.html
 */

export class RuleSqlError extends Error {
  override name = 'RuleSqlError';
}

export type Expr =
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'path'; path: (string | number)[] }
  | { kind: 'call'; name: string; args: Expr[] }
  | { kind: 'unary'; op: 'NOT' | '-'; operand: Expr }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr }
  | { kind: 'case'; value: Expr; whens: { test: Expr; result: Expr }[]; otherwise?: Expr };

export type BinaryOp = 'AND' | 'OR' | '=' | '<>' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%';

export type SelectItem = { kind: 'star' } | { kind: 'expr'; expr: Expr; name: string };

export interface RuleQuery {
  select: SelectItem[];
  from: string;
  where?: Expr;
}

export interface RuleMessage {
  topic: string;
  /** The payload, parsed from JSON. */
  payload: unknown;
  clientId?: string;
  /** Milliseconds since the epoch, what timestamp() returns. */
  timestamp: number;
  newUuid: () => string;
}

// ---------------------------------------------------------------- tokens

type Token =
  | { type: 'number'; value: number; at: number }
  | { type: 'string'; value: string; at: number }
  | { type: 'ident'; value: string; at: number }
  | { type: 'keyword'; value: string; at: number }
  | { type: 'op'; value: string; at: number }
  | { type: 'end'; at: number };

const KEYWORDS = new Set(['SELECT', 'FROM', 'WHERE', 'AS', 'AND', 'OR', 'NOT', 'TRUE', 'FALSE', 'NULL', 'CASE', 'WHEN', 'THEN', 'ELSE', 'END']);
const OPERATORS = ['<>', '!=', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ',', '.', '[', ']'];

export const tokenize = (sql: string): Token[] => {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) throw new RuleSqlError(`unterminated string starting at ${i}`);
        if (sql[j] === "'" && sql[j + 1] === "'") {
          value += "'";
          j += 2;
        } else if (sql[j] === "'") {
          break;
        } else {
          value += sql[j++];
        }
      }
      tokens.push({ type: 'string', value, at: i });
      i = j + 1;
      continue;
    }
    const number = /^\d+(\.\d+)?([eE][+-]?\d+)?/.exec(sql.slice(i));
    if (number) {
      tokens.push({ type: 'number', value: Number(number[0]), at: i });
      i += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i));
    if (word) {
      const upper = word[0].toUpperCase();
      tokens.push(KEYWORDS.has(upper) ? { type: 'keyword', value: upper, at: i } : { type: 'ident', value: word[0], at: i });
      i += word[0].length;
      continue;
    }
    if (c === '`' || c === '"') {
      const end = sql.indexOf(c, i + 1);
      if (end < 0) throw new RuleSqlError(`unterminated quoted identifier starting at ${i}`);
      tokens.push({ type: 'ident', value: sql.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    const op = OPERATORS.find((o) => sql.startsWith(o, i));
    if (!op) throw new RuleSqlError(`unexpected character ${JSON.stringify(c)} at ${i}`);
    tokens.push({ type: 'op', value: op === '!=' ? '<>' : op, at: i });
    i += op.length;
  }
  tokens.push({ type: 'end', at: sql.length });
  return tokens;
};

// ---------------------------------------------------------------- parser

const FUNCTIONS: Record<string, { min: number; max: number }> = {
  topic: { min: 0, max: 1 },
  timestamp: { min: 0, max: 0 },
  newuuid: { min: 0, max: 0 },
  clientid: { min: 0, max: 0 },
  floor: { min: 1, max: 1 },
  isnumber: { min: 1, max: 1 },
  isundefined: { min: 1, max: 1 },
};

/** Parses a rule's SQL. Throws RuleSqlError naming what is unsupported or malformed. */
export const parseRuleSql = (sql: string): RuleQuery => {
  const tokens = tokenize(sql);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const describe = (t: Token) => (t.type === 'end' ? 'end of statement' : `${JSON.stringify(String(t.value))} at ${t.at}`);
  const isKeyword = (value: string) => peek().type === 'keyword' && (peek() as { value: string }).value === value;
  const isOp = (value: string) => peek().type === 'op' && (peek() as { value: string }).value === value;
  const expectKeyword = (value: string) => {
    if (!isKeyword(value)) throw new RuleSqlError(`expected ${value}, got ${describe(peek())}`);
    next();
  };
  const expectOp = (value: string) => {
    if (!isOp(value)) throw new RuleSqlError(`expected "${value}", got ${describe(peek())}`);
    next();
  };

  const primary = (): Expr => {
    const t = next();
    if (t.type === 'number' || t.type === 'string') return { kind: 'literal', value: t.value };
    if (t.type === 'keyword' && t.value === 'TRUE') return { kind: 'literal', value: true };
    if (t.type === 'keyword' && t.value === 'FALSE') return { kind: 'literal', value: false };
    if (t.type === 'keyword' && t.value === 'NULL') return { kind: 'literal', value: null };
    if (t.type === 'keyword' && t.value === 'CASE') {
      // https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-case.html: at least one WHEN, ELSE optional.
      const value = expression();
      const whens: { test: Expr; result: Expr }[] = [];
      while (isKeyword('WHEN')) {
        next();
        const test = expression();
        expectKeyword('THEN');
        whens.push({ test, result: expression() });
      }
      if (whens.length === 0) throw new RuleSqlError(`CASE needs at least one WHEN, got ${describe(peek())}`);
      let otherwise: Expr | undefined;
      if (isKeyword('ELSE')) {
        next();
        otherwise = expression();
      }
      expectKeyword('END');
      return { kind: 'case', value, whens, otherwise };
    }
    if (t.type === 'op' && t.value === '(') {
      const inner = expression();
      expectOp(')');
      return inner;
    }
    if (t.type === 'ident') {
      if (isOp('(')) {
        next();
        const name = t.value.toLowerCase();
        const spec = FUNCTIONS[name];
        if (!spec) throw new RuleSqlError(`function ${t.value}() is not supported locally (supported: ${Object.keys(FUNCTIONS).join(', ')})`);
        const args: Expr[] = [];
        if (!isOp(')')) {
          args.push(expression());
          while (isOp(',')) {
            next();
            args.push(expression());
          }
        }
        expectOp(')');
        if (args.length < spec.min || args.length > spec.max) throw new RuleSqlError(`${name}() takes ${spec.min === spec.max ? spec.min : `${spec.min} to ${spec.max}`} arguments`);
        return { kind: 'call', name, args };
      }
      const path: (string | number)[] = [t.value];
      for (;;) {
        if (isOp('.')) {
          next();
          const part = next();
          if (part.type !== 'ident' && part.type !== 'keyword') throw new RuleSqlError(`expected a field name after ".", got ${describe(part)}`);
          path.push(String(part.value));
        } else if (isOp('[')) {
          next();
          const index = next();
          if (index.type !== 'number' || !Number.isInteger(index.value)) throw new RuleSqlError(`expected an array index, got ${describe(index)}`);
          expectOp(']');
          path.push(index.value);
        } else {
          return { kind: 'path', path };
        }
      }
    }
    throw new RuleSqlError(`unexpected ${describe(t)}`);
  };

  const unary = (): Expr => {
    if (isOp('-')) {
      next();
      return { kind: 'unary', op: '-', operand: unary() };
    }
    return primary();
  };
  const binaryLevel = (operand: () => Expr, ops: string[]) => (): Expr => {
    let left = operand();
    while (peek().type === 'op' && ops.includes((peek() as { value: string }).value)) {
      const op = next() as { value: string };
      left = { kind: 'binary', op: op.value as BinaryOp, left, right: operand() };
    }
    return left;
  };
  const multiplicative = binaryLevel(unary, ['*', '/', '%']);
  const additive = binaryLevel(multiplicative, ['+', '-']);
  const comparison = (): Expr => {
    const left = additive();
    if (peek().type === 'op' && ['=', '<>', '<', '<=', '>', '>='].includes((peek() as { value: string }).value)) {
      const op = next() as { value: string };
      return { kind: 'binary', op: op.value as BinaryOp, left, right: additive() };
    }
    return left;
  };
  const not = (): Expr => {
    if (isKeyword('NOT')) {
      next();
      return { kind: 'unary', op: 'NOT', operand: not() };
    }
    return comparison();
  };
  const and = (): Expr => {
    let left = not();
    while (isKeyword('AND')) {
      next();
      left = { kind: 'binary', op: 'AND', left, right: not() };
    }
    return left;
  };
  const expression = (): Expr => {
    let left = and();
    while (isKeyword('OR')) {
      next();
      left = { kind: 'binary', op: 'OR', left, right: and() };
    }
    return left;
  };

  const defaultName = (expr: Expr, index: number): string => {
    if (expr.kind === 'path') {
      const last = expr.path[expr.path.length - 1];
      return typeof last === 'string' ? last : `_${index + 1}`;
    }
    if (expr.kind === 'call') return expr.name;
    return `_${index + 1}`;
  };

  expectKeyword('SELECT');
  const select: SelectItem[] = [];
  do {
    if (select.length > 0) next();
    if (isOp('*')) {
      next();
      select.push({ kind: 'star' });
      continue;
    }
    const expr = expression();
    let name = defaultName(expr, select.length);
    if (isKeyword('AS')) {
      next();
      const alias = next();
      if (alias.type !== 'ident') throw new RuleSqlError(`expected an alias after AS, got ${describe(alias)}`);
      name = alias.value;
    }
    select.push({ kind: 'expr', expr, name });
  } while (isOp(','));

  expectKeyword('FROM');
  const from = next();
  if (from.type !== 'string') throw new RuleSqlError(`FROM takes a quoted topic filter such as 'devices/+/telemetry', got ${describe(from)}`);
  validateTopicFilter(from.value);

  let where: Expr | undefined;
  if (isKeyword('WHERE')) {
    next();
    where = expression();
  }
  if (peek().type !== 'end') throw new RuleSqlError(`unexpected ${describe(peek())}`);
  return { select, from: from.value, where };
};

// ---------------------------------------------------------------- topics

/** MQTT topic filter rules: `+` is a whole level, `#` is a whole last level. */
export const validateTopicFilter = (filter: string): void => {
  if (filter === '') throw new RuleSqlError('empty topic filter');
  const levels = filter.split('/');
  levels.forEach((level, i) => {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) throw new RuleSqlError(`"#" must be the whole last level of ${JSON.stringify(filter)}`);
    if (level.includes('+') && level !== '+') throw new RuleSqlError(`"+" must be a whole level of ${JSON.stringify(filter)}`);
  });
};

/** Whether an MQTT topic matches a filter with + and # wildcards. */
export const topicMatches = (filter: string, topic: string): boolean => {
  const f = filter.split('/');
  const t = topic.split('/');
  // Wildcards never match topics that start with $ (MQTT 3.1.1 §4.7.2).
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
};

// ---------------------------------------------------------------- evaluation

/** AWS IoT SQL's Undefined: a missing field. A SELECT item that is Undefined is left out. */
const UNDEFINED = undefined;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const compare = (op: BinaryOp, a: unknown, b: unknown): boolean | undefined => {
  if (a === UNDEFINED || b === UNDEFINED) return UNDEFINED;
  if (op === '=' || op === '<>') {
    const equal = typeof a === 'object' || typeof b === 'object' ? JSON.stringify(a) === JSON.stringify(b) : a === b;
    return op === '=' ? equal : !equal;
  }
  if (!((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string'))) return UNDEFINED;
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    default:
      return UNDEFINED;
  }
};

/** AND, OR and NOT take Booleans, or the strings "true" and "false" in any case; anything else is Undefined. */
const asBoolean = (value: unknown): boolean | undefined => {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  return UNDEFINED;
};

const arithmetic = (op: BinaryOp, a: unknown, b: unknown): number | undefined => {
  if (typeof a !== 'number' || typeof b !== 'number') return UNDEFINED;
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? UNDEFINED : a / b;
    case '%':
      return b === 0 ? UNDEFINED : a % b;
    default:
      return UNDEFINED;
  }
};

export const evaluateExpr = (expr: Expr, message: RuleMessage): unknown => {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'path': {
      let value: unknown = message.payload;
      for (const part of expr.path) {
        if (typeof part === 'number') value = Array.isArray(value) ? value[part] : UNDEFINED;
        else value = isObject(value) && Object.hasOwn(value, part) ? value[part] : UNDEFINED;
        if (value === UNDEFINED) return UNDEFINED;
      }
      return value;
    }
    case 'call':
      switch (expr.name) {
        case 'topic': {
          if (expr.args.length === 0) return message.topic;
          const n = evaluateExpr(expr.args[0], message);
          const levels = message.topic.split('/');
          return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= levels.length ? levels[n - 1] : UNDEFINED;
        }
        case 'timestamp':
          return message.timestamp;
        case 'newuuid':
          return message.newUuid();
        case 'clientid':
          return message.clientId ?? UNDEFINED;
        case 'floor': {
          // AWS: the largest integer not above a number; undefined for anything else.
          const n = evaluateExpr(expr.args[0]!, message);
          return typeof n === 'number' ? Math.floor(n) : UNDEFINED;
        }
        case 'isnumber':
          return typeof evaluateExpr(expr.args[0]!, message) === 'number';
        case 'isundefined':
          return evaluateExpr(expr.args[0]!, message) === UNDEFINED;
        default:
          return UNDEFINED;
      }
    case 'unary': {
      const value = evaluateExpr(expr.operand, message);
      if (expr.op === 'NOT') {
        const b = asBoolean(value);
        return b === UNDEFINED ? UNDEFINED : !b;
      }
      return typeof value === 'number' ? -value : UNDEFINED;
    }
    case 'case': {
      // If v is Undefined, the result is Undefined; otherwise the first WHEN whose value equals v, else ELSE (or Undefined).
      const value = evaluateExpr(expr.value, message);
      if (value === UNDEFINED) return UNDEFINED;
      for (const { test, result } of expr.whens) if (compare('=', value, evaluateExpr(test, message)) === true) return evaluateExpr(result, message);
      return expr.otherwise ? evaluateExpr(expr.otherwise, message) : UNDEFINED;
    }
    case 'binary': {
      if (expr.op === 'AND' || expr.op === 'OR') {
        // As AWS documents it: Boolean operands (or "true"/"false" strings); any other operand, Undefined included,
        // makes the result Undefined (no short cut: `true OR Undefined` is Undefined, and WHERE then drops the message).
        const left = asBoolean(evaluateExpr(expr.left, message));
        const right = asBoolean(evaluateExpr(expr.right, message));
        if (left === UNDEFINED || right === UNDEFINED) return UNDEFINED;
        return expr.op === 'AND' ? left && right : left || right;
      }
      const left = evaluateExpr(expr.left, message);
      const right = evaluateExpr(expr.right, message);
      return ['+', '-', '*', '/', '%'].includes(expr.op) ? arithmetic(expr.op, left, right) : compare(expr.op, left, right);
    }
  }
};

/**
 * Runs a parsed rule on one message: undefined when the topic does not match
 * or WHERE is not true; otherwise the object the rule's actions receive.
 */
export const evaluateRule = (query: RuleQuery, message: RuleMessage): Record<string, unknown> | undefined => {
  if (!topicMatches(query.from, message.topic)) return undefined;
  if (query.where && evaluateExpr(query.where, message) !== true) return undefined;
  const out: Record<string, unknown> = {};
  for (const item of query.select) {
    if (item.kind === 'star') {
      if (isObject(message.payload)) Object.assign(out, message.payload);
      continue;
    }
    const value = evaluateExpr(item.expr, message);
    if (value !== UNDEFINED) out[item.name] = value;
  }
  return out;
};
