/**
 * npm run build: builds every function exactly as template.yaml's esbuild
 * Metadata says (the settings `sam build` uses), plus the shared layer.
 *
 *   tsx scripts/build.ts                 → dist/functions/<LogicalId>/, dist/layer/
 *   tsx scripts/build.ts layer <outdir>  → the layer only (layers/shared/Makefile calls this for sam build)
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { type FunctionBuild, PROJECT_ROOT, functionBuilds } from './template.js';

export const LAYER_PACKAGE = '@serverless-iot-dashboard/shared';
const CREATE_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** The layer's entry points: each function imports only the one it needs (`@serverless-iot-dashboard/shared/<entry>`). */
export const LAYER_ENTRIES = ['routes', 'telemetry', 'authorizer', 'alarms'] as const;

/**
 * The layer: domain code and its dependencies as ES modules under
 * nodejs/node_modules, one entry per kind of function with shared chunks,
 * so that the telemetry function's cold start never parses the JWT library.
 */
export const buildLayer = async (outDir: string): Promise<{ dir: string; bytes: number; entries: Record<string, number> }> => {
  const packageDir = join(outDir, 'nodejs', 'node_modules', ...LAYER_PACKAGE.split('/'));
  rmSync(join(outDir, 'nodejs'), { recursive: true, force: true });
  mkdirSync(packageDir, { recursive: true });
  const result = await build({
    entryPoints: Object.fromEntries(LAYER_ENTRIES.map((e) => [e, join(PROJECT_ROOT, `layers/shared/src/entries/${e}.ts`)])),
    outdir: packageDir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'es2023',
    minify: true,
    sourcemap: true,
    mainFields: ['module', 'main'],
    // In Lambda the credentials are always in the environment: skip the SDK's full provider chain.
    alias: { '@aws-sdk/credential-provider-node': join(PROJECT_ROOT, 'layers/shared/src/runtime/lambdaCredentials.ts') },
    banner: { js: CREATE_REQUIRE_BANNER },
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  writeFileSync(
    join(packageDir, 'package.json'),
    `${JSON.stringify(
      { name: LAYER_PACKAGE, version: '1.0.0', type: 'module', exports: Object.fromEntries(LAYER_ENTRIES.map((e) => [`./${e}`, `./${e}.mjs`])) },
      null,
      2,
    )}\n`,
  );
  // What an entry costs to load: its own file plus every chunk it imports, transitively.
  const outputs = result.metafile!.outputs;
  const loadBytes = (file: string, seen = new Set<string>()): number => {
    if (seen.has(file)) return 0;
    seen.add(file);
    const out = outputs[file]!;
    return out.bytes + out.imports.filter((i) => i.kind === 'import-statement' && outputs[i.path]).reduce((n, i) => n + loadBytes(i.path, seen), 0);
  };
  const entries: Record<string, number> = {};
  for (const [file] of Object.entries(outputs)) {
    const name = basename(file, '.mjs');
    if ((LAYER_ENTRIES as readonly string[]).includes(name) && dirname(file) === relative(process.cwd(), packageDir)) entries[name] = loadBytes(file);
  }
  const bytes = Object.entries(outputs).filter(([f]) => f.endsWith('.mjs')).reduce((n, [, o]) => n + o.bytes, 0);
  return { dir: packageDir, bytes, entries };
};

/** esbuild options for one function, translated from its template Metadata. */
export const functionBuildOptions = (fn: FunctionBuild, outDir: string): BuildOptions => ({
  entryPoints: fn.entryPoints.map((e) => join(PROJECT_ROOT, fn.codeUri, e)),
  outdir: outDir,
  bundle: true,
  platform: 'node',
  format: fn.format,
  target: fn.target,
  minify: fn.minify,
  sourcemap: fn.sourcemap,
  outExtension: fn.outExtension,
  external: fn.external,
  banner: fn.banner,
  logLevel: 'warning',
});

export const buildFunction = async (fn: FunctionBuild, outDir: string) => {
  rmSync(outDir, { recursive: true, force: true });
  await build(functionBuildOptions(fn, outDir));
  const ext = fn.outExtension['.js'] ?? '.js';
  const file = join(outDir, `${fn.handler.split('.')[0]}${ext}`);
  return { logicalId: fn.logicalId, file, bytes: statSync(file).size };
};

const main = async () => {
  const [mode, target] = process.argv.slice(2);
  if (mode === 'layer') {
    if (!target) throw new Error('usage: build.ts layer <output directory>');
    const layer = await buildLayer(resolve(target));
    console.log(`layer: ${layer.dir} (${(layer.bytes / 1024).toFixed(1)} KiB)`);
    return;
  }
  const dist = join(PROJECT_ROOT, 'dist');
  const layer = await buildLayer(join(dist, 'layer'));
  console.log(`${'SharedLayer'.padEnd(24)} ${(layer.bytes / 1024).toFixed(1).padStart(8)} KiB  ${layer.dir}`);
  for (const [entry, bytes] of Object.entries(layer.entries)) {
    console.log(`${`  shared/${entry}`.padEnd(24)} ${(bytes / 1024).toFixed(1).padStart(8)} KiB  loaded by its functions`);
  }
  for (const fn of functionBuilds()) {
    const out = await buildFunction(fn, join(dist, 'functions', fn.logicalId));
    console.log(`${fn.logicalId.padEnd(24)} ${(out.bytes / 1024).toFixed(1).padStart(8)} KiB  ${out.file}`);
  }
};

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(`build failed: ${(error as Error).message}`);
    process.exit(1);
  });
}
