/**
 * API Gateway's route throttling, locally: a token bucket of `burstLimit` tokens refilled at `rateLimit` a second
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html). A request that
 * finds no token is answered 429 before anything runs. No limit given: nothing is throttled.
 */
export interface Throttle {
  /** Takes a token; false when the bucket is empty (the request is throttled). */
  take(): boolean;
}

export const tokenBucket = (limit: { rateLimit: number; burstLimit: number } | undefined, now: () => number = () => performance.now()): Throttle => {
  if (!limit) return { take: () => true };
  const capacity = Math.max(0, limit.burstLimit);
  const perMs = Math.max(0, limit.rateLimit) / 1000;
  let tokens = capacity;
  let at = now();
  return {
    take() {
      const t = now();
      tokens = Math.min(capacity, tokens + (t - at) * perMs);
      at = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
};
