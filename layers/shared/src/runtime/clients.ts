/** AWS clients, built once per container at module scope and wrapped for tracing. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { traceClient } from './observability.js';

export interface DocumentClientOptions {
  /** Adds to the defaults: device data's numbers are stored as sent. */
  allowImpreciseNumbers?: boolean;
  /**
   * Attempts per request, the first included (the SDK's backoff between them). 4 by default: a route
   * answers a waiting client within API Gateway's 29 s. A caller that nobody retries may take more.
   */
  maxAttempts?: number;
}

export const createDocumentClient = (endpoint = process.env.DYNAMODB_ENDPOINT || undefined, { allowImpreciseNumbers, maxAttempts = 4 }: DocumentClientOptions = {}) =>
  DynamoDBDocumentClient.from(traceClient(new DynamoDBClient({ endpoint, maxAttempts })), {
    marshallOptions: { removeUndefinedValues: true, ...(allowImpreciseNumbers ? { allowImpreciseNumbers } : {}) },
  });
