/**
 * Cold start: every function of template.yaml built as `sam build` builds it
 * (scripts/build.ts), the layer's node_modules placed above the function the
 * way Lambda's /opt/nodejs/node_modules is reachable, and the median time to
 * import the handler in fresh Node processes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LAYER_PACKAGE, buildFunction, buildLayer } from '../scripts/build.js';
import { functionBuilds } from '../scripts/template.js';
import { median, round } from './stats.js';

const run = promisify(execFile);

export interface ColdStartRow {
  function: string;
  /** The function's bundle plus every layer file its entry loads. */
  bundleBytes: number;
  /** The function's own bundle. */
  functionBytes: number;
  /** The layer entry it imports (`@serverless-iot-dashboard/shared/<entry>`). */
  layerEntry: string;
  /** Median import time, in milliseconds, over `samples` fresh processes. */
  importMs: number;
  /** The fastest of them: what the machine does when nothing else disturbs it. */
  importMsMin: number;
  /** The same with NODE_OPTIONS=--enable-source-maps, which template.yaml's Globals set for every function. */
  importMsWithSourceMaps: number;
  samples: number;
}

/** What a deployed function sees at init, minus anything that would reach AWS. */
const ENV = {
  TABLE_NAME: 'bench',
  HISTORY_TABLE_NAME: 'bench-history',
  DEVICES_TABLE_NAME: 'bench-devices',
  ALARMS_TABLE_NAME: 'bench-alarms',
  DEVICE_ALARM_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:bench-alarms',
  WEBSOCKET_ENDPOINT: 'http://127.0.0.1:9/production',
  AWS_REGION: 'us-east-1',
  AUTH_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bench',
  POWERTOOLS_TRACE_ENABLED: 'false',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/** One fresh process: the time `import()` of the handler takes, as the process itself measures it. */
const importOnce = async (file: string, cwd: string, nodeOptions?: string): Promise<number> => {
  const probe = `const t=performance.now();import(${JSON.stringify(file)}).then((m)=>{if(typeof m.handler!=='function')throw new Error('no handler export');process.stdout.write(String(performance.now()-t))})`;
  const { stdout } = await run(process.execPath, ['-e', probe], {
    cwd,
    timeout: 30_000,
    env: { PATH: process.env.PATH, ...ENV, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) },
  });
  const ms = Number(stdout);
  if (!Number.isFinite(ms)) throw new Error(`import of ${file} printed ${JSON.stringify(stdout)}`);
  return ms;
};

export const runColdStart = async ({ samples, progress }: { samples: number; progress: (line: string) => void }): Promise<ColdStartRow[]> => {
  const dir = mkdtempSync(join(tmpdir(), 'sid-bench-cold-'));
  try {
    const layer = await buildLayer(join(dir, 'layer'));
    symlinkSync(join(dir, 'layer', 'nodejs', 'node_modules'), join(dir, 'node_modules'));
    const entryPattern = new RegExp(`${LAYER_PACKAGE.replace('/', '\\/')}\\/([\\w-]+)`);
    const rows: ColdStartRow[] = [];
    for (const fn of functionBuilds()) {
      const out = await buildFunction(fn, join(dir, 'functions', fn.logicalId));
      const layerEntry = entryPattern.exec(readFileSync(out.file, 'utf8'))?.[1] ?? '';
      const plain: number[] = [];
      const withMaps: number[] = [];
      // Alternate the two settings, so machine noise falls on both alike.
      for (let i = 0; i < samples; i++) {
        plain.push(await importOnce(out.file, dir));
        withMaps.push(await importOnce(out.file, dir, '--enable-source-maps'));
      }
      const row: ColdStartRow = {
        function: fn.logicalId,
        bundleBytes: out.bytes + (layer.entries[layerEntry] ?? 0),
        functionBytes: out.bytes,
        layerEntry,
        importMs: round(median(plain)),
        importMsMin: round(Math.min(...plain)),
        importMsWithSourceMaps: round(median(withMaps)),
        samples,
      };
      rows.push(row);
      progress(`[coldStart] ${fn.logicalId}: ${row.importMs} ms (min ${row.importMsMin}; ${row.importMsWithSourceMaps} ms with source maps), ${(row.bundleBytes / 1024).toFixed(1)} KiB`);
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
