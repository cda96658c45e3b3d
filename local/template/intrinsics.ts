/**
 * CloudFormation intrinsic functions, resolved to local values.
 *
 * scripts/template.ts parses the short forms (!Ref, !Sub, ...) into their
 * long-form objects; this module evaluates them against a context that knows
 * the parameter values, the pseudo parameters, the conditions and what each
 * resource's Ref and GetAtt mean locally. Pure: no I/O, no globals.
 */

/** `!Ref AWS::NoValue`: the property is removed, as CloudFormation does. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

export class TemplateError extends Error {
  override name = 'TemplateError';
}

export interface IntrinsicContext {
  /** Parameter values (CloudFormation hands every parameter over as a string). */
  parameters: Record<string, string>;
  /** AWS::Region, AWS::AccountId, AWS::Partition, AWS::StackName, AWS::URLSuffix, ... */
  pseudo: Record<string, string>;
  /** The Conditions section, evaluated on demand. */
  condition(name: string): boolean;
  /** A resource's Ref value, or undefined when the logical id is unknown. */
  ref(logicalId: string): string | undefined;
  /** A resource's GetAtt value, or undefined when unknown. */
  getAtt(logicalId: string, attribute: string): string | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const asString = (value: unknown, where: string): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new TemplateError(`${where}: expected a string, got ${JSON.stringify(value)}`);
};

const refValue = (name: string, ctx: IntrinsicContext): unknown => {
  if (name === 'AWS::NoValue') return NO_VALUE;
  if (name in ctx.pseudo) return ctx.pseudo[name];
  if (name in ctx.parameters) return ctx.parameters[name];
  const resource = ctx.ref(name);
  if (resource !== undefined) return resource;
  throw new TemplateError(`!Ref ${name}: no such parameter, pseudo parameter or resource`);
};

const getAttValue = (logicalId: string, attribute: string, ctx: IntrinsicContext): string => {
  const value = ctx.getAtt(logicalId, attribute);
  if (value === undefined) throw new TemplateError(`!GetAtt ${logicalId}.${attribute}: not available locally`);
  return value;
};

/** `${Name}`, `${Resource.Attribute}` and `${!Literal}` in a !Sub string. */
export const substitute = (template: string, ctx: IntrinsicContext, variables: Record<string, unknown> = {}): string =>
  template.replace(/\$\{([^}]*)\}/g, (_match, inner: string) => {
    if (inner.startsWith('!')) return `\${${inner.slice(1)}}`;
    const name = inner.trim();
    if (name in variables) return asString(variables[name], `!Sub \${${name}}`);
    const dot = name.indexOf('.');
    if (dot > 0 && !name.startsWith('AWS::')) return getAttValue(name.slice(0, dot), name.slice(dot + 1), ctx);
    const value = refValue(name, ctx);
    if (value === NO_VALUE) return '';
    return asString(value, `!Sub \${${name}}`);
  });

/** Evaluates a condition expression (Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition; Fn::Contains of Rules). */
export const evaluateCondition = (expression: unknown, ctx: IntrinsicContext): boolean => {
  const value = resolveIntrinsics(expression, ctx);
  if (typeof value !== 'boolean') throw new TemplateError(`condition evaluated to ${JSON.stringify(value)}, not a boolean`);
  return value;
};

