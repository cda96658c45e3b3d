/**
 * `npm start` writes where its services live to .local-stack.json in the
 * project root, so that `npm run invoke`, `npm run token` (which reads
 * `devSecret`) and any other tool can use the running stack. The file is
 * removed on stop; a file left by a process that no longer runs is ignored.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/template.js';

/** LOCAL_STACK_STATE_FILE moves it (tests use a temporary file, so a developer's running stack is left alone). */
export const STATE_FILE = process.env.LOCAL_STACK_STATE_FILE || join(PROJECT_ROOT, '.local-stack.json');

export interface StackState {
  pid: number;
  startedAt: string;
  urls: Record<string, string>;
  /** What the functions use (127.0.0.1, never a wildcard address). */
  endpoints: { dynamodb: string; management: string; websocket: string; mqtt: string; lambda?: string; sqs?: string };
  /** The template's SQS queues by logical id, on the local SQS endpoint (npm run redrive reads DeadLetterQueue). */
  queues?: Record<string, string>;
  tableName: string;
  tables: Record<string, string>;
  devSecret?: string;
  devToken?: string;
  /** LOCAL_AUTH=oidc: the embedded provider's issuer (there is no development secret then). */
  oidcIssuer?: string;
}

export const writeStackState = (state: StackState, file = STATE_FILE): void => {
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
};

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The running stack's state, or undefined when none runs. */
export const readStackState = (file = STATE_FILE): StackState | undefined => {
  let state: StackState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as StackState;
  } catch {
    return undefined;
  }
  return typeof state.pid === 'number' && isRunning(state.pid) ? state : undefined;
};

/** Removes the file if this process wrote it. */
export const removeStackState = (pid = process.pid, file = STATE_FILE): void => {
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as StackState;
    if (state.pid === pid) rmSync(file, { force: true });
  } catch {
    // Nothing to remove.
  }
};
