/**
 * The one middy chain every WebSocket route uses, and the
 * WebSocket glue that @middy/ws-* would provide (not on this registry).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import type { Context } from 'aws-lambda';
import { isFrameError } from '../protocol/errors.js';
import { errorFrame, parseJsonObject, validateRequestId } from '../protocol/frames.js';
import { logger, metrics, traceHandler } from './observability.js';

export interface WsRequestContext {
  routeKey: string;
  eventType: 'CONNECT' | 'DISCONNECT' | 'MESSAGE';
  connectionId: string;
  domainName: string;
  stage: string;
  apiId: string;
  requestTimeEpoch: number;
  messageId?: string;
  requestId?: string;
  authorizer?: Record<string, unknown> | null;
  [key: string]: unknown;
}

export interface WsEvent {
  requestContext: WsRequestContext;
  body?: string | null;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | undefined> | null;
  multiValueHeaders?: Record<string, string[] | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  /** Set by `frameBodyParser` on MESSAGE events: the frame as a JSON object. */
  frame?: Record<string, unknown>;
}

export interface WsResult {
  statusCode: number;
  body?: string;
}

/** Parses a MESSAGE event's body once, so that every route sees a JSON object or a bad_request frame. */
export const frameBodyParser = (): MiddlewareObj<WsEvent, WsResult> => ({
  before: (request) => {
    const { event } = request;
    if (event.requestContext?.eventType === 'MESSAGE') {
      event.frame = parseJsonObject(event.body, event.isBase64Encoded === true);
    }
  },
});

/**
 * Maps errors on MESSAGE routes to an error frame, which the route response
 * returns to the sender. Named errors keep their code; anything else is an
 * `internal` frame and an error log. $connect / $disconnect fall through to
 * @middy/http-error-handler, which turns named errors into their status.
 */
export const errorFrames = (): MiddlewareObj<WsEvent, WsResult> => ({
  onError: (request) => {
    const { error, event } = request;
    if (event.requestContext?.eventType !== 'MESSAGE') {
      if (!isFrameError(error)) logger.error('route failed', { error: error as Error, routeKey: event.requestContext?.routeKey });
      return;
    }
    if (isFrameError(error)) {
      logger.info('rejected a frame', { code: error.code, reason: error.message });
      request.response = { statusCode: error.statusCode, body: JSON.stringify(errorFrame(error.code, error.message)) };
      return;
    }
    logger.error('route failed', { error: error as Error, routeKey: event.requestContext.routeKey });
    request.response = {
      statusCode: 500,
      body: JSON.stringify(errorFrame('internal', 'internal error; please retry')),
    };
  },
});

/** Flushes metrics (EMF) only when a route recorded some: no empty-metrics warning on every invocation. */
export const flushMetrics = (): MiddlewareObj => {
  const flush = () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: flush, onError: flush };
};

/** POWERTOOLS_LOGGER_LOG_EVENT=true logs each event, after the logger's redaction. */
const logEventEnabled = () => process.env.POWERTOOLS_LOGGER_LOG_EVENT === 'true';

/** The chain for every WebSocket route: logger, tracer, metrics, error mapping, frame parsing. */
export const wsRoute = (fn: (event: WsEvent, context: Context) => Promise<WsResult>) =>
  middy<WsEvent, WsResult>()
    // logEvent goes through the logger's redacting replacer: no token or cookie reaches the log.
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: logEventEnabled() }))
    .use(traceHandler())
    .use(flushMetrics())
    .use(httpErrorHandler({ logger: false, fallbackMessage: 'Internal error' }))
    .use(errorFrames())
    .use(frameBodyParser())
    .handler(fn);

/** The chain for non-WebSocket events (the IoT rule, the fan-out worker): errors propagate so Lambda retries. */
export const eventHandler = <TEvent, TResult>(fn: (event: TEvent, context: Context) => Promise<TResult>) =>
  middy<TEvent, TResult>()
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: logEventEnabled() }))
    .use(traceHandler())
    .use(flushMetrics())
    .handler(fn);

export const ok = (frame?: unknown): WsResult =>
  frame === undefined ? { statusCode: 200 } : { statusCode: 200, body: JSON.stringify(frame) };

/** A named error as an error frame that echoes the request's id. */
export const errorReply = (error: unknown, requestId: string | undefined): WsResult => {
  if (!isFrameError(error)) throw error;
  return { statusCode: error.statusCode, body: JSON.stringify({ ...errorFrame(error.code, error.message), ...(requestId === undefined ? {} : { requestId }) }) };
};

/** The requestId of a frame, if it has a valid one (so that even a rejected request's error echoes it). */
export const requestIdOf = (frame: Record<string, unknown> | undefined): string | undefined => {
  try {
    return validateRequestId(frame?.requestId);
  } catch {
    return undefined;
  }
};
