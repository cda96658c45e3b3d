/**
 * Issue 24, the deploy path: parameters and rules that refuse a deploy CloudFormation or a service would fail
 * (or get wrong) half-way, before anything is created. docs/decisions/007-deploy-path-guards.md lists them.
 */
import { expect } from 'chai';
import { evaluateCondition, resolveIntrinsics } from '../../local/template/intrinsics.js';
import { deployContext } from '../helpers/deployedTemplate.js';
import { readTemplate } from '../../scripts/template.js';

const template = readTemplate();
type Parameter = { Default?: unknown; AllowedPattern?: string; ConstraintDescription?: string; Description?: string; AllowedValues?: unknown[] };
type Rule = { RuleCondition?: unknown; Assertions: { Assert: unknown; AssertDescription: string }[] };
const parameter = (name: string) => template.Parameters![name] as Parameter;
const rules = (template as unknown as { Rules: Record<string, Rule> }).Rules;

const defaults = (): Record<string, string> => Object.fromEntries(Object.entries(template.Parameters ?? {}).map(([n, s]) => [n, String(s.Default ?? '')]));

/** The template with these parameters, as CloudFormation sees it: a resource's Ref is its logical id, GetAtt `Id.Attr`. */
const deployedWith = (overrides: Record<string, string>) => {
  const { ctx, parameters, exists } = deployContext(template, overrides);
  return {
    resources: Object.entries(template.Resources).filter(([, r]) => exists(r)).map(([id]) => id),
    outputs: Object.entries((template.Outputs ?? {}) as Record<string, { Condition?: string }>).filter(([, o]) => exists(o)).map(([name]) => name),
    properties: (id: string) => resolveIntrinsics(template.Resources[id]!.Properties, ctx) as Record<string, any>,
    /** The AssertDescription of each rule that refuses these parameters. */
    refusals: () =>
      Object.values(rules).flatMap((rule) =>
        rule.RuleCondition !== undefined && !evaluateCondition(rule.RuleCondition, ctx) ? [] : rule.Assertions.filter((a) => !evaluateCondition(a.Assert, ctx)).map((a) => a.AssertDescription),
      ),
  };
};

/** What CloudFormation does with an AllowedPattern: the whole value must match. */
const allows = (name: string, value: string) => {
  const { AllowedPattern } = parameter(name);
  expect(AllowedPattern, `${name} has an AllowedPattern`).to.be.a('string');
  return new RegExp(`^(?:${AllowedPattern})$`).test(value);
};

const COGNITO = { AuthMode: 'cognito', CognitoDomainPrefix: 'acme-iot' };

