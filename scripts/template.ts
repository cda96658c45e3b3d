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
  Parameters?: Record<string, { Type: string; Default?: unknown; AllowedValues?: unknown[] }>;
  Conditions?: Record<string, unknown>;
  Globals?: { Function?: Record<string, any> };
  Resources: Record<string, Resource>;
  Outputs?: Record<string, unknown>;
}

export const readTemplate = (path = TEMPLATE_PATH): Template => parse(readFileSync(path, 'utf8'), { customTags: cfnTags }) as Template;

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
