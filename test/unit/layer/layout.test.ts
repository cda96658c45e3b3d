/**
 * The shared layer is laid out by capability (layers/shared/src/index.ts lists the folders). These specs keep
 * it so: no import cycle between files, each folder imports only the folders below it, nothing outside the
 * layer reaches into it by a deep path, and no comment cites a document that is not in the repository.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect } from 'chai';
import { PROJECT_ROOT } from '../../../scripts/template.js';

const LAYER = join(PROJECT_ROOT, 'layers/shared/src');
/** Lowest first: a folder may import itself and the folders before it. entries/ re-exports any of them. */
const FOLDER_ORDER = ['protocol', 'runtime', 'auth', 'store', 'presence', 'history', 'recipients', 'alarms', 'connections', 'fanout', 'routes'];

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });

const relativeImports = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) =>
    relative(LAYER, resolve(dirname(file), match[1]!)).replace(/\.js$/, '.ts'),
  );

const graph = new Map(sourceFiles(LAYER).map((file) => [relative(LAYER, file), relativeImports(file)]));
const folderOf = (path: string) => (path.includes('/') ? path.split('/')[0]! : '');

describe('shared layer: the layout by capability', () => {
  it('keeps every module in a capability folder (only index.ts at the top) and lists every folder', () => {
    const top = [...graph.keys()].filter((path) => !path.includes('/'));
    expect(top).to.deep.equal(['index.ts']);
    const folders = new Set([...graph.keys()].map(folderOf).filter((folder) => folder && folder !== 'entries'));
    expect([...folders].sort()).to.deep.equal([...FOLDER_ORDER].sort());
  });

  it('has no import cycle among its files', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).to.deep.equal([]);
  });

  it('lets a folder import only itself and the folders below it, so that no two folders import each other', () => {
    const upward: string[] = [];
    for (const [file, imports] of graph) {
      const own = FOLDER_ORDER.indexOf(folderOf(file));
      if (own < 0) continue;
      for (const target of imports) {
        const theirs = FOLDER_ORDER.indexOf(folderOf(target));
        if (theirs > own || theirs < 0) upward.push(`${file} → ${target}`);
      }
    }
    expect(upward).to.deep.equal([]);
  });

  it('is reached from outside through its package exports only, never by a deep path', () => {
    const outside = ['functions', 'local', 'scripts', 'test', 'bench', 'simulator', 'dashboard/src'].flatMap((dir) => sourceFiles(join(PROJECT_ROOT, dir)));
    const deep = outside.filter((file) => /from\s+['"][^'"]*layers\/shared\/src\//.test(readFileSync(file, 'utf8')));
    expect(deep.map((file) => relative(PROJECT_ROOT, file))).to.deep.equal([]);
  });

  it('cites documents a reader can open: no comment points to a design or style guide outside the repository', () => {
    const roots = ['layers/shared/src', 'functions', 'local', 'scripts', 'test', 'bench', 'simulator', 'dashboard/src'];
    const files = [...roots.flatMap((dir) => sourceFiles(join(PROJECT_ROOT, dir))), join(PROJECT_ROOT, 'template.yaml')];
    const citing = files.filter((file) => /\b(STYLE|DESIGN)(\.md)? ?§/.test(readFileSync(file, 'utf8').replace(/\/\(\\b\(STYLE[^\n]*/g, '')));
    expect(citing.map((file) => relative(PROJECT_ROOT, file))).to.deep.equal([]);
  });
});
