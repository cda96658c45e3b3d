/**
 * X-Ray tracing through Powertools Tracer: the only module that imports it.
 * observability.ts loads this module only when tracing is on, because the
 * tracer pulls in the X-Ray SDK (about 290 KB of source) and every function
 * would parse it at init even when nothing is traced.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { MiddlewareObj } from '@middy/core';

export const createTracing = (serviceName: string) => {
  const tracer = new Tracer({ serviceName });
  return {
    tracer,
    handlerMiddleware: (): MiddlewareObj => captureLambdaHandler(tracer, { captureResponse: false }),
    captureClient: <T>(client: T): T => tracer.captureAWSv3Client(client),
  };
};

export type Tracing = ReturnType<typeof createTracing>;
