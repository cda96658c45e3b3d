/**
 * Reads template.yaml, the single source of truth for functions, routes,
 * tables and rules. The build, the local stack and the tests all read it
 * through here, so nothing about the application is written down twice.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, type Tags } from 'yaml';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const TEMPLATE_PATH = join(PROJECT_ROOT, 'template.yaml');

/** CloudFormation's short-form intrinsics (!Ref, !Sub, ...), kept as their long-form objects. */
const cfnTags: Tags = [];
for (const [tag, key] of [
  ['Ref', 'Ref'],
  ['Sub', 'Fn::Sub'],
  ['GetAtt', 'Fn::GetAtt'],
  ['If', 'Fn::If'],
  ['Equals', 'Fn::Equals'],
  ['Join', 'Fn::Join'],
  ['Select', 'Fn::Select'],
  ['Split', 'Fn::Split'],
  ['Not', 'Fn::Not'],
  ['And', 'Fn::And'],
  ['Or', 'Fn::Or'],
  ['FindInMap', 'Fn::FindInMap'],
  ['ImportValue', 'Fn::ImportValue'],
  ['Base64', 'Fn::Base64'],
  ['GetAZs', 'Fn::GetAZs'],
  ['Condition', 'Condition'],
] as const) {
  for (const collection of ['seq', 'map', undefined] as const) {
    cfnTags.push({
      tag: `!${tag}`,
      collection,
      resolve: (value: unknown) => {
        const plain = (value as { toJSON?: () => unknown })?.toJSON ? (value as { toJSON: () => unknown }).toJSON() : value;
        return { [key]: tag === 'GetAtt' && typeof plain === 'string' ? plain.split('.') : plain };
      },
    } as Tags[number]);
  }
}

export interface Resource {
  Type: string;
  Properties?: Record<string, any>;
  Metadata?: Record<string, any>;
  Condition?: string;
  DependsOn?: string | string[];
}

export interface Template {
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Parameters?: Record<string, { Type: string; Default?: unknown; AllowedValues?: unknown[] }>;
  Conditions?: Record<string, unknown>;
  Globals?: { Function?: Record<string, any> };
  Resources: Record<string, Resource>;
  Outputs?: Record<string, unknown>;
}

const FOR_EACH = 'Fn::ForEach::';

/** Replaces a loop variable in a fragment: `${Name}` and `&{Name}` in strings and keys, and `{Ref: Name}`. */
const substitute = (value: unknown, name: string, item: string): unknown => {
  const inText = (text: string) => text.split(`\${${name}}`).join(item).split(`&{${name}}`).join(item.replace(/[^A-Za-z0-9]/g, ''));
  if (typeof value === 'string') return inText(value);
  if (Array.isArray(value)) return value.map((entry) => substitute(entry, name, item));
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && entries[0]![0] === 'Ref' && entries[0]![1] === name) return item;
    return Object.fromEntries(entries.map(([key, entry]) => [inText(key), substitute(entry, name, item)]));
  }
  return value;
};

/**
 * Expands AWS::LanguageExtensions' Fn::ForEach in a section (Resources, Conditions, Outputs), as CloudFormation
 * does at deploy, for collections written out as lists (the only kind this template uses).
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-foreach.html
 */
export const expandForEach = <T>(section: Record<string, T>): Record<string, T> => {
  const out: Record<string, T> = {};
  for (const [key, value] of Object.entries(section)) {
    if (!key.startsWith(FOR_EACH)) {
      if (key in out) throw new Error(`template: ${key} is defined twice (once by a Fn::ForEach)`);
      out[key] = value;
      continue;
    }
    const [name, collection, fragment] = value as unknown as [string, unknown, Record<string, T>];
    if (!Array.isArray(collection) || collection.some((item) => typeof item !== 'string')) {
      throw new Error(`template: ${key} loops over ${JSON.stringify(collection)}; only a written-out list of strings is supported`);
    }
    for (const item of collection as string[]) {
      for (const [expandedKey, expanded] of Object.entries(expandForEach(substitute(fragment, name, item) as Record<string, T>))) {
        if (expandedKey in out) throw new Error(`template: ${key} defines ${expandedKey} twice`);
        out[expandedKey] = expanded;
      }
    }
  }
  return out;
};

/** The template as CloudFormation sees it after its transforms' loops: Fn::ForEach expanded. */
export const readTemplate = (path = TEMPLATE_PATH): Template => {
  const template = parse(readFileSync(path, 'utf8'), { customTags: cfnTags }) as Template;
  template.Resources = expandForEach(template.Resources);
  if (template.Conditions) template.Conditions = expandForEach(template.Conditions);
  if (template.Outputs) template.Outputs = expandForEach(template.Outputs);
  return template;
};

export const resourcesOfType = (template: Template, type: string): [string, Resource][] =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);

/** esbuild settings of one function, exactly as its Metadata says (what `sam build` uses). */
export interface FunctionBuild {
  logicalId: string;
  codeUri: string;
  entryPoints: string[];
  handler: string;
  format: 'esm' | 'cjs';
  target: string;
  minify: boolean;
  sourcemap: boolean;
  outExtension: Record<string, string>;
  external: string[];
  banner: Record<string, string>;
}

const keyValueList = (list: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const entry of (list as string[] | undefined) ?? []) {
    const at = entry.indexOf('=');
    out[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return out;
};

export const functionBuilds = (template: Template = readTemplate()): FunctionBuild[] =>
  resourcesOfType(template, 'AWS::Serverless::Function')
    .filter(([, r]) => r.Metadata?.BuildMethod === 'esbuild')
    .map(([logicalId, r]) => {
      const props = r.Metadata!.BuildProperties ?? {};
      return {
        logicalId,
        codeUri: r.Properties!.CodeUri as string,
        handler: r.Properties!.Handler as string,
        entryPoints: props.EntryPoints ?? [],
        format: props.Format ?? 'cjs',
        target: props.Target ?? 'es2020',
        minify: props.Minify ?? true,
        sourcemap: props.Sourcemap ?? false,
        outExtension: keyValueList(props.OutExtension),
        external: props.External ?? [],
        banner: keyValueList(props.Banner),
      };
    });

/** A CreateTable input for each AWS::DynamoDB::Table (local name = TableName or the logical id). */
export interface TableDefinition {
  logicalId: string;
  TableName: string;
  KeySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  AttributeDefinitions: { AttributeName: string; AttributeType: 'S' | 'N' | 'B' }[];
  GlobalSecondaryIndexes?: unknown[];
  BillingMode: 'PAY_PER_REQUEST' | 'PROVISIONED';
}

export const tableDefinitions = (template: Template = readTemplate()): TableDefinition[] =>
  resourcesOfType(template, 'AWS::DynamoDB::Table').map(([logicalId, r]) => {
    const p = r.Properties ?? {};
    return {
      logicalId,
      TableName: typeof p.TableName === 'string' ? p.TableName : logicalId,
      KeySchema: p.KeySchema,
      AttributeDefinitions: p.AttributeDefinitions,
      ...(p.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: p.GlobalSecondaryIndexes } : {}),
      BillingMode: 'PAY_PER_REQUEST',
    };
  });
