/**
 * Configuration read once, at module load (fail fast: a missing variable throws before the first invocation).
 * A missing required variable throws before the first invocation, so a
 * misconfigured deployment fails its first cold start loudly instead of
 * failing every message quietly.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const requireEnv = (name: string, env: NodeJS.ProcessEnv = process.env): string => {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new ConfigError(`${name} environment variable is not set`);
  }
  return value;
};

export const optionalEnv = (name: string, fallback: string, env: NodeJS.ProcessEnv = process.env): string => {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
};

export const intEnv = (name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
};

export const listEnv = (name: string, env: NodeJS.ProcessEnv = process.env): string[] =>
  (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
