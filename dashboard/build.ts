/**
 * `npm run build:dashboard`: bundles the page into dashboard/dist with esbuild
 * and prints the bundle size. Asset names carry a content hash, so a CDN can
 * cache them forever while index.html (and config.json) stay uncached.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export const DASHBOARD_DIR = dirname(fileURLToPath(import.meta.url));
export const DIST_DIR = join(DASHBOARD_DIR, 'dist');

export interface BuiltFile {
  /** Path relative to the output directory, with forward slashes. */
  path: string;
  bytes: number;
  gzipBytes: number;
}

export interface BuildResult {
  outDir: string;
  files: BuiltFile[];
  /** JS + CSS the browser downloads (index.html and source maps excluded). */
  bundle: { bytes: number; gzipBytes: number };
}

export interface BuildOptions {
  outDir?: string;
  minify?: boolean;
  sourcemap?: boolean;
}

const gzipSize = (data: Buffer | string): number => gzipSync(data, { level: 9 }).length;

export const buildDashboard = async ({ outDir = DIST_DIR, minify = true, sourcemap = true }: BuildOptions = {}): Promise<BuildResult> => {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });

  const result = await build({
    entryPoints: [
      { in: join(DASHBOARD_DIR, 'src/main.ts'), out: 'app' },
      { in: join(DASHBOARD_DIR, 'src/styles.css'), out: 'app' },
    ],
    outdir: outDir,
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    // Evergreen browsers from the last few years: native ESM, optional chaining, class fields, color-mix.
    target: ['chrome111', 'firefox113', 'safari16.2', 'edge111'],
    minify,
    sourcemap: sourcemap ? 'linked' : false,
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
  });

  const outputs = Object.keys(result.metafile.outputs).map((path) => relative(outDir, path).split('\\').join('/'));
  const js = outputs.find((p) => p.endsWith('.js'));
  const css = outputs.find((p) => p.endsWith('.css'));
  if (!js || !css) throw new Error(`esbuild produced no ${js ? 'CSS' : 'JS'} bundle (outputs: ${outputs.join(', ')})`);

  const template = await readFile(join(DASHBOARD_DIR, 'index.html'), 'utf8');
  const html = template.replace('%APP_JS%', `./${js}`).replace('%APP_CSS%', `./${css}`);
  if (html.includes('%APP_')) throw new Error('index.html has an unreplaced %APP_…% placeholder');
  await writeFile(join(outDir, 'index.html'), html);

  const files: BuiltFile[] = [];
  for (const path of ['index.html', ...outputs].sort()) {
    const data = await readFile(join(outDir, path));
    files.push({ path, bytes: data.length, gzipBytes: gzipSize(data) });
  }
  const shipped = files.filter((f) => f.path === js || f.path === css);
  const bundle = shipped.reduce((sum, f) => ({ bytes: sum.bytes + f.bytes, gzipBytes: sum.gzipBytes + f.gzipBytes }), { bytes: 0, gzipBytes: 0 });
  return { outDir, files, bundle };
};

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

export const describeBuild = ({ outDir, files, bundle }: BuildResult): string => {
  const width = Math.max(...files.map((f) => f.path.length));
  const lines = files
    .filter((f) => !f.path.endsWith('.map'))
    .map((f) => `  ${f.path.padEnd(width)}  ${kb(f.bytes).padStart(9)}  ${kb(f.gzipBytes).padStart(9)} gzip`);
  return [`dashboard built into ${relative(process.cwd(), outDir) || basename(outDir)}/`, ...lines, `  bundle (JS + CSS): ${kb(bundle.bytes)} raw, ${kb(bundle.gzipBytes)} gzip`].join('\n');
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildDashboard()
    .then((result) => console.log(describeBuild(result)))
    .catch((error: Error) => {
      console.error(`dashboard build failed: ${error.message}`);
      process.exit(1);
    });
}
