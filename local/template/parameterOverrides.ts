/**
 * Template parameters, locally: `PARAM_<Name>=value` in the environment
 * overrides a parameter of template.yaml for `npm start` and `npm run invoke`
 * (README: The local stack), and `--parameter-overrides Name=value ...`, as `sam` spells
 * it, does the same; the flag wins over the environment.
 */
export const parameterOverridesFromEnv = (env: NodeJS.ProcessEnv = process.env): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('PARAM_') && key.length > 'PARAM_'.length && value !== undefined) out[key.slice('PARAM_'.length)] = value;
  }
  return out;
};

/** `Name=value` pairs (sam's `--parameter-overrides` syntax, `ParameterKey=..,ParameterValue=..` too), values optionally quoted. */
export const parseParameterOverrides = (args: readonly string[]): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const arg of args.flatMap((a) => a.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [])) {
    const long = /^ParameterKey=([^,]+),ParameterValue=(.*)$/.exec(arg);
    const [name, raw] = long ? [long[1]!, long[2]!] : [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    if (!arg.includes('=') || !name) throw new Error(`--parameter-overrides takes Name=value pairs, got ${JSON.stringify(arg)}`);
    out[name] = raw.replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
};

/** Removes `--parameter-overrides A=1 B=2` from `args` (up to the next `--flag`) and returns the pairs. */
export const parameterOverridesFromArgs = (args: string[]): Record<string, string> => {
  const at = args.indexOf('--parameter-overrides');
  if (at < 0) return {};
  let end = at + 1;
  while (end < args.length && !args[end]!.startsWith('--')) end++;
  const pairs = args.splice(at, end - at).slice(1);
  if (pairs.length === 0) throw new Error('--parameter-overrides needs at least one Name=value');
  return parseParameterOverrides(pairs);
};
