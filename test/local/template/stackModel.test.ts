/** Reading template.yaml into what the local stack runs: intrinsics, environments, routes, tables and rules. */
import { expect } from 'chai';
import { parse } from 'yaml';
import { functionEnvironment } from '../../../local/template/functionEnv.js';
import { NO_VALUE, TemplateError, resolveIntrinsics } from '../../../local/template/intrinsics.js';
import { buildStackModel, functionNameFromArn, localizeApiEndpoints } from '../../../local/template/stackModel.js';
import type { Template } from '../../../scripts/template.js';

const ctx = {
  parameters: { Stage: 'prod', Mode: 'secret' },
  pseudo: { 'AWS::Region': 'us-east-1', 'AWS::AccountId': '000000000000', 'AWS::StackName': 'local' },
  condition: (name: string) => name === 'IsSecret',
  ref: (id: string) => (id === 'Table' ? 'TableName' : undefined),
  getAtt: (id: string, attr: string) => (id === 'Fn' && attr === 'Arn' ? 'arn:aws:lambda:us-east-1:000000000000:function:local-Fn' : undefined),
};

const template = (resources: string): Template =>
  parse(
    `Parameters:\n  StageName: { Type: String, Default: dev }\nConditions:\n  Never: { 'Fn::Equals': [a, b] }\nGlobals:\n  Function:\n    Timeout: 5\n    Environment:\n      Variables:\n        TABLE: { Ref: Table }\n        ENDPOINT: { 'Fn::Sub': 'https://\${Api}.execute-api.\${AWS::Region}.amazonaws.com/\${StageName}' }\nResources:\n${resources}`,
  ) as Template;

