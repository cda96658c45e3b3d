/** The events/ fixtures (the same files `sam local invoke -e` uses), cloned so each test may vary them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { PROJECT_ROOT } from '../../scripts/template.js';

const cache = new Map<string, unknown>();

export const loadEvent = <T = any>(name: string): T => {
  if (!cache.has(name)) cache.set(name, JSON.parse(readFileSync(join(PROJECT_ROOT, 'events', `${name}.json`), 'utf8')));
  return structuredClone(cache.get(name)) as T;
};

export const lambdaContext = (functionName = 'test-function'): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
  memoryLimitInMB: '512',
  awsRequestId: `req-${Math.random().toString(36).slice(2)}`,
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: '2026/11/25/[$LATEST]0123456789abcdef',
  getRemainingTimeInMillis: () => 30000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});
