/**
 * A route change must reach the stage on `sam deploy`: the Deployment's
 * logical id follows a hash of the routes, so a changed route makes
 * CloudFormation create a new deployment and point the Stage at it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { currentDeploymentId, expectedDeploymentId, renameDeployment, syncDeploymentId } from '../../scripts/deploymentId.js';
import { TEMPLATE_PATH, type Template, readTemplate, resourcesOfType } from '../../scripts/template.js';

const template = readTemplate();

const stageDeployment = (t: Template) => (resourcesOfType(t, 'AWS::ApiGatewayV2::Stage')[0]![1].Properties!.DeploymentId as { Ref: string }).Ref;

describe('template.yaml: every route change deploys to the stage', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sid-deployment-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names the Deployment after the hash of the routes as they are (run npm run deployment-id after changing one)', () => {
    expect(currentDeploymentId(template), 'stale: run npm run deployment-id').to.equal(expectedDeploymentId(template));
    expect(stageDeployment(template)).to.equal(currentDeploymentId(template));
  });

  it('waits for every route and route response before deploying', () => {
    const deployment = template.Resources[currentDeploymentId(template)!]!;
    const ids = [...resourcesOfType(template, 'AWS::ApiGatewayV2::Route'), ...resourcesOfType(template, 'AWS::ApiGatewayV2::RouteResponse')].map(([id]) => id);
    expect(deployment.DependsOn).to.include.members(ids);
  });

  it('gives a changed route a new Deployment that the Stage points at, and leaves an unrelated change alone', () => {
    const file = join(dir, 'template.yaml');
    const original = readFileSync(TEMPLATE_PATH, 'utf8');
    const before = currentDeploymentId(template)!;

    // Unrelated: a function's memory. Same deployment.
    writeFileSync(file, original.replace('    MemorySize: 512\n', '    MemorySize: 1024\n'));
    expect(syncDeploymentId(file)).to.include({ stale: false, written: false });
    expect(currentDeploymentId(readTemplate(file))).to.equal(before);

    // A route's key changes: the script renames the Deployment, and the Stage follows.
    writeFileSync(file, original.replace('      RouteKey: ping\n', '      RouteKey: heartbeat\n'));
    expect(syncDeploymentId(file, { check: true })).to.include({ stale: true, written: false });
    expect(syncDeploymentId(file)).to.include({ stale: true, written: true });
    const changed = readTemplate(file);
    const after = currentDeploymentId(changed)!;
    expect(after).to.match(/^Deployment[0-9a-f]{10}$/).and.not.equal(before);
    expect(after).to.equal(expectedDeploymentId(changed));
    expect(stageDeployment(changed)).to.equal(after);
    expect(changed.Resources[before]).to.equal(undefined);
    expect(syncDeploymentId(file, { check: true }).stale).to.equal(false);
  });

  it('changes the hash when an integration, a route response or an authorizer changes', () => {
    const variants: ((t: Template) => void)[] = [
      (t) => (t.Resources.PingIntegration!.Properties!.IntegrationType = 'AWS'),
      (t) => (t.Resources.PingRouteResponse!.Properties!.RouteResponseKey = '$other'),
      (t) => (t.Resources.ConnectAuthorizer!.Properties!.IdentitySource = ['route.request.header.token']),
      (t) => (t.Resources.WebSocketApi!.Properties!.RouteSelectionExpression = '$request.body.type'),
    ];
    const ids = variants.map((change) => {
      const copy = structuredClone(template);
      change(copy);
      return expectedDeploymentId(copy);
    });
    for (const id of ids) expect(id).to.not.equal(expectedDeploymentId(template));
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it('renames only the Deployment key and its references', () => {
    const text = 'Resources:\n  Deploymentabc:\n    Type: AWS::ApiGatewayV2::Deployment\n  Stage:\n    Properties:\n      DeploymentId: !Ref Deploymentabc\n';
    expect(renameDeployment(text, 'Deploymentabc', 'Deployment0123456789')).to.equal(
      'Resources:\n  Deployment0123456789:\n    Type: AWS::ApiGatewayV2::Deployment\n  Stage:\n    Properties:\n      DeploymentId: !Ref Deployment0123456789\n',
    );
  });
});
