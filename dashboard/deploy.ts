/**
 * `npm run deploy:dashboard -- --stack <name> [--region <region>] [--skip-build]`
 *
 * Publishes the page to the stack's optional hosting (template parameter
 * DashboardHosting=true: an S3 bucket behind CloudFront): builds it, uploads
 * dashboard/dist with content types and cache headers, writes config.json with
 * the stack's WebSocket URL, invalidates CloudFront, and prints the page's URL.
 *
 * The AWS calls take their clients as arguments (STYLE §2), so tests run the
 * whole flow against aws-sdk-client-mock; the decisions (which outputs, which
 * content type, which cache policy) are plain functions.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { CloudFrontClient, CreateInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type BuildResult, buildDashboard, describeBuild } from './build.js';
import { cognitoSignIn } from './cognitoSignIn.js';
import type { SignInConfig } from './src/signIn.js';

export interface DashboardOutputs {
  websocketUrl: string;
  bucketName: string;
  dashboardUrl: string;
  distributionId: string;
}

const OUTPUT_KEYS: Record<keyof DashboardOutputs, string> = {
  websocketUrl: 'WebSocketUrl',
  bucketName: 'DashboardBucketName',
  dashboardUrl: 'DashboardUrl',
  distributionId: 'DashboardDistributionId',
};

export class DeployError extends Error {
  override name = 'DeployError';
}

/** Picks the outputs the deploy needs, or explains how to get them. */
export const dashboardOutputs = (stackName: string, outputs: readonly Output[] | undefined): DashboardOutputs => {
  const byKey = new Map((outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const missing = Object.values(OUTPUT_KEYS).filter((key) => !byKey.get(key));
  if (missing.length > 0) {
    const hostingOnly = missing.filter((key) => key !== OUTPUT_KEYS.websocketUrl);
    const hint =
      hostingOnly.length > 0
        ? ` The dashboard hosting is optional: deploy with DashboardHosting=true (sam deploy --parameter-overrides DashboardHosting=true) to create the bucket and CloudFront distribution.`
        : '';
    throw new DeployError(`stack ${stackName} lacks the output${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.${hint}`);
  }
  return {
    websocketUrl: byKey.get(OUTPUT_KEYS.websocketUrl) as string,
    bucketName: byKey.get(OUTPUT_KEYS.bucketName) as string,
    dashboardUrl: byKey.get(OUTPUT_KEYS.dashboardUrl) as string,
    distributionId: byKey.get(OUTPUT_KEYS.distributionId) as string,
  };
};

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json; charset=utf-8',
  map: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  webp: 'image/webp',
  woff2: 'font/woff2',
};

/** The Content-Type S3 serves a file with (S3 otherwise defaults to binary/octet-stream, and browsers refuse such scripts). */
export const contentTypeFor = (path: string): string => {
  const match = /\.([A-Za-z0-9]+)$/.exec(path);
  return (match && CONTENT_TYPES[match[1].toLowerCase()]) ?? 'application/octet-stream';
};

// esbuild's entryNames '[name]-[hash]': 8 characters of base32.
const HASHED = /-[A-Z0-9]{8}\.[a-z0-9]+(\.map)?$/;

/**
 * Hashed assets never change under their name: cache them for a year. Everything
 * else (index.html, config.json) must be revalidated, or a deploy would not show.
 */
export const cacheControlFor = (path: string): string => (HASHED.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');

/**
 * Upload order: assets before the index.html that names them, so a visitor
 * mid-deploy never loads a page whose scripts are not there yet.
 */
export const uploadOrder = (paths: readonly string[]): string[] => {
  const rank = (p: string) => (p === 'index.html' ? 2 : p.endsWith('.html') ? 1 : 0);
  return [...paths].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
};

/** config.json as the page reads it (dashboard/src/config.ts). The token is never written: it is per user; AuthMode=cognito adds where people sign in. */
export const configJson = (outputs: Pick<DashboardOutputs, 'websocketUrl'>, auth?: SignInConfig): string =>
  `${JSON.stringify({ url: outputs.websocketUrl, ...(auth ? { auth } : {}) }, null, 2)}\n`;

export interface DeployArgs {
  stack: string;
  region?: string;
  skipBuild: boolean;
}

export const parseArgs = (argv: readonly string[]): DeployArgs => {
  let stack: string | undefined;
  let region: string | undefined;
  let skipBuild = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v.startsWith('--')) throw new DeployError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--stack' || flag === '-s') stack = value();
    else if (flag === '--region' || flag === '-r') region = value();
    else if (flag === '--skip-build') skipBuild = true;
    else throw new DeployError(`unknown argument ${arg}`);
  }
  if (!stack) throw new DeployError('usage: npm run deploy:dashboard -- --stack <name> [--region <region>] [--skip-build]');
  return { stack, ...(region ? { region } : {}), skipBuild };
};

