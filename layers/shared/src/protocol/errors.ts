/**
 * Named errors. Each carries the wire `code` of its error frame
 * (docs/asyncapi.yaml) and an HTTP status, so one middleware maps any of them to either
 * an error frame (MESSAGE routes) or a status ($connect / $disconnect).
 * `expose` follows the http-errors convention that @middy/http-error-handler reads.
 */
/** Every error frame's `code`, as a list so that test/unit/protocol/contract.test.ts can hold docs/asyncapi.yaml to it. */
export const ERROR_CODES = ['bad_request', 'forbidden', 'not_found', 'payload_too_large', 'unauthorized', 'rate_limited', 'internal'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class FrameError extends Error {
  readonly expose = true;
  constructor(
    readonly code: ErrorCode,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class BadRequest extends FrameError {
  override name = 'BadRequest';
  constructor(message: string) {
    super('bad_request', 400, message);
  }
}

export class Unauthorized extends FrameError {
  override name = 'Unauthorized';
  constructor(message = 'Unauthorized') {
    super('unauthorized', 401, message);
  }
}

export class Forbidden extends FrameError {
  override name = 'Forbidden';
  constructor(message: string) {
    super('forbidden', 403, message);
  }
}

export class NotFound extends FrameError {
  override name = 'NotFound';
  constructor(message: string) {
    super('not_found', 404, message);
  }
}

export class PayloadTooLarge extends FrameError {
  override name = 'PayloadTooLarge';
  constructor(message: string) {
    super('payload_too_large', 413, message);
  }
}

export class RateLimited extends FrameError {
  override name = 'RateLimited';
  constructor(message: string) {
    super('rate_limited', 429, message);
  }
}

export const isFrameError = (error: unknown): error is FrameError => error instanceof FrameError;
