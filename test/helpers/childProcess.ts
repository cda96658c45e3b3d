/** Runs a project script (through tsx) as a child process and reads its output line by line, with bounded waits. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/template.js';

export interface ScriptProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** The first stdout line matching, waiting at most `timeoutMs`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM now, SIGKILL if still running after `graceMs`. Only this child, by its pid. */
  kill(graceMs?: number): Promise<void>;
}

export const runScript = (script: string, args: string[] = [], env: Record<string, string> = {}): ScriptProcess => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, script), ...args], {
    cwd: PROJECT_ROOT,
    // Scripts and tests use today's token mode (npm start's default is LOCAL_AUTH=oidc, sign-in).
    env: { ...process.env, NO_COLOR: '1', LOCAL_AUTH: 'token', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  for (const [stream, lines] of [
    [child.stdout!, stdout],
    [child.stderr!, stderr],
  ] as const) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
      for (const wake of waiters) wake();
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const wake of waiters) wake();
    }),
  );
  let done = false;
  void exited.then(() => (done = true));

  return {
    child,
    stdout,
    stderr,
    exited,
    line: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = stdout.find((l) => pattern.test(l));
          if (found !== undefined) {
            cleanup();
            resolve(found);
          } else if (done) {
            cleanup();
            reject(new Error(`${script} exited before printing ${pattern}; stdout: ${stdout.join('\n')}\nstderr: ${stderr.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${script} printed no ${pattern} within ${timeoutMs} ms; stdout: ${stdout.join('\n')}\nstderr: ${stderr.join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    async kill(graceMs = 5000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
};
