/**
 * The local stack's console: readable lines, coloured when the output is a
 * terminal. Everything goes through `write`, so tests can collect the lines.
 *
 * Two modes. `verbose` (LOG=verbose): a line per connect, disconnect, route,
 * rule invocation and handler log record. `quiet` (npm start's default): the
 * per-invocation lines are counted instead of printed, and every few seconds
 * each function that ran gets one summary line (`TelemetryFunction 15
 * invocations, p50 12 ms, 0 errors`), handed to `status` when given (on a
 * terminal: a footer redrawn in place, see terminal.ts) or else written as a
 * line. Warnings and errors are printed in full in both modes.
 */
import { redactString } from '@serverless-iot-dashboard/shared';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Source = 'stack' | 'ws' | 'mgmt' | 'mqtt' | 'rule' | 'lambda' | 'ddb' | 'http' | 'sim' | 'events' | 'oidc' | 'sqs';

export type LogMode = 'quiet' | 'verbose';

export interface StackLogger {
  log(source: Source, level: Level, text: string): void;
  /** An info line about one invocation (a rule's, a route's): printed in verbose mode only. */
  perInvocation(source: Source, text: string): void;
  /** One line a function printed (Powertools JSON or plain text); in quiet mode only its warnings and errors. */
  handlerLine(functionId: string, line: string, stream: 'stdout' | 'stderr'): void;
  /** Counts an invocation for the quiet mode's summary. */
  invocation(functionId: string, durationMs: number, ok: boolean): void;
  /** Writes the summary of the invocations counted since the last one (the timer does this every few seconds). */
  flushSummary(): void;
  /** Stops the summary timer. */
  close(): void;
  readonly color: boolean;
  readonly mode: LogMode;
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
  events: paint.yellow,
  oidc: paint.yellow,
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
  /** Default verbose (what tests read); npm start passes quiet unless LOG=verbose. */
  mode?: LogMode;
  /** Quiet mode: how often the summary is written (default 5 s). */
  summaryEveryMs?: number;
  /** Quiet mode: where the summary lines go instead of `write` (a terminal footer redrawn in place). */
  status?: (lines: string[]) => void;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;

/** `TelemetryFunction 15 invocations, p50 12 ms, p99 40 ms, 0 errors`: one function's window. */
export const summaryLine = (functionId: string, durations: number[], errors: number): string => {
  const sorted = [...durations].sort((a, b) => a - b);
  const n = sorted.length;
  return `${functionId} ${n} invocation${n === 1 ? '' : 's'}, p50 ${formatMs(percentile(sorted, 50))}, p99 ${formatMs(percentile(sorted, 99))}, ${errors} error${errors === 1 ? '' : 's'}`;
};

export const createStackLogger = ({ write, color = false, level = 'info', timestamps = true, mode = 'verbose', summaryEveryMs = 5000, status }: StackLoggerOptions): StackLogger => {
  const threshold = LEVELS[level];
  const quiet = mode === 'quiet';
  let window = new Map<string, { durations: number[]; errors: number }>();
  let timer: NodeJS.Timeout | undefined;
  const c = (fn: (t: string) => string, text: string) => (color ? fn(text) : text);
  const emit = (source: Source, lvl: Level, text: string) => {
    if (LEVELS[lvl] < threshold) return;
    const time = timestamps ? `${c(paint.gray, new Date().toISOString().slice(11, 23))} ` : '';
    const tag = c(SOURCE_COLOR[source], source.padEnd(6));
    const body = lvl === 'error' ? c(paint.red, text) : lvl === 'warn' ? c(paint.yellow, text) : text;
    // Tokens travel in query strings: nothing that looks like one reaches the console.
    write(`${time}${tag} ${redactString(body)}`);
  };
  const flushSummary = () => {
    const current = window;
    window = new Map();
    const lines = [...current].sort(([a], [b]) => a.localeCompare(b)).map(([id, stats]) => summaryLine(id, stats.durations, stats.errors));
    if (status) {
      const seconds = Math.round(summaryEveryMs / 1000);
      status(lines.length > 0 ? lines.map((text) => `${c(paint.gray, `last ${seconds} s`)} ${text}`) : [c(paint.gray, `last ${seconds} s: no invocations`)]);
    } else {
      for (const text of lines) emit('lambda', 'info', text);
    }
  };
  return {
    color,
    mode,
    log: emit,
    perInvocation(source, text) {
      if (!quiet) emit(source, 'info', text);
    },
    invocation(functionId, durationMs, ok) {
      if (!quiet) return;
      let stats = window.get(functionId);
      if (!stats) window.set(functionId, (stats = { durations: [], errors: 0 }));
      stats.durations.push(durationMs);
      if (!ok) stats.errors++;
      if (!timer) {
        timer = setInterval(flushSummary, summaryEveryMs);
        timer.unref();
      }
    },
    flushSummary,
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
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
        if (quiet && stream !== 'stderr') return;
        emit('lambda', stream === 'stderr' ? 'warn' : 'info', `${functionId} ${line}`);
        return;
      }
      const lvl = levelOf(record.level as string | undefined);
      if (quiet && LEVELS[lvl] < LEVELS.warn) return;
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
