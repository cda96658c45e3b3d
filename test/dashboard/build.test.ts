import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { type BuildResult, buildDashboard, describeBuild } from '../../dashboard/build.js';

describe('build:dashboard', function () {
  // esbuild is fast, but a cold first run on a busy 2-core machine is not instant.
  this.timeout(30_000);
  let outDir: string;
  let result: BuildResult;

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'dashboard-build-'));
    result = await buildDashboard({ outDir });
  });

  after(() => rm(outDir, { recursive: true, force: true }));

  it('writes an index.html that loads the hashed script and stylesheet it built', async () => {
    const html = await readFile(join(outDir, 'index.html'), 'utf8');

    const script = /<script type="module" src="\.\/(app-[A-Z0-9]{8}\.js)">/.exec(html)?.[1];
    const style = /<link rel="stylesheet" href="\.\/(app-[A-Z0-9]{8}\.css)"/.exec(html)?.[1];
    expect(script, 'script tag').to.be.a('string');
    expect(style, 'stylesheet link').to.be.a('string');
    await access(join(outDir, script!));
    await access(join(outDir, style!));
    expect(html).not.to.include('%APP_');
  });

  it('bundles uPlot and its stylesheet, so the page needs nothing else', async () => {
    const css = await readFile(join(outDir, result.files.find((f) => f.path.endsWith('.css'))!.path), 'utf8');

    expect(css).to.include('.uplot');
    expect(result.files.map((f) => f.path)).to.include('index.html');
  });

  it('reports the JS + CSS bundle size raw and gzipped, and keeps it small', () => {
    const summary = describeBuild(result);

    expect(result.bundle.gzipBytes).to.be.greaterThan(0).and.lessThan(result.bundle.bytes);
    // uPlot is about 22 KB of it, Download CSV's export rule (dashboard/src/charts/csvExport.ts) about 2.5 KB;
    // this is a budget, not a benchmark.
    expect(result.bundle.gzipBytes).to.be.lessThan(64 * 1024);
    expect(summary).to.match(/bundle \(JS \+ CSS\): [\d.]+ KB raw, [\d.]+ KB gzip/);
  });
});