export const listFiles = async (dir: string): Promise<string[]> => {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split('\\').join('/'));
};

export interface DeployDeps {
  cloudFormation: CloudFormationClient;
  s3: S3Client;
  cloudFront: CloudFrontClient;
  /** Produces dashboard/dist (or returns where an existing build is). */
  build: () => Promise<Pick<BuildResult, 'outDir'>>;
  log?: (line: string) => void;
  now?: () => number;
}

export interface DeployResult extends DashboardOutputs {
  uploaded: string[];
  /** AuthMode=cognito: the page signs people in. */
  signIn: boolean;
  invalidationId?: string;
}

export const deployDashboard = async (stackName: string, { cloudFormation, s3, cloudFront, build, log = () => {}, now = Date.now }: DeployDeps): Promise<DeployResult> => {
  const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
  const outputs = dashboardOutputs(stackName, Stacks?.[0]?.Outputs);
  const auth = cognitoSignIn(Stacks?.[0]?.Outputs);

  const { outDir } = await build();
  const files = uploadOrder((await listFiles(outDir)).filter((p) => p !== 'config.json'));
  if (!files.includes('index.html')) throw new DeployError(`${outDir} has no index.html: run npm run build:dashboard`);

  const uploaded: string[] = [];
  const put = async (key: string, body: Buffer | string) => {
    await s3.send(
      new PutObjectCommand({ Bucket: outputs.bucketName, Key: key, Body: body, ContentType: contentTypeFor(key), CacheControl: cacheControlFor(key) }),
    );
    uploaded.push(key);
    log(`  uploaded s3://${outputs.bucketName}/${key}`);
  };
  const [assets, pages] = [files.filter((p) => !p.endsWith('.html')), files.filter((p) => p.endsWith('.html'))];
  for (const key of assets) await put(key, await readFile(join(outDir, key)));
  await put('config.json', configJson(outputs, auth));
  for (const key of pages) await put(key, await readFile(join(outDir, key)));

  const { Invalidation } = await cloudFront.send(
    new CreateInvalidationCommand({
      DistributionId: outputs.distributionId,
      // "/*" counts as one path for CloudFront's invalidation pricing.
      InvalidationBatch: { CallerReference: `deploy-dashboard-${now()}`, Paths: { Quantity: 1, Items: ['/*'] } },
    }),
  );
  log(`  invalidated CloudFront ${outputs.distributionId}${Invalidation?.Id ? ` (${Invalidation.Id})` : ''}`);
  return { ...outputs, uploaded, signIn: auth !== undefined, ...(Invalidation?.Id ? { invalidationId: Invalidation.Id } : {}) };
};

const main = async (): Promise<void> => {
  const args = parseArgs(process.argv.slice(2));
  const config = args.region ? { region: args.region } : {};
  const result = await deployDashboard(args.stack, {
    cloudFormation: new CloudFormationClient(config),
    s3: new S3Client(config),
    cloudFront: new CloudFrontClient(config),
    build: async () => {
      if (args.skipBuild) return { outDir: join(import.meta.dirname, 'dist') };
      const built = await buildDashboard();
      console.log(describeBuild(built));
      return built;
    },
    log: (line) => console.log(line),
  });
  console.log(`\ndashboard: ${result.dashboardUrl}`);
  console.log(
    result.signIn
      ? `it connects to ${result.websocketUrl}; people sign in on the page (add them with npm run user -- add <email> --devices ... --stack ${args.stack})`
      : `it connects to ${result.websocketUrl}; with auth on, add ?token=<JWT> (npm run token -- --stack ${args.stack} --sub <you> --devices <ids or '*'>)`,
  );
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: Error) => {
    console.error(`deploy:dashboard failed: ${error.message}`);
    process.exit(1);
  });
}
