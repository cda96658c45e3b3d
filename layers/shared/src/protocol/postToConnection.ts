/**
 * The API Gateway management API's side of the contract: how a frame reaches one
 * connection, and what its errors mean.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html
 */

/** Sends one frame to one connection (POST /@connections/{id}); throws the API's error. */
export type PostToConnection = (connectionId: string, body: string) => Promise<void>;

export type PostOutcome = 'delivered' | 'gone' | 'retry' | 'failed';

/** The HTTP status of an SDK v3 error ($metadata) or of a raw poster's error (statusCode). */
export const httpStatusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode ??
  (error as { statusCode?: number })?.statusCode;

const RETRYABLE_NAMES = new Set([
  'LimitExceededException',
  'TooManyRequestsException',
  'ThrottlingException',
  'InternalServerError',
  'InternalServerErrorException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** GoneException is detected by name: SDK v3 errors have no `statusCode` (the original design's bug). */
export const classifyPostError = (error: unknown): Exclude<PostOutcome, 'delivered'> => {
  const name = (error as Error)?.name;
  const status = httpStatusOf(error);
  if (name === 'GoneException' || status === 410) return 'gone';
  if (RETRYABLE_NAMES.has(name) || status === 429 || (status !== undefined && status >= 500)) return 'retry';
  if (RETRYABLE_CODES.has((error as { code?: string })?.code ?? '')) return 'retry';
  return 'failed';
};

