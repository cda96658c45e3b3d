/** AWS clients, built once per container at module scope and wrapped for tracing. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { traceClient } from './observability.js';

/** `marshallOptions` add to the defaults: `allowImpreciseNumbers` for device data, whose numbers DynamoDB stores as sent. */
export const createDocumentClient = (endpoint = process.env.DYNAMODB_ENDPOINT || undefined, marshallOptions: { allowImpreciseNumbers?: boolean } = {}) =>
  DynamoDBDocumentClient.from(traceClient(new DynamoDBClient({ endpoint, maxAttempts: 4 })), {
    marshallOptions: { removeUndefinedValues: true, ...marshallOptions },
  });
