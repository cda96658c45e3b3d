/** AWS clients, built once per container at module scope and wrapped for tracing. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { traceClient } from './observability.js';

export const createDocumentClient = (endpoint = process.env.DYNAMODB_ENDPOINT || undefined) =>
  DynamoDBDocumentClient.from(traceClient(new DynamoDBClient({ endpoint, maxAttempts: 4 })), {
    marshallOptions: { removeUndefinedValues: true },
  });