describe('local template model', () => {
  describe('resolveIntrinsics', () => {
    it('resolves Ref, Sub (with ${!Literal} and variables), GetAtt, If, Join, Select and Split', () => {
      expect(
        resolveIntrinsics(
          {
            a: { Ref: 'Stage' },
            b: { 'Fn::Sub': '${AWS::StackName}-${Stage}-${!Literal}-${Fn.Arn}' },
            c: { 'Fn::Sub': ['${x}/${Table}', { x: { Ref: 'Mode' } }] },
            d: { 'Fn::If': ['IsSecret', 'yes', 'no'] },
            e: { 'Fn::Join': ['-', ['a', { Ref: 'Stage' }]] },
            f: { 'Fn::Select': [1, { 'Fn::Split': [',', 'x,y,z'] }] },
            g: { 'Fn::GetAtt': ['Fn', 'Arn'] },
          },
          ctx,
        ),
      ).to.deep.equal({ a: 'prod', b: 'local-prod-${Literal}-arn:aws:lambda:us-east-1:000000000000:function:local-Fn', c: 'secret/TableName', d: 'yes', e: 'a-prod', f: 'y', g: 'arn:aws:lambda:us-east-1:000000000000:function:local-Fn' });
    });

    it('removes AWS::NoValue from objects and lists', () => {
      expect(resolveIntrinsics({ keep: 1, drop: { 'Fn::If': ['Other', 1, { Ref: 'AWS::NoValue' }] }, list: [1, { Ref: 'AWS::NoValue' }] }, ctx)).to.deep.equal({ keep: 1, list: [1] });
      expect(resolveIntrinsics({ Ref: 'AWS::NoValue' }, ctx)).to.equal(NO_VALUE);
    });

    it('names what it cannot resolve', () => {
      expect(() => resolveIntrinsics({ Ref: 'Missing' }, ctx)).to.throw(TemplateError, /Missing/);
      expect(() => resolveIntrinsics({ 'Fn::ImportValue': 'x' }, ctx)).to.throw(TemplateError, /not supported/);
    });
  });

  describe('buildStackModel', () => {
    const resources = `
  Table: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: my-table, KeySchema: [{ AttributeName: id, KeyType: HASH }], AttributeDefinitions: [{ AttributeName: id, AttributeType: S }] } }
  Hidden: { Type: 'AWS::DynamoDB::Table', Condition: Never, Properties: { KeySchema: [], AttributeDefinitions: [] } }
  Fn: { Type: 'AWS::Serverless::Function', Properties: { CodeUri: functions/connect/, Handler: handler.handler, Timeout: 9, Environment: { Variables: { OWN: x } } } }
  Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { ProtocolType: WEBSOCKET, RouteSelectionExpression: '$request.body.op' } }
  Stage: { Type: 'AWS::ApiGatewayV2::Stage', Properties: { ApiId: { Ref: Api }, StageName: { Ref: StageName } } }
  Integ: { Type: 'AWS::ApiGatewayV2::Integration', Properties: { ApiId: { Ref: Api }, IntegrationType: AWS_PROXY, IntegrationUri: { 'Fn::Sub': 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/\${Fn.Arn}/invocations' } } }
  Route: { Type: 'AWS::ApiGatewayV2::Route', Properties: { ApiId: { Ref: Api }, RouteKey: go, Target: { 'Fn::Sub': 'integrations/\${Integ}' }, RouteResponseSelectionExpression: $default } }
  Rule: { Type: 'AWS::IoT::TopicRule', Properties: { TopicRulePayload: { Sql: "SELECT * FROM 'x'", Actions: [{ Lambda: { FunctionArn: { 'Fn::GetAtt': [Fn, Arn] } } }, { Sns: {} }] } } }
`;

    it('reads functions with merged, resolved environments, and the template Timeout', () => {
      const model = buildStackModel({ template: template(resources) });
      const fn = model.functions.get('Fn')!;
      expect(fn).to.include({ name: 'local-Fn', timeoutSeconds: 9, exportName: 'handler' });
      expect(fn.entryFile).to.match(/functions\/connect\/handler\.ts$/);
      expect(fn.environment).to.deep.equal({ TABLE: 'my-table', ENDPOINT: `https://${model.api!.apiId}.execute-api.us-east-1.amazonaws.com/dev`, OWN: 'x' });
    });

    it('reads routes through their integrations, the stage, tables (skipping false conditions) and rules', () => {
      const model = buildStackModel({ template: template(resources) });
      expect(model.api).to.include({ stage: 'dev', routeSelectionExpression: '$request.body.op' });
      expect(model.api!.routes.get('go')).to.include({ functionId: 'Fn', twoWay: true });
      expect(model.tables.map((t) => t.tableName)).to.deep.equal(['my-table']);
      expect(model.rules[0]).to.deep.include({ functionIds: ['Fn'], unsupportedActions: ['Sns'] });
      expect(model.warnings.join('\n')).to.match(/Sns/);
    });

    it('points the API endpoint at the local gateway in a function environment', () => {
      const model = buildStackModel({ template: template(resources) });
      const env = functionEnvironment({
        spec: model.functions.get('Fn')!,
        model,
        endpoints: { dynamodb: 'http://127.0.0.1:8000', gatewayHttp: 'http://127.0.0.1:3001', gatewayWs: 'ws://127.0.0.1:3001' },
        auth: true,
      });
      expect(env).to.include({ ENDPOINT: 'http://127.0.0.1:3001/dev', DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000', AWS_REGION: 'us-east-1', POWERTOOLS_TRACE_ENABLED: 'false', AWS_LAMBDA_FUNCTION_NAME: 'local-Fn' });
      expect(env).not.to.have.property('AWS_PROFILE');
    });

    it('reads the real template: every route has a function, $connect has the authorizer, the rule targets TelemetryFunction', () => {
      const model = buildStackModel();
      const routes = model.api!.routes;
      expect([...routes.keys()]).to.include.members(['$connect', '$disconnect', '$default', 'subscribe', 'unsubscribe', 'message', 'ping']);
      for (const route of routes.values()) expect(route.functionId, route.routeKey).to.be.a('string');
      expect(routes.get('$connect')!.authorizer?.functionId).to.equal('AuthorizerFunction');
      expect(model.rules.find((r) => r.functionIds.includes('TelemetryFunction'))).to.not.equal(undefined);
      expect(model.functions.get('TelemetryFunction')!.environment.WEBSOCKET_ENDPOINT).to.match(/^https:\/\/\w{10}\.execute-api\.us-east-1\.amazonaws\.com\/production$/);
    });
  });

  it('finds function names in Lambda ARNs and integration URIs', () => {
    expect(functionNameFromArn('arn:aws:lambda:us-east-1:1:function:f-1')).to.equal('f-1');
    expect(functionNameFromArn('arn:aws:lambda:us-east-1:1:function:f-1:live')).to.equal('f-1');
    expect(functionNameFromArn('arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:f-2/invocations')).to.equal('f-2');
    expect(functionNameFromArn('not-an-arn')).to.equal(undefined);
    expect(localizeApiEndpoints('wss://abc.execute-api.us-east-1.amazonaws.com/prod', 'abc', 'us-east-1', { http: 'http://l', ws: 'ws://l' })).to.equal('ws://l/prod');
  });
});