const INTRINSICS: Record<string, (arg: unknown, ctx: IntrinsicContext) => unknown> = {
  Ref: (arg, ctx) => refValue(asString(arg, '!Ref'), ctx),

  'Fn::Sub': (arg, ctx) => {
    if (typeof arg === 'string') return substitute(arg, ctx);
    if (Array.isArray(arg) && typeof arg[0] === 'string') {
      const variables = isObject(arg[1]) ? (resolveIntrinsics(arg[1], ctx) as Record<string, unknown>) : {};
      return substitute(arg[0], ctx, variables);
    }
    throw new TemplateError(`!Sub: unsupported form ${JSON.stringify(arg)}`);
  },

  'Fn::GetAtt': (arg, ctx) => {
    const parts = typeof arg === 'string' ? arg.split('.') : (resolveIntrinsics(arg, ctx) as unknown[]);
    if (!Array.isArray(parts) || parts.length < 2) throw new TemplateError(`!GetAtt: unsupported form ${JSON.stringify(arg)}`);
    return getAttValue(String(parts[0]), parts.slice(1).join('.'), ctx);
  },

  'Fn::If': (arg, ctx) => {
    if (!Array.isArray(arg) || arg.length !== 3) throw new TemplateError('!If takes [condition, valueIfTrue, valueIfFalse]');
    return resolveIntrinsics(ctx.condition(asString(arg[0], '!If')) ? arg[1] : arg[2], ctx);
  },

  'Fn::Equals': (arg, ctx) => {
    if (!Array.isArray(arg) || arg.length !== 2) throw new TemplateError('!Equals takes two values');
    const [a, b] = arg.map((v) => resolveIntrinsics(v, ctx));
    return JSON.stringify(a) === JSON.stringify(b) || String(a) === String(b);
  },
  'Fn::Not': (arg, ctx) => !evaluateCondition(Array.isArray(arg) ? arg[0] : arg, ctx),
  'Fn::And': (arg, ctx) => (arg as unknown[]).every((c) => evaluateCondition(c, ctx)),
  'Fn::Or': (arg, ctx) => (arg as unknown[]).some((c) => evaluateCondition(c, ctx)),
  Condition: (arg, ctx) => ctx.condition(asString(arg, 'Condition')),
  // A Rules function: whether the list holds the value (compared as text, as parameters are).
  'Fn::Contains': (arg, ctx) => {
    if (!Array.isArray(arg) || arg.length !== 2) throw new TemplateError('Fn::Contains takes [list, value]');
    const [list, value] = arg.map((v) => resolveIntrinsics(v, ctx));
    if (!Array.isArray(list)) throw new TemplateError('Fn::Contains: the first argument must be a list');
    return list.some((item) => String(item) === String(value));
  },

  'Fn::Join': (arg, ctx) => {
    if (!Array.isArray(arg) || arg.length !== 2) throw new TemplateError('!Join takes [delimiter, list]');
    const list = resolveIntrinsics(arg[1], ctx);
    if (!Array.isArray(list)) throw new TemplateError('!Join: the second argument must be a list');
    return list.map((v) => asString(v, '!Join')).join(asString(arg[0], '!Join'));
  },
  'Fn::Select': (arg, ctx) => {
    if (!Array.isArray(arg) || arg.length !== 2) throw new TemplateError('!Select takes [index, list]');
    const list = resolveIntrinsics(arg[1], ctx);
    const index = Number(resolveIntrinsics(arg[0], ctx));
    if (!Array.isArray(list) || !Number.isInteger(index) || index < 0 || index >= list.length) {
      throw new TemplateError(`!Select: index ${index} out of range`);
    }
    return list[index];
  },
  'Fn::Split': (arg, ctx) => {
    if (!Array.isArray(arg) || arg.length !== 2) throw new TemplateError('!Split takes [delimiter, string]');
    return asString(resolveIntrinsics(arg[1], ctx), '!Split').split(asString(arg[0], '!Split'));
  },
  'Fn::Base64': (arg, ctx) => Buffer.from(asString(resolveIntrinsics(arg, ctx), '!Base64')).toString('base64'),
};

/**
 * Resolves every intrinsic in `value`, depth first. `AWS::NoValue` removes
 * the key (in objects) or the element (in lists); at the top level it comes
 * back as NO_VALUE for the caller to drop.
 */
export function resolveIntrinsics(value: unknown, ctx: IntrinsicContext): unknown {
  if (Array.isArray(value)) {
    return value.map((v) => resolveIntrinsics(v, ctx)).filter((v) => v !== NO_VALUE);
  }
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const fn = INTRINSICS[keys[0]];
    if (fn) return fn(value[keys[0]], ctx);
    if (keys[0].startsWith('Fn::')) throw new TemplateError(`${keys[0]} is not supported by the local stack`);
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const resolved = resolveIntrinsics(value[key], ctx);
    if (resolved !== NO_VALUE) out[key] = resolved;
  }
  return out;
}
