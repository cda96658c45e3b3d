/**
 * The one observability module (STYLE §4): logger, tracer and metrics are
 * created once, here, with the service name. Everything else imports them.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { redactingReplacer } from './redact.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'serverless-iot-dashboard';

export const logger = new Logger({
  serviceName,
  jsonReplacerFn: redactingReplacer,
});

// Outside Lambda there is no X-Ray daemon: POWERTOOLS_TRACE_ENABLED=false turns the tracer into a no-op.
export const tracer = new Tracer({ serviceName });

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
