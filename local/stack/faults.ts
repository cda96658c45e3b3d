/**
 * Fault injection for the local stack: `FAULTS=post:429:0.2,dynamodb:throttle:0.1,invoke:crash:0.1`.
 *
 * Each entry is `target:fault:probability`:
 *   post      the @connections management API (every call)  429 | 500 | 410
 *   dynamodb  every DynamoDB request a function makes        throttle | 500
 *   invoke    every function invocation                      timeout | crash
 *
 * Faults are injected at the edge, in the shapes AWS answers with, so the code
 * under test (the real SDK clients, our signed poster) sees exactly what it
 * would see on AWS. The entries of one target share one draw: with
 * `post:429:0.2,post:500:0.05` a call fails with 429 20% of the time and with
 * 500 5% of the time, so a target's probabilities may add up to at most 1.
 *
 * A DynamoDB entry may name one table: `dynamodb@HistoryTable:throttle:1` fails only the requests that touch
 * that table (its template logical id or its name; a batch or transaction touching it among others fails whole),
 * and draws only for them. Its probability adds to the unscoped entries' for those requests.
 *
 * `FAULTS_SEED` makes a run reproducible: each target draws from its own
 * seeded stream, so the n-th DynamoDB request of a run meets the same fate
 * whatever the management API did meanwhile. (Concurrent calls of one target
 * may still take their turns in another order from run to run.)
 *
 * startStack() takes the same as `faults` / `faultsSeed`, and its running
 * stack's `faults.set()` changes the probabilities on the fly (a test lifting
 * a throttle half-way); `faults.stats()` counts the calls and the faults.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { Agent, type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import { crc32 } from 'node:zlib';
import type { ManagementFault } from '../apigateway/gateway.js';

export const FAULT_TARGETS = {
  post: ['429', '500', '410'],
  dynamodb: ['throttle', '500'],
  invoke: ['timeout', 'crash'],
} as const;

export type FaultTarget = keyof typeof FAULT_TARGETS;
export type FaultKind<T extends FaultTarget = FaultTarget> = (typeof FAULT_TARGETS)[T][number];

export interface FaultRule {
  target: FaultTarget;
  fault: FaultKind;
  probability: number;
  /** dynamodb only: the table it is limited to (a logical id or a table name); unset, every request. */
  table?: string;
}

/** Whether a request to these tables falls under the rule. A table `<stack>-HistoryTable` is HistoryTable's too. */
export const ruleApplies = (rule: FaultRule, tables: readonly string[] | undefined): boolean =>
  rule.table === undefined || (tables ?? []).some((name) => name === rule.table || name.endsWith(`-${rule.table}`));

export class FaultSpecError extends Error {
  override name = 'FaultSpecError';
}

const isTarget = (value: string): value is FaultTarget => Object.hasOwn(FAULT_TARGETS, value);

const EXAMPLE = 'e.g. FAULTS=post:429:0.2,dynamodb:throttle:0.1,invoke:crash:0.05';

/** Parses and validates a FAULTS value. An empty value means no faults. */
export const parseFaults = (spec: string | undefined): FaultRule[] => {
  const entries = (spec ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const rules: FaultRule[] = [];
  for (const entry of entries) {
    const parts = entry.split(':').map((part) => part.trim());
    if (parts.length !== 3) throw new FaultSpecError(`FAULTS entry "${entry}" is not target:fault:probability (${EXAMPLE})`);
    const [scopedTarget, fault, rawProbability] = parts as [string, string, string];
    const [target, table, ...extra] = scopedTarget.split('@') as [string, string | undefined];
    if (table !== undefined && (target !== 'dynamodb' || !/^[A-Za-z0-9_.-]{1,255}$/.test(table) || extra.length > 0)) {
      throw new FaultSpecError(`FAULTS entry "${entry}": only dynamodb takes a table (dynamodb@TableName:fault:probability)`);
    }
    if (!isTarget(target)) {
      throw new FaultSpecError(`FAULTS entry "${entry}": unknown target "${target}"; targets are ${Object.keys(FAULT_TARGETS).join(', ')}`);
    }
    const kinds: readonly string[] = FAULT_TARGETS[target];
    if (!kinds.includes(fault)) {
      throw new FaultSpecError(`FAULTS entry "${entry}": unknown fault "${fault}" for ${target}; ${target} faults are ${kinds.join(', ')}`);
    }
    const probability = Number(rawProbability);
    if (rawProbability === '' || !Number.isFinite(probability) || probability < 0 || probability > 1) {
      throw new FaultSpecError(`FAULTS entry "${entry}": probability "${rawProbability}" must be a number from 0 to 1`);
    }
    if (rules.some((rule) => rule.target === target && rule.fault === fault && rule.table === table)) {
      throw new FaultSpecError(`FAULTS entry "${entry}": ${scopedTarget}:${fault} is given twice`);
    }
    rules.push({ target, fault: fault as FaultKind, probability, ...(table === undefined ? {} : { table }) });
  }
  for (const target of Object.keys(FAULT_TARGETS) as FaultTarget[]) {
    // Per table named (with the unscoped entries, which apply to its requests too), and without one.
    for (const table of new Set([undefined, ...rules.filter((rule) => rule.target === target).map((rule) => rule.table)])) {
      const total = rules.filter((rule) => rule.target === target && (rule.table === undefined || rule.table === table)).reduce((sum, rule) => sum + rule.probability, 0);
      const name = table === undefined ? target : `${target}@${table}`;
      // A little slack for decimal fractions such as 0.7 + 0.2 + 0.1.
      if (total > 1 + 1e-9) throw new FaultSpecError(`FAULTS: the ${name} probabilities add up to ${+total.toFixed(6)}; one call fails at most once, so they may add up to at most 1`);
    }
  }
  return rules;
};

/** Parses FAULTS_SEED: a whole number from 0 to 2^32-1. Without one, a random seed (printed, so the run can be repeated). */
export const parseFaultSeed = (raw: string | undefined): number => {
  if (raw === undefined || raw.trim() === '') return randomInt(0, 2 ** 32 - 1);
  const value = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value > 2 ** 32 - 1) {
    throw new FaultSpecError(`FAULTS_SEED must be a whole number from 0 to 4294967295, got "${raw}"`);
  }
  return value;
};

