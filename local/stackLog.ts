/**
 * The local stack's console: one readable line per connect, disconnect,
 * route, rule invocation and handler log record, coloured when the output is
 * a terminal. Everything goes through `write`, so tests can collect the lines.
 */
import { redactString } from '../layers/shared/src/redact.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Source = 'stack' | 'ws' | 'mgmt' | 'mqtt' | 'rule' | 'lambda' | 'ddb' | 'http' | 'sim' | 'sqs';

export interface StackLogger {
  log(source: Source, level: Level, text: string): void;
  /** One line a function printed (Powertools JSON or plain text). */
  handlerLine(functionId: string, line: string, stream: 'stdout' | 'stderr'): void;
  readonly color: boolean;
}

const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const ansi = (code: string) => (text: string) => `\u001b[${code}m${text}\u001b[0m`;
export const paint = {
  dim: ansi('2'),
  bold: ansi('1'),
  red: ansi('31'),
  green: ansi('32'),
  yellow: ansi('33'),
  blue: ansi('34'),
  magenta: ansi('35'),
  cyan: ansi('36'),
  gray: ansi('90'),
};

const SOURCE_COLOR: Record<Source, (t: string) => string> = {
  stack: paint.bold,
  ws: paint.cyan,
  mgmt: paint.blue,
  mqtt: paint.magenta,
  rule: paint.magenta,
  lambda: paint.gray,
  ddb: paint.yellow,
  http: paint.blue,
  sim: paint.green,
  sqs: paint.yellow,
};

// Powertools' standard keys: everything else in a record is shown as key=value.
const STANDARD_KEYS = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
]);

const compact = (value: unknown): string => {
  if (typeof value === 'string') return /^[\w.:@/+*#=-]*$/.test(value) && value !== '' ? value : JSON.stringify(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
};

const levelOf = (text: string | undefined): Level => {
  switch ((text ?? '').toUpperCase()) {
    case 'DEBUG':
    case 'TRACE':
      return 'debug';
    case 'WARN':
      return 'warn';
    case 'ERROR':
    case 'CRITICAL':
    case 'FATAL':
      return 'error';
    default:
      return 'info';
  }
};

export interface StackLoggerOptions {
  write: (line: string) => void;
  color?: boolean;
  level?: Level;
  /** Prefix each line with the time of day. */
  timestamps?: boolean;
}

export const createStackLogger = ({ write, color = false, level = 'info', timestamps = true }: StackLoggerOptions): StackLogger => {
  const threshold = LEVELS[level];
  const c = (fn: (t: string) => string, text: string) => (color ? fn(text) : text);
  const emit = (source: Source, lvl: Level, text: string) => {
    if (LEVELS[lvl] < threshold) return;
    const time = timestamps ? `${c(paint.gray, new Date().toISOString().slice(11, 23))} ` : '';
    const tag = c(SOURCE_COLOR[source], source.padEnd(6));
    const body = lvl === 'error' ? c(paint.red, text) : lvl === 'warn' ? c(paint.yellow, text) : text;
    // Tokens travel in query strings: nothing that looks like one reaches the console.
    write(`${time}${tag} ${redactString(body)}`);
  };
  return {
    color,
    log: emit,
    handlerLine(functionId, line, stream) {
      let record: Record<string, unknown> | undefined;
      if (line.startsWith('{')) {
        try {
          const parsed = JSON.parse(line) as unknown;
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) record = parsed as Record<string, unknown>;
        } catch {
          record = undefined;
        }
      }
      if (!record) {
        emit('lambda', stream === 'stderr' ? 'warn' : 'info', `${functionId} ${line}`);
        return;
      }
      const lvl = levelOf(record.level as string | undefined);
      const extras = Object.entries(record)
        .filter(([key]) => !STANDARD_KEYS.has(key))
        .map(([key, value]) => `${c(paint.gray, `${key}=`)}${compact(value)}`)
        .join(' ');
      const message = typeof record.message === 'string' ? record.message : compact(record.message);
      emit('lambda', lvl, `${functionId} ${c(paint.dim, String(record.level ?? 'INFO'))} ${message}${extras ? ` ${extras}` : ''}`);
    },
  };
};

/** A logger that drops everything: the default for tests and embedded use. */
export const silentLogger = (): StackLogger => createStackLogger({ write: () => undefined, level: 'error' });

export const formatMs = (ms: number): string => (ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`);
