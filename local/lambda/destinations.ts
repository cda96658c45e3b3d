/**
 * Lambda's destinations for asynchronous invocation: when an event has failed
 * every attempt, Lambda sends an invocation record to the OnFailure
 * destination (here: an SQS queue, which the stack passes in).
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
 */
import { randomUUID } from 'node:crypto';
import type { AsyncOutcome } from './asyncInvoke.js';
import { FunctionError } from './functionHost.js';

/** The record Lambda sends to a destination, as its documentation shows it. */
export interface InvocationRecord {
  version: '1.0';
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetriesExhausted' | 'EventAgeExceeded';
    approximateInvokeCount: number;
  };
  requestPayload: unknown;
  responseContext: { statusCode: number; executedVersion: string; functionError: string };
  responsePayload: { errorType: string; errorMessage: string; trace?: string[] };
}

export const invocationRecord = ({
  functionArn,
  event,
  outcome,
  now = Date.now,
  requestId = randomUUID(),
}: {
  functionArn: string;
  event: unknown;
  outcome: AsyncOutcome;
  now?: () => number;
  requestId?: string;
}): InvocationRecord => {
  const error = outcome.error;
  const payload =
    error instanceof FunctionError ? error.toJSON() : { errorType: error?.name ?? 'Error', errorMessage: error?.message ?? 'unknown error', trace: [] as string[] };
  return {
    version: '1.0',
    timestamp: new Date(now()).toISOString(),
    requestContext: { requestId, functionArn: `${functionArn}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: outcome.attempts },
    requestPayload: event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: payload,
  };
};
