/**
 * Secrets never reach a log line. The token travels in the query string
 * (browsers cannot set headers on a WebSocket), so any logged event would
 * carry it: every log record goes through this replacer.
 */
const SECRET_KEYS = new Set(['token', 'authorization', 'cookie', 'set-cookie', 'x-api-key', 'sec-websocket-protocol', 'secret', 'password']);

// A compact JWS (header.payload.signature) anywhere in a string, e.g. inside a logged URL.
const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const TOKEN_PARAM_PATTERN = /([?&]token=)[^&\s"]+/gi;

export const REDACTED = '[REDACTED]';

export const redactString = (value: string): string =>
  value.replace(JWT_PATTERN, REDACTED).replace(TOKEN_PARAM_PATTERN, `$1${REDACTED}`);

/** A JSON.stringify replacer: drops secret-named keys and JWT-looking strings at any depth. */
export const redactingReplacer = (key: string, value: unknown): unknown => {
  if (key !== '' && SECRET_KEYS.has(key.toLowerCase())) return REDACTED;
  if (typeof value === 'string') return redactString(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
};

/** A deep copy of any value with the same redaction applied, for logging whole events. */
export const redact = <T>(value: T): T => JSON.parse(JSON.stringify(value, redactingReplacer) ?? 'null') as T;
