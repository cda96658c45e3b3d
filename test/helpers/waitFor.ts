/**
 * Polls `check` until it returns a truthy value, at most `timeoutMs` (default 15 s: an upper bound that a loaded
 * CI host may need, never a wait a passing spec sits out). Bounded in time and in attempts.
 */
export const waitFor = async <T>(
  check: () => T | Promise<T>,
  { timeoutMs = 15_000, intervalMs = 25, message = 'condition' }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> => {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (let attempt = 0; attempt < Math.ceil(timeoutMs / intervalMs) + 1; attempt++) {
    last = await check();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${message} (last: ${JSON.stringify(last)})`);
};

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
