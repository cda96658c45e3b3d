/**
 * The one observability module: logger, tracer and metrics are
 * created once, here, with the service name. Everything else imports them.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import { redactingReplacer } from './redact.js';
import type { Tracing } from './tracing.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'serverless-iot-dashboard';

export const logger = new Logger({
  serviceName,
  jsonReplacerFn: redactingReplacer,
});

/**
 * Tracing is the template's `Tracing` parameter, passed as POWERTOOLS_TRACE_ENABLED
 * (and set to false outside Lambda, where there is no X-Ray daemon). Off, the
 * tracer module is never imported: the X-Ray SDK it carries is most of a
 * function's init time. On, it is loaded before the handler module finishes
 * loading (top-level await), so the first invocation is traced as before.
 */
export const tracingEnabled = (env: NodeJS.ProcessEnv = process.env): boolean => env.POWERTOOLS_TRACE_ENABLED !== 'false';

const tracing: Tracing | undefined = tracingEnabled() ? (await import('./tracing.js')).createTracing(serviceName) : undefined;

/** The Powertools tracer, or undefined when tracing is off. */
export const tracer = tracing?.tracer;

/** The middy middleware that traces each invocation, as a list for `.use()`: empty when tracing is off. */
export const traceHandler = (): MiddlewareObj[] => (tracing ? [tracing.handlerMiddleware()] : []);

/** Wraps an AWS SDK v3 client for X-Ray at module scope; the client itself when tracing is off. */
export const traceClient = <T>(client: T): T => (tracing ? tracing.captureClient(client) : client);

export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ServerlessIotDashboard',
});

export { MetricUnit };

/** The narrow logging surface the domain code needs; tests pass a fake. */
export interface Log {
  debug(message: string, ...extra: unknown[]): void;
  info(message: string, ...extra: unknown[]): void;
  warn(message: string, ...extra: unknown[]): void;
  error(message: string, ...extra: unknown[]): void;
}

/** The narrow metrics surface the domain code needs; tests pass a fake. */
export interface Counter {
  count(name: string, value: number): void;
}

export const metricsCounter = (m: Metrics = metrics): Counter => ({
  count: (name, value) => {
    if (value > 0) m.addMetric(name, MetricUnit.Count, value);
  },
});

export const noopCounter: Counter = { count: () => undefined };