describe('template.yaml: the deploy path refuses what would fail or be wrong (issue 24)', () => {
  describe('3: http://localhost:3000/ is an opt-in sign-in URL', () => {
    it('leaves localhost out of the app client by default, hosted or not', () => {
      expect(parameter('AllowLocalhostSignIn')).to.deep.include({ Default: 'false', AllowedValues: ['true', 'false'] });
      const hosted = deployedWith({ ...COGNITO, DashboardHosting: 'true' }).properties('UserPoolClient');
      expect(hosted.CallbackURLs).to.deep.equal(['https://DashboardDistribution.DomainName/']);
      expect(hosted.LogoutURLs).to.deep.equal(['https://DashboardDistribution.DomainName/']);
      const elsewhere = deployedWith({ ...COGNITO, DashboardUrl: 'https://iot.example.com/' }).properties('UserPoolClient');
      expect(elsewhere.CallbackURLs).to.deep.equal(['https://iot.example.com/']);
      expect(elsewhere.LogoutURLs).to.deep.equal(['https://iot.example.com/']);
    });

    it('adds it with AllowLocalhostSignIn=true, alone when there is no other URL', () => {
      const both = deployedWith({ ...COGNITO, DashboardHosting: 'true', AllowLocalhostSignIn: 'true' }).properties('UserPoolClient');
      expect(both.CallbackURLs).to.deep.equal(['https://DashboardDistribution.DomainName/', 'http://localhost:3000/']);
      expect(both.LogoutURLs).to.deep.equal(['https://DashboardDistribution.DomainName/', 'http://localhost:3000/']);
      const local = deployedWith({ ...COGNITO, AllowLocalhostSignIn: 'true' }).properties('UserPoolClient');
      expect(local.CallbackURLs).to.deep.equal(['http://localhost:3000/']);
    });

    it('refuses AuthMode=cognito with no URL to send people back to (a client with no callback URL)', () => {
      expect(deployedWith(COGNITO).refusals().join()).to.match(/somewhere to send people back/);
      expect(deployedWith({ ...COGNITO, DashboardHosting: 'true' }).refusals()).to.deep.equal([]);
      expect(deployedWith({ ...COGNITO, DashboardUrl: 'https://iot.example.com/' }).refusals()).to.deep.equal([]);
      expect(deployedWith({ ...COGNITO, AllowLocalhostSignIn: 'true' }).refusals()).to.deep.equal([]);
      expect(deployedWith({ AuthMode: 'secret' }).refusals()).to.deep.equal([]);
    });
  });

  describe('8: a batching window of 0 only with a batch of 10 or less', () => {
    const coalesced = (batch: string, window: string) => deployedWith({ FanoutMode: 'coalesced', BatchSize: batch, MaximumBatchingWindowInSeconds: window }).refusals();

    it('refuses MaximumBatchingWindowInSeconds=0 with a BatchSize above 10 (Lambda would fail the event source mapping)', () => {
      expect(coalesced('1000', '0').join()).to.match(/BatchSize 10 or less/);
      expect(coalesced('11', '0')).to.have.length(1);
      for (const batch of ['1', '10']) expect(coalesced(batch, '0'), batch).to.deep.equal([]);
      expect(coalesced('1000', '1')).to.deep.equal([]);
      expect(coalesced('10000', '300')).to.deep.equal([]);
      expect(deployedWith({ FanoutMode: 'direct', BatchSize: '1000', MaximumBatchingWindowInSeconds: '0' }).refusals(), 'direct mode has no mapping').to.deep.equal([]);
    });

    it('says so in the parameter, instead of offering 0 to everyone', () => {
      expect(parameter('MaximumBatchingWindowInSeconds').Description).to.match(/0 \(invoke as soon as readings arrive\) only with\s+BatchSize 10 or less/);
    });
  });

  describe('9: the Cognito domain prefix', () => {
    it("refuses a prefix with aws, amazon or cognito in it, as Cognito would, and keeps Cognito's other rules", () => {
      for (const ok of ['', 'acme-iot', 'a1', 'iot-dashboard-2']) expect(allows('CognitoDomainPrefix', ok), ok).to.equal(true);
      for (const bad of ['my-aws-iot', 'aws', 'amazon-iot', 'iotcognito', 'Acme', '-iot', 'iot-', 'a_b', 'a'.repeat(64)]) expect(allows('CognitoDomainPrefix', bad), bad).to.equal(false);
      expect(parameter('CognitoDomainPrefix').ConstraintDescription).to.match(/aws, amazon or cognito/);
    });

    it('gives a working path to a new prefix: CognitoDomain=off drops the domain (and SignInUrl) for one deploy, and says so', () => {
      expect(parameter('CognitoDomain')).to.deep.include({ Default: 'on', AllowedValues: ['on', 'off'] });
      const on = deployedWith(COGNITO);
      expect(on.resources).to.include('UserPoolDomain');
      expect(on.outputs).to.include('SignInUrl');
      const off = deployedWith({ ...COGNITO, CognitoDomain: 'off' });
      expect(off.resources).to.not.include('UserPoolDomain');
      expect(off.outputs).to.not.include('SignInUrl');
      expect(off.resources).to.include.members(['UserPool', 'UserPoolClient', 'AllDevicesGroup', 'PublishGroup']);
      expect(deployedWith({ AuthMode: 'secret', CognitoDomain: 'on' }).resources).to.not.include('UserPoolDomain');
      expect(parameter('CognitoDomainPrefix').Description).to.match(/Changing it on a deployed stack fails/).and.match(/CognitoDomain=off/);
    });
  });

  describe('11: DashboardUrl and AlarmEmail are checked before anything is created', () => {
    it('takes an https:// DashboardUrl ending in a slash (http:// only for localhost), or none', () => {
      for (const ok of ['', 'https://iot.example.com/', 'https://d111111abcdef8.cloudfront.net/', 'https://example.com:8443/iot/', 'http://localhost:3000/', 'http://localhost/']) {
        expect(allows('DashboardUrl', ok), ok).to.equal(true);
      }
      for (const bad of ['http://iot.example.com/', 'https://iot.example.com', 'https://iot.example.com/iot', 'https:///', 'ftp://iot.example.com/', 'https://iot.example.com/?a=b', 'iot.example.com/', 'https://iot example.com/']) {
        expect(allows('DashboardUrl', bad), bad).to.equal(false);
      }
      expect(parameter('DashboardUrl').ConstraintDescription).to.match(/https:\/\/.*slash/);
    });

    it('takes one e-mail address as AlarmEmail, or none', () => {
      for (const ok of ['', 'ops@example.com', 'first.last+iot@sub.example.co.uk']) expect(allows('AlarmEmail', ok), ok).to.equal(true);
      for (const bad of ['ops', 'ops@example', '@example.com', 'ops@@example.com', 'a b@example.com', 'a@example.com,b@example.com', ' ops@example.com']) {
        expect(allows('AlarmEmail', bad), bad).to.equal(false);
      }
      expect(parameter('AlarmEmail').ConstraintDescription).to.match(/e-mail/);
    });
  });

  describe('12: deleting the stack keeps the scope groups with the pool', () => {
    it('retains the user pool and both groups, on delete and on replacement', () => {
      for (const id of ['UserPool', 'AllDevicesGroup', 'PublishGroup']) {
        const resource = template.Resources[id] as { DeletionPolicy?: string; UpdateReplacePolicy?: string };
        expect([resource.DeletionPolicy, resource.UpdateReplacePolicy], id).to.deep.equal(['Retain', 'Retain']);
      }
    });
  });

  describe('14: the sign-in pages are the classic hosted UI, pinned', () => {
    it('sets ManagedLoginVersion 1 on the domain (2, managed login, would need a branding style this template lacks)', () => {
      expect(deployedWith(COGNITO).properties('UserPoolDomain')).to.deep.equal({ Domain: 'acme-iot', UserPoolId: 'UserPool', ManagedLoginVersion: 1 });
      expect(template.Resources.UserPoolDomain!.Properties!.ManagedLoginVersion).to.equal(1);
    });
  });
});
