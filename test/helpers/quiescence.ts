/**
 * Absence checks that wait on events, not on a sleep: "no late duplicate arrives" is proven once the local
 * stack can deliver nothing more, and every frame it posted before that has reached its client.
 */
import type { TestStack } from './localStack.js';
import { waitFor } from './waitFor.js';
import type { TestClient } from './wsClient.js';

/** Queues that feed an event source mapping (the dead-letter queues only keep what failed; nothing polls them). */
const polledQueues = (stack: TestStack): string[] =>
  Object.entries(stack.queues)
    .filter(([logicalId]) => !/DeadLetter/i.test(logicalId))
    .map(([, url]) => url);

const queuesEmpty = (stack: TestStack): boolean =>
  polledQueues(stack).every((url) => {
    const { visible, inFlight, delayed } = stack.sqs.counts(url) as { visible: number; inFlight: number; delayed?: number };
    return visible === 0 && inFlight === 0 && (delayed ?? 0) === 0;
  });

/**
 * Resolves when nothing more can reach a client: no rule invocation, asynchronous invocation or gateway event in
 * flight, and every polled queue empty (a batch whose function failed stays in flight until its visibility timeout,
 * then comes back, so an empty queue means no batch can be delivered again), the same twice in a row. Then each
 * client makes a ping round trip: one socket delivers in order, so every frame posted before the pong has arrived.
 */
export const quiescent = async (stack: TestStack, clients: readonly TestClient[] = [], { timeoutMs = 60_000 }: { timeoutMs?: number } = {}): Promise<void> => {
  let calm = 0;
  await waitFor(
    async () => {
      await stack.settled();
      calm = queuesEmpty(stack) ? calm + 1 : 0;
      return calm >= 2;
    },
    { timeoutMs, intervalMs: 50, message: 'the stack to have nothing left to deliver (no invocation in flight, every polled queue empty)' },
  );
  await Promise.all(clients.filter((c) => c.ws.readyState === c.ws.OPEN).map((c) => c.request({ action: 'ping' }, (frame) => frame.type === 'pong', 20_000)));
};
