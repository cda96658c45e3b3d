/**
 * local/ is laid out by the AWS service each part stands in for
 * (local/README.md). These specs keep it so: no import cycles, and a service
 * folder reaches another service only through local/stack/.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect } from 'chai';
import { PROJECT_ROOT } from '../../scripts/template.js';

const LOCAL = join(PROJECT_ROOT, 'local');
/** What every service folder may import besides itself: the model it is configured from, and the product's code. */
const SHARED_FOLDERS = ['local/template', 'layers/shared', 'scripts'];

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });

/** Relative imports of one file, as project-relative .ts paths. */
const importsOf = (file: string): string[] => {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(?\s*|new URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) => match[1]!);
  return specs.map((spec) => relative(PROJECT_ROOT, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'));
};

const graph = new Map(sourceFiles(LOCAL).map((file) => [relative(PROJECT_ROOT, file), importsOf(file)]));

/** The folder that ties the services together: it may import any of them. */
const STACK_FOLDER = 'local/stack';

/** local/<service>/..., or undefined for the stack's own folder and the two entry points at the top. */
const serviceOf = (path: string): string | undefined => {
  const parts = path.split('/');
  const folder = parts[0] === 'local' && parts.length > 2 ? `local/${parts[1]}` : undefined;
  return folder === STACK_FOLDER ? undefined : folder;
};

describe('local stack: the layout by service', () => {
  it('has a README in every service folder', () => {
    const folders = new Set([...graph.keys()].map(serviceOf).filter((folder): folder is string => folder !== undefined));
    expect(folders.size).to.be.greaterThan(4);
    for (const folder of folders) expect(() => readFileSync(join(PROJECT_ROOT, folder, 'README.md')), folder).not.to.throw();
  });

  it('keeps only the two commands\' entry points at its top: main.ts (npm start) and invoke.ts (npm run invoke)', () => {
    const top = readdirSync(LOCAL, { withFileTypes: true }).filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => entry.name);
    expect(top.sort()).to.deep.equal(['invoke.ts', 'main.ts']);
  });

  it('has no import cycle among its files', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[][] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file]);
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles.map((cycle) => cycle.join(' → '))).to.deep.equal([]);
  });

  it('lets a service folder import only itself, local/template, the layer and scripts', () => {
    const crossings: string[] = [];
    for (const [file, imports] of graph) {
      const own = serviceOf(file);
      if (!own || own === 'local/template') continue;
      for (const target of imports) {
        const allowed = target.startsWith(`${own}/`) || SHARED_FOLDERS.some((folder) => target.startsWith(`${folder}/`));
        if (!allowed) crossings.push(`${file} → ${target}`);
      }
    }
    expect(crossings).to.deep.equal([]);
  });
});
