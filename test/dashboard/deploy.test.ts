import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { CloudFrontClient, CreateInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import {
  DeployError,
  cacheControlFor,
  configJson,
  contentTypeFor,
  dashboardOutputs,
  deployDashboard,
  parseArgs,
  uploadOrder,
} from '../../dashboard/deploy.js';

const WS = 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod';
const OUTPUTS: Output[] = [
  { OutputKey: 'WebSocketUrl', OutputValue: WS },
  { OutputKey: 'DashboardBucketName', OutputValue: 'iot-dashboard-site' },
  { OutputKey: 'DashboardUrl', OutputValue: 'https://d111111abcdef8.cloudfront.net' },
  { OutputKey: 'DashboardDistributionId', OutputValue: 'E2QWRUHAPOMQZL' },
  { OutputKey: 'ConnectionsTableName', OutputValue: 'connections' },
];

describe('deploy:dashboard, the pure parts', () => {
  it('picks the WebSocket url, bucket, page url and distribution from the stack outputs', () => {
    expect(dashboardOutputs('iot', OUTPUTS)).to.deep.equal({
      websocketUrl: WS,
      bucketName: 'iot-dashboard-site',
      dashboardUrl: 'https://d111111abcdef8.cloudfront.net',
      distributionId: 'E2QWRUHAPOMQZL',
    });
  });

  it('tells the user to deploy with DashboardHosting=true when the hosting outputs are missing', () => {
    const withoutHosting = OUTPUTS.filter((o) => !o.OutputKey!.startsWith('Dashboard'));

    expect(() => dashboardOutputs('iot', withoutHosting)).to.throw(
      DeployError,
      /stack iot lacks the outputs DashboardBucketName, DashboardUrl, DashboardDistributionId\..*deploy with DashboardHosting=true/,
    );
  });

  it('names the WebSocket url alone when only it is missing', () => {
    const error = (() => {
      try {
        dashboardOutputs('iot', OUTPUTS.filter((o) => o.OutputKey !== 'WebSocketUrl'));
      } catch (e) {
        return e as Error;
      }
    })();

    expect(error?.message).to.equal('stack iot lacks the output WebSocketUrl.');
  });

  it('serves each file with the content type a browser needs', () => {
    expect(contentTypeFor('index.html')).to.equal('text/html; charset=utf-8');
    expect(contentTypeFor('app-HCM3NALG.js')).to.equal('text/javascript; charset=utf-8');
    expect(contentTypeFor('app-NHSHVWL3.css')).to.equal('text/css; charset=utf-8');
    expect(contentTypeFor('config.json')).to.equal('application/json; charset=utf-8');
    expect(contentTypeFor('app-HCM3NALG.js.map')).to.equal('application/json; charset=utf-8');
    expect(contentTypeFor('icons/logo.SVG')).to.equal('image/svg+xml');
    expect(contentTypeFor('LICENSE')).to.equal('application/octet-stream');
  });

  it('caches hashed assets for a year and makes index.html and config.json revalidate', () => {
    expect(cacheControlFor('app-HCM3NALG.js')).to.equal('public, max-age=31536000, immutable');
    expect(cacheControlFor('app-HCM3NALG.js.map')).to.equal('public, max-age=31536000, immutable');
    expect(cacheControlFor('index.html')).to.equal('no-cache');
    expect(cacheControlFor('config.json')).to.equal('no-cache');
    expect(cacheControlFor('app.js')).to.equal('no-cache');
  });

  it('uploads assets before the index.html that names them', () => {
    expect(uploadOrder(['index.html', 'app-B.js', 'app-A.css', 'about.html'])).to.deep.equal(['app-A.css', 'app-B.js', 'about.html', 'index.html']);
  });

  it('writes config.json with the WebSocket url and never a token', () => {
    expect(JSON.parse(configJson({ websocketUrl: WS }))).to.deep.equal({ url: WS });
  });

  it('reads --stack and --region, in either spelling', () => {
    expect(parseArgs(['--stack', 'iot', '--region', 'eu-west-1'])).to.deep.equal({ stack: 'iot', region: 'eu-west-1', skipBuild: false });
    expect(parseArgs(['--stack=iot', '--skip-build'])).to.deep.equal({ stack: 'iot', skipBuild: true });
    expect(() => parseArgs([])).to.throw(DeployError, /usage: npm run deploy:dashboard -- --stack <name>/);
    expect(() => parseArgs(['--stack'])).to.throw(DeployError, /--stack needs a value/);
    expect(() => parseArgs(['--stak', 'iot'])).to.throw(DeployError, /unknown argument --stak/);
  });
});

describe('deploy:dashboard, the whole flow against mocked AWS clients', () => {
  const cfn = mockClient(CloudFormationClient);
  const s3 = mockClient(S3Client);
  const cloudFront = mockClient(CloudFrontClient);
  let dist: string;

  beforeEach(async () => {
    cfn.reset();
    s3.reset();
    cloudFront.reset();
    dist = await mkdtemp(join(tmpdir(), 'dashboard-dist-'));
    await mkdir(join(dist, 'assets'));
    await writeFile(join(dist, 'index.html'), '<!doctype html><script type="module" src="./app-AAAAAAAA.js"></script>');
    await writeFile(join(dist, 'app-AAAAAAAA.js'), 'console.log(1)');
    await writeFile(join(dist, 'assets', 'logo.svg'), '<svg/>');
    await writeFile(join(dist, 'config.json'), '{"url":"ws://127.0.0.1:3001"}'); // a local leftover: never uploaded
    s3.on(PutObjectCommand).resolves({});
    cloudFront.on(CreateInvalidationCommand).resolves({ Invalidation: { Id: 'I2J0I21PCUYOIK', Status: 'InProgress', CreateTime: new Date(), InvalidationBatch: undefined } });
  });

  afterEach(() => rm(dist, { recursive: true, force: true }));

  const deploy = () =>
    deployDashboard('iot', {
      cloudFormation: new CloudFormationClient({ region: 'eu-west-1' }),
      s3: new S3Client({ region: 'eu-west-1' }),
      cloudFront: new CloudFrontClient({ region: 'us-east-1' }),
      build: async () => ({ outDir: dist }),
      now: () => 1234,
    });

  it("uploads the page, writes config.json from the stack's outputs and invalidates CloudFront", async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'iot' }).resolves({ Stacks: [{ StackName: 'iot', CreationTime: new Date(), StackStatus: 'UPDATE_COMPLETE', Outputs: OUTPUTS }] });

    const result = await deploy();

    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).to.deep.equal(['app-AAAAAAAA.js', 'assets/logo.svg', 'config.json', 'index.html']);
    expect(puts.every((p) => p.Bucket === 'iot-dashboard-site')).to.equal(true);
    expect(puts.find((p) => p.Key === 'index.html')).to.include({ ContentType: 'text/html; charset=utf-8', CacheControl: 'no-cache' });
    expect(puts.find((p) => p.Key === 'app-AAAAAAAA.js')).to.include({ ContentType: 'text/javascript; charset=utf-8', CacheControl: 'public, max-age=31536000, immutable' });
    expect(JSON.parse(String(puts.find((p) => p.Key === 'config.json')!.Body))).to.deep.equal({ url: WS });
    const invalidation = cloudFront.commandCalls(CreateInvalidationCommand)[0].args[0].input;
    expect(invalidation).to.deep.equal({
      DistributionId: 'E2QWRUHAPOMQZL',
      InvalidationBatch: { CallerReference: 'deploy-dashboard-1234', Paths: { Quantity: 1, Items: ['/*'] } },
    });
    expect(result).to.include({ dashboardUrl: 'https://d111111abcdef8.cloudfront.net', invalidationId: 'I2J0I21PCUYOIK' });
  });

  it("writes where people sign in into config.json for a stack in cognito mode (the hosted domain's OAuth endpoints)", async () => {
    const cognito: Output[] = [
      ...OUTPUTS,
      { OutputKey: 'CognitoIssuer', OutputValue: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC' },
      { OutputKey: 'UserPoolClientId', OutputValue: '5abc' },
      { OutputKey: 'SignInUrl', OutputValue: 'https://acme-iot.auth.eu-west-1.amazoncognito.com' },
    ];
    cfn.on(DescribeStacksCommand, { StackName: 'iot' }).resolves({ Stacks: [{ StackName: 'iot', CreationTime: new Date(), StackStatus: 'UPDATE_COMPLETE', Outputs: cognito }] });

    const result = await deploy();

    const config = JSON.parse(String(s3.commandCalls(PutObjectCommand).find((c) => c.args[0].input.Key === 'config.json')!.args[0].input.Body));
    expect(config).to.deep.equal({
      url: WS,
      auth: {
        issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC',
        clientId: '5abc',
        authorizationEndpoint: 'https://acme-iot.auth.eu-west-1.amazoncognito.com/oauth2/authorize',
        tokenEndpoint: 'https://acme-iot.auth.eu-west-1.amazoncognito.com/oauth2/token',
        revocationEndpoint: 'https://acme-iot.auth.eu-west-1.amazoncognito.com/oauth2/revoke',
        logoutEndpoint: 'https://acme-iot.auth.eu-west-1.amazoncognito.com/logout',
        logout: 'cognito',
        scope: 'openid email profile',
      },
    });
    expect(result.signIn).to.equal(true);
  });

  it('uploads nothing when the stack was deployed without dashboard hosting', async () => {
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'iot', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: OUTPUTS.slice(0, 1) }] });

    const failure = await deploy().then(
      () => undefined,
      (error: Error) => error,
    );

    expect(failure?.message).to.match(/deploy with DashboardHosting=true/);
    expect(s3.commandCalls(PutObjectCommand)).to.have.length(0);
    expect(cloudFront.commandCalls(CreateInvalidationCommand)).to.have.length(0);
  });
});
