/**
 * npm run build: builds every function exactly as template.yaml's esbuild
 * Metadata says (the settings `sam build` uses), plus the shared layer.
 *
 *   tsx scripts/build.ts                 → dist/functions/<LogicalId>/, dist/layer/
 *   tsx scripts/build.ts layer <outdir>  → the layer only (layers/shared/Makefile calls this for sam build)
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { type FunctionBuild, PROJECT_ROOT, functionBuilds } from './template.js';

export const LAYER_PACKAGE = '@serverless-iot-dashboard/shared';
const CREATE_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** The layer: domain code and its dependencies as one ES module under nodejs/node_modules. */
export const buildLayer = async (outDir: string): Promise<{ file: string; bytes: number }> => {
  const packageDir = join(outDir, 'nodejs', 'node_modules', ...LAYER_PACKAGE.split('/'));
  rmSync(join(outDir, 'nodejs'), { recursive: true, force: true });
  mkdirSync(packageDir, { recursive: true });
  const file = join(packageDir, 'index.mjs');
  await build({
    entryPoints: [join(PROJECT_ROOT, 'layers/shared/src/index.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'es2023',
    minify: true,
    sourcemap: true,
    mainFields: ['module', 'main'],
    banner: { js: CREATE_REQUIRE_BANNER },
    legalComments: 'none',
    logLevel: 'warning',
  });
  writeFileSync(
    join(packageDir, 'package.json'),
    `${JSON.stringify({ name: LAYER_PACKAGE, version: '1.0.0', type: 'module', exports: './index.mjs' }, null, 2)}\n`,
  );
  return { file, bytes: statSync(file).size };
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
    console.log(`layer: ${layer.file} (${(layer.bytes / 1024).toFixed(1)} KiB)`);
    return;
  }
  const dist = join(PROJECT_ROOT, 'dist');
  const layer = await buildLayer(join(dist, 'layer'));
  console.log(`${'SharedLayer'.padEnd(24)} ${(layer.bytes / 1024).toFixed(1).padStart(8)} KiB  ${layer.file}`);
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
