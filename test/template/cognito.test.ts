/** AuthMode=cognito: the user pool, its hosted domain and the dashboard's public client, and nothing of it in the other modes. */
import { expect } from 'chai';
import { type IntrinsicContext, evaluateCondition, resolveIntrinsics } from '../../local/template/intrinsics.js';
import { deployContext } from '../helpers/deployedTemplate.js';
import { buildStackModel } from '../../local/template/stackModel.js';
import { type Resource, readTemplate } from '../../scripts/template.js';

const template = readTemplate();

/** The template as CloudFormation would see it with these parameters: a resource's Ref is its logical id, GetAtt `Id.Attr`. */
const deployedWith = (overrides: Record<string, string>) => {
  const { ctx, exists } = deployContext(template, overrides);
  const resources = Object.entries(template.Resources).filter(([, r]) => exists(r));
  return {
    resources: new Map(resources),
    types: resources.map(([, r]) => r.Type),
    properties: (id: string) => resolveIntrinsics((template.Resources[id] as Resource).Properties, ctx) as Record<string, any>,
    outputs: Object.entries((template.Outputs ?? {}) as Record<string, { Condition?: string }>).filter(([, o]) => exists(o)).map(([name]) => name),
  };
};

const COGNITO = { AuthMode: 'cognito', CognitoDomainPrefix: 'acme-iot' };

describe('template.yaml: AuthMode=cognito', () => {
  for (const mode of ['secret', 'oidc']) {
    it(`creates no Cognito resource and no sign-in output with AuthMode=${mode}`, () => {
      const stack = deployedWith({ AuthMode: mode, DashboardHosting: 'true' });
      expect(stack.types.filter((t) => t.startsWith('AWS::Cognito::'))).to.deep.equal([]);
      expect(stack.outputs).to.not.include.members(['UserPoolId']);
      expect(stack.outputs.filter((o) => ['UserPoolClientId', 'CognitoIssuer', 'SignInUrl'].includes(o))).to.deep.equal([]);
    });
  }

  it('creates a user pool, its hosted domain with the prefix parameter, the dashboard client and the scope groups', () => {
    const stack = deployedWith(COGNITO);
    const cognito = [...stack.resources].filter(([, r]) => r.Type.startsWith('AWS::Cognito::')).map(([id, r]) => `${id}:${r.Type}`);
    expect(cognito.sort()).to.deep.equal(
      [
        'UserPool:AWS::Cognito::UserPool',
        'UserPoolDomain:AWS::Cognito::UserPoolDomain',
        'UserPoolClient:AWS::Cognito::UserPoolClient',
        'AllDevicesGroup:AWS::Cognito::UserPoolGroup',
        'PublishGroup:AWS::Cognito::UserPoolGroup',
      ].sort(),
    );
    expect(stack.properties('UserPoolDomain')).to.deep.include({ Domain: 'acme-iot', UserPoolId: 'UserPool' });
    expect(stack.properties('AllDevicesGroup').GroupName).to.equal('devices:*');
    expect(stack.properties('PublishGroup').GroupName).to.equal('publish');
    expect(stack.outputs).to.include.members(['UserPoolId', 'UserPoolClientId', 'CognitoIssuer', 'SignInUrl']);
  });

  it('makes the dashboard a public client: code flow with PKCE, no secret, refresh tokens on, revocable', () => {
    const client = deployedWith(COGNITO).properties('UserPoolClient');
    expect(client).to.include({ GenerateSecret: false, AllowedOAuthFlowsUserPoolClient: true, EnableTokenRevocation: true, PreventUserExistenceErrors: 'ENABLED' });
    expect(client.AllowedOAuthFlows).to.deep.equal(['code']);
    expect(client.AllowedOAuthScopes).to.include('openid');
    expect(client.ExplicitAuthFlows).to.include('ALLOW_REFRESH_TOKEN_AUTH');
    expect(client.ExplicitAuthFlows).to.not.include('ALLOW_USER_PASSWORD_AUTH');
    expect(client.SupportedIdentityProviders).to.deep.equal(['COGNITO']);
  });

  it('sends people back to the CloudFront URL when the stack hosts the dashboard, and to DashboardUrl when it does not', () => {
    const hosted = deployedWith({ ...COGNITO, DashboardHosting: 'true' }).properties('UserPoolClient');
    expect(hosted.CallbackURLs).to.deep.equal(['https://DashboardDistribution.DomainName/']);
    expect(hosted.LogoutURLs).to.deep.equal(['https://DashboardDistribution.DomainName/']);
    const elsewhere = deployedWith({ ...COGNITO, DashboardHosting: 'false', DashboardUrl: 'https://iot.example.com/' }).properties('UserPoolClient');
    expect(elsewhere.CallbackURLs).to.deep.equal(['https://iot.example.com/']);
    expect(elsewhere.LogoutURLs).to.deep.equal(['https://iot.example.com/']);
    // http://localhost:3000/ only with AllowLocalhostSignIn=true: test/template/deployPath.test.ts.
  });

  it("points the authorizer at the pool's issuer and JWKS and at the client's id, and at the parameters otherwise", () => {
    const env = (overrides: Record<string, string>) => buildStackModel({ parameterOverrides: overrides }).functions.get('AuthorizerFunction')!.environment;
    const cognito = env(COGNITO);
    expect(cognito).to.include({
      AUTH_MODE: 'cognito',
      TOKEN_ISSUER: 'https://cognito-idp.us-east-1.amazonaws.com/UserPool',
      JWKS_URL: 'https://cognito-idp.us-east-1.amazonaws.com/UserPool/.well-known/jwks.json',
      TOKEN_AUDIENCE: 'UserPoolClient',
    });
    const oidc = env({ AuthMode: 'oidc', JwksUrl: 'https://idp.example.com/jwks', TokenIssuer: 'https://idp.example.com', TokenAudience: 'dash' });
    expect(oidc).to.include({ AUTH_MODE: 'oidc', JWKS_URL: 'https://idp.example.com/jwks', TOKEN_ISSUER: 'https://idp.example.com', TOKEN_AUDIENCE: 'dash' });
  });

  it('refuses AuthMode=cognito without a domain prefix (a template rule), and allows only a valid prefix', () => {
    const rules = (template as unknown as { Rules: Record<string, { RuleCondition: unknown; Assertions: { Assert: unknown }[] }> }).Rules;
    const rule = rules.CognitoNeedsDomainPrefix!;
    const check = (overrides: Record<string, string>) => {
      const parameters = { ...Object.fromEntries(Object.entries(template.Parameters ?? {}).map(([n, s]) => [n, String(s.Default ?? '')])), ...overrides };
      const ctx = { parameters, pseudo: {}, condition: () => false, ref: () => undefined, getAtt: () => undefined } as IntrinsicContext;
      return !evaluateCondition(rule.RuleCondition, ctx) || rule.Assertions.every((a) => evaluateCondition(a.Assert, ctx));
    };
    expect(check({ AuthMode: 'cognito', CognitoDomainPrefix: '' })).to.equal(false);
    expect(check({ AuthMode: 'cognito', CognitoDomainPrefix: 'acme-iot' })).to.equal(true);
    expect(check({ AuthMode: 'secret', CognitoDomainPrefix: '' })).to.equal(true);
    const pattern = new RegExp((template.Parameters!.CognitoDomainPrefix as unknown as { AllowedPattern: string }).AllowedPattern);
    expect(['acme-iot', '', 'a1'].every((p) => pattern.test(p))).to.equal(true);
    expect(['Acme', '-iot', 'iot-', 'a_b'].some((p) => pattern.test(p))).to.equal(false);
  });
});
