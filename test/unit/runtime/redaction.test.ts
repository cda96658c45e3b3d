import { expect } from 'chai';
import sinon from 'sinon';
import { logger, redact, redactString, wsRoute } from '@serverless-iot-dashboard/shared';
import { lambdaContext, loadEvent } from '../../helpers/events.js';

/** Runs `fn` while capturing everything written to stdout and stderr. */
const captureOutput = async (fn: () => Promise<unknown>): Promise<string> => {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => (chunks.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (chunks.push(String(c)), true)) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return chunks.join('');
};

describe('log redaction', () => {
  const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA';
  let previousLevel: string;

  beforeEach(() => {
    previousLevel = logger.getLevelName();
    // Every invocation after a container's first resets the level to the configured one (SILENT in
    // the specs) through the sample-rate refresh; the handler specs share this logger and invoke first.
    sinon.stub(logger, 'refreshSampleRateCalculation');
    logger.setLogLevel('DEBUG');
    process.env.POWERTOOLS_LOGGER_LOG_EVENT = 'true';
  });

  afterEach(() => {
    sinon.restore();
    logger.setLogLevel(previousLevel as never);
    delete process.env.POWERTOOLS_LOGGER_LOG_EVENT;
  });

  it('keeps the token, Authorization and Cookie out of every log line, event logging included', async () => {
    const event = loadEvent('connect');
    event.queryStringParameters.token = token;
    event.multiValueQueryStringParameters.token = [token];
    event.headers.Authorization = 'Bearer super-secret-bearer';
    event.headers.Cookie = 'session=super-secret-cookie';
    event.requestContext.path = `/production?token=${token}`;
    const handler = wsRoute(async (e) => {
      logger.info('handling', { event: e, url: `wss://x/production?token=${token}&devices=a` });
      return { statusCode: 200 };
    });

    const output = await captureOutput(() => handler(event, lambdaContext()));

    expect(output).to.include('"routeKey":"$connect"'); // the event was logged...
    expect(output).to.include('[REDACTED]'); // ...with its secrets replaced
    expect(output).to.not.include('c2lnbmF0dXJlLXNlY3JldA');
    expect(output).to.not.include('super-secret-bearer');
    expect(output).to.not.include('super-secret-cookie');
  });

  it('redacts JWTs and token parameters inside free text', () => {
    expect(redactString(`GET /?token=abc123&x=1 ${token}`)).to.equal('GET /?token=[REDACTED]&x=1 [REDACTED]');
    expect(redact({ headers: { authorization: 'Basic x' } })).to.deep.equal({ headers: { authorization: '[REDACTED]' } });
  });
});
