/**
 * An `AWS::ApiGatewayV2::Deployment` is a snapshot: CloudFormation creates it
 * once, and a later update that changes a route or an integration never
 * reaches the stage unless a new deployment is made. So the Deployment's
 * logical id carries a hash of everything the API routes with: a change to a
 * route, integration, route response, authorizer or the API itself gives a
 * new logical id, CloudFormation creates that deployment, points the Stage at
 * it and deletes the old one.
 *
 *   npm run deployment-id            rewrites template.yaml's Deployment id when the routes changed
 *   npm run deployment-id -- --check exits 1 when it is stale (CI; the template spec checks it too)
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { TEMPLATE_PATH, type Template, readTemplate, resourcesOfType } from './template.js';

/** What a deployment snapshots (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-set-up-websocket-deployment.html). */
export const DEPLOYED_TYPES = [
  'AWS::ApiGatewayV2::Api',
  'AWS::ApiGatewayV2::Route',
  'AWS::ApiGatewayV2::RouteResponse',
  'AWS::ApiGatewayV2::Integration',
  'AWS::ApiGatewayV2::IntegrationResponse',
  'AWS::ApiGatewayV2::Authorizer',
  'AWS::ApiGatewayV2::Model',
];

const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
};

export const routesHash = (template: Template): string => {
  const deployed = Object.entries(template.Resources)
    .filter(([, resource]) => DEPLOYED_TYPES.includes(resource.Type))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, resource]) => [id, resource.Type, resource.Condition ?? null, canonical(resource.Properties ?? {})]);
  return createHash('sha256').update(JSON.stringify(deployed)).digest('hex').slice(0, 10);
};

/** The logical id the Deployment should have for the template's routes. */
export const expectedDeploymentId = (template: Template): string => `Deployment${routesHash(template)}`;

/** The Deployment's logical id in the template as it is. */
export const currentDeploymentId = (template: Template): string | undefined => resourcesOfType(template, 'AWS::ApiGatewayV2::Deployment')[0]?.[0];

/** template.yaml's text with the Deployment's logical id (its key and every !Ref to it) renamed. */
export const renameDeployment = (text: string, from: string, to: string): string => {
  const key = new RegExp(`^(  )${from}(:\\s*)$`, 'm');
  if (!key.test(text)) throw new Error(`no resource ${from} in the template`);
  return text.replace(key, `$1${to}$2`).replace(new RegExp(`(!Ref |Ref: )${from}\\b`, 'g'), `$1${to}`);
};

/** Renames the Deployment in the template file when its routes changed; with `check`, only says so. */
export const syncDeploymentId = (path = TEMPLATE_PATH, { check = false } = {}): { current: string; expected: string; stale: boolean; written: boolean } => {
  const template = readTemplate(path);
  const current = currentDeploymentId(template);
  const expected = expectedDeploymentId(template);
  if (!current) throw new Error('the template has no AWS::ApiGatewayV2::Deployment');
  const stale = current !== expected;
  if (stale && !check) writeFileSync(path, renameDeployment(readFileSync(path, 'utf8'), current, expected));
  return { current, expected, stale, written: stale && !check };
};

const main = () => {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false }, template: { type: 'string', default: TEMPLATE_PATH } } });
  const { current, expected, stale } = syncDeploymentId(values.template as string, { check: values.check as boolean });
  if (!stale) console.log(`deployment-id: ${current} matches the routes`);
  else if (values.check) {
    console.error(`deployment-id: ${current} is stale, the routes hash to ${expected}: run npm run deployment-id`);
    process.exit(1);
  } else console.log(`deployment-id: ${current} → ${expected} (the next deploy creates a new deployment and points the stage at it)`);
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