/** `post 429 20%, post 500 5%, dynamodb throttle 10%`. */
export const describeFaults = (rules: readonly FaultRule[]): string =>
  rules.map((rule) => `${rule.target}${rule.table === undefined ? '' : `@${rule.table}`} ${rule.fault} ${+(rule.probability * 100).toFixed(4)}%`).join(', ') || 'none';

// ---------------------------------------------------------------- the seeded draws

/** mulberry32: a small, fast 32-bit PRNG; plenty for fault decisions, and the same sequence on every platform. */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** One stream per target: FNV-1a of the target's name, mixed with the seed. */
const streamSeed = (seed: number, target: string): number => {
  let hash = 0x811c9dc5 ^ seed;
  for (const char of target) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193);
  return hash >>> 0;
};

export interface FaultInjector {
  readonly rules: readonly FaultRule[];
  readonly seed: number;
  /** Whether any rule names this target with a probability above 0. */
  has(target: FaultTarget): boolean;
  /** Whether any rule names this target at all (its edge is wired, even at probability 0). */
  names(target: FaultTarget): boolean;
  /** Replaces the rules (a test lifting a fault half-way); the streams go on where they were. */
  setRules(rules: readonly FaultRule[]): void;
  /** Decides the fate of one call (to these tables, for dynamodb): the fault to inject, or undefined. */
  draw<T extends FaultTarget>(target: T, tables?: readonly string[]): FaultKind<T> | undefined;
  /** Whether a rule of this target is limited to a table (the DynamoDB proxy then reads each request's tables). */
  scoped(target: FaultTarget): boolean;
  /** Another number in [0, 1) from the target's stream (when in a call a fault strikes). */
  random(target: FaultTarget): number;
  /** Calls seen per target and faults injected per `target:fault`. */
  stats(): Record<string, number>;
}

export const createFaultInjector = ({ rules: initial, seed }: { rules: readonly FaultRule[]; seed: number }): FaultInjector => {
  let rules = [...initial];
  const streams = new Map<FaultTarget, () => number>();
  const counts: Record<string, number> = {};
  const stream = (target: FaultTarget) => {
    let next = streams.get(target);
    if (!next) streams.set(target, (next = seededRandom(streamSeed(seed, target))));
    return next;
  };
  const bump = (key: string) => {
    counts[key] = (counts[key] ?? 0) + 1;
  };
  return {
    get rules() {
      return rules;
    },
    seed,
    has: (target) => rules.some((rule) => rule.target === target && rule.probability > 0),
    names: (target) => rules.some((rule) => rule.target === target),
    setRules(next) {
      rules = [...next];
    },
    scoped: (target) => rules.some((rule) => rule.target === target && rule.table !== undefined),
    draw<T extends FaultTarget>(target: T, tables?: readonly string[]) {
      const candidates = rules.filter((rule) => rule.target === target && ruleApplies(rule, tables));
      if (candidates.length === 0) return undefined;
      bump(target);
      const roll = stream(target)();
      let edge = 0;
      for (const rule of candidates) {
        edge += rule.probability;
        if (roll < edge) {
          bump(`${target}:${rule.fault}`);
          return rule.fault as FaultKind<T>;
        }
      }
      return undefined;
    },
    random: (target) => stream(target)(),
    stats: () => ({ ...counts }),
  };
};

// ---------------------------------------------------------------- post: the @connections API

/**
 * The management API's restJson error answers, as API Gateway sends them: the
 * error's name in `x-amzn-ErrorType`, a JSON body with `message`.
 * https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis-apiid-connections-connectionid.html
 */
export const MANAGEMENT_FAULTS: Record<FaultKind<'post'>, ManagementFault> = {
  429: { status: 429, errorType: 'LimitExceededException', message: 'Rate exceeded' },
  500: { status: 500, errorType: 'InternalServerErrorException', message: 'Internal server error' },
  // A connection AWS reports gone is gone: its socket is dropped, and, since API Gateway's $disconnect
  // is best effort, without one. Only the 410 handling of whoever posted can clean the table up.
  410: { status: 410, errorType: 'GoneException', message: 'Gone', vanish: true },
};

export const managementHook =
  (injector: FaultInjector) =>
  (): ManagementFault | undefined => {
    const fault = injector.draw('post');
    return fault === undefined ? undefined : MANAGEMENT_FAULTS[fault];
  };

// ---------------------------------------------------------------- dynamodb: a proxy in front of the endpoint

const DYNAMODB_ERROR_PREFIX = 'com.amazonaws.dynamodb.v20120810#';

/**
 * DynamoDB's JSON 1.0 error answers. A throttled request is refused before
 * DynamoDB does anything (HTTP 400); an InternalServerError (HTTP 500) may
 * come after the request took effect, and here it always does: the stricter
 * case for callers, whose retry must then be harmless.
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
 */
export const DYNAMODB_FAULTS: Record<FaultKind<'dynamodb'>, { status: number; type: string; message: string; applied: boolean }> = {
  throttle: {
    status: 400,
    type: 'ProvisionedThroughputExceededException',
    message: 'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
    applied: false,
  },
  500: { status: 500, type: 'InternalServerError', message: 'Internal server error', applied: true },
};

export const dynamoErrorBody = (fault: FaultKind<'dynamodb'>): string =>
  JSON.stringify({ __type: `${DYNAMODB_ERROR_PREFIX}${DYNAMODB_FAULTS[fault].type}`, message: DYNAMODB_FAULTS[fault].message });

const answerDynamoError = (res: ServerResponse, fault: FaultKind<'dynamodb'>) => {
  const body = dynamoErrorBody(fault);
  res.writeHead(DYNAMODB_FAULTS[fault].status, {
    'Content-Type': 'application/x-amz-json-1.0',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': randomUUID().replace(/-/g, '').toUpperCase(),
    // DynamoDB checksums every response body.
    'x-amz-crc32': String(crc32(body)),
  });
  res.end(body);
};

/** The tables a DynamoDB JSON request touches: TableName, a batch's RequestItems, a transaction's items. */
export const requestTables = (body: Buffer): string[] => {
  try {
    const input = JSON.parse(body.toString('utf8')) as { TableName?: unknown; RequestItems?: Record<string, unknown>; TransactItems?: Record<string, { TableName?: unknown }>[] };
    const names = new Set<string>();
    if (typeof input.TableName === 'string') names.add(input.TableName);
    for (const name of Object.keys(input.RequestItems ?? {})) names.add(name);
    for (const item of input.TransactItems ?? []) for (const op of Object.values(item ?? {})) if (typeof op?.TableName === 'string') names.add(op.TableName);
    return [...names];
  } catch {
    return [];
  }
};

export interface DynamoFaultProxy {
  endpoint: string;
  close(): Promise<void>;
}

/** An HTTP proxy in front of a DynamoDB endpoint that fails requests as the injector decides. */
export const startDynamoFaultProxy = async ({ upstream, injector, host = '127.0.0.1' }: { upstream: string; injector: FaultInjector; host?: string }): Promise<DynamoFaultProxy> => {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });

  const forward = (req: IncomingMessage, body: Buffer, onResponse: (res: IncomingMessage) => void, onError: (error: Error) => void) => {
    const upstreamReq = request(
      { agent, hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      onResponse,
    );
    upstreamReq.on('error', onError);
    upstreamReq.end(body);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fault = injector.draw('dynamodb', injector.scoped('dynamodb') ? requestTables(body) : undefined);
      if (fault !== undefined && !DYNAMODB_FAULTS[fault].applied) return answerDynamoError(res, fault);
      forward(
        req,
        body,
        (upstreamRes) => {
          if (fault !== undefined) {
            // It took effect; the caller is told it failed.
            upstreamRes.resume();
            upstreamRes.on('end', () => answerDynamoError(res, fault));
            return;
          }
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
        () => {
          if (!res.headersSent) answerDynamoError(res, '500');
          else res.destroy();
        },
      );
    });
  });
  server.keepAliveTimeout = 65_000;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as { port: number }).port));
  });
  return {
    endpoint: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
};

// ---------------------------------------------------------------- invoke: the sandbox dies or hangs

/** What the function host does to one invocation. */
export interface InvokeFault {
  kind: 'crash' | 'timeout';
  /** The sandbox crashes (or freezes) this long into the invocation, or when the handler returns, whichever is first. */
  afterMs: number;
}

/** How far into an invocation a crash or a hang strikes, at most: early enough to catch a fan-out half-way. */
export const INVOKE_FAULT_WINDOW_MS = 50;

export const drawInvokeFault = (injector: FaultInjector): InvokeFault | undefined => {
  const kind = injector.draw('invoke');
  if (kind === undefined) return undefined;
  return { kind, afterMs: Math.floor(injector.random('invoke') * INVOKE_FAULT_WINDOW_MS) };
};
