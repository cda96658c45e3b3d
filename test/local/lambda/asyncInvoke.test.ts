import { expect } from 'chai';
import { createAsyncInvoker } from '../../../local/lambda/asyncInvoke.js';

const deferred = () => {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

describe('local Lambda: asynchronous invocation queue', () => {
  it('runs at most maxConcurrent invocations at once; the others wait their turn, in order, and all run', async () => {
    // Arrange
    const queue = createAsyncInvoker({ retryDelaysMs: [1], maxConcurrent: 2 });
    const gates = Array.from({ length: 5 }, deferred);
    const started: number[] = [];
    let running = 0;
    let most = 0;

    // Act
    gates.forEach((gate, i) =>
      queue.enqueue(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await gate.promise;
        running--;
      }),
    );
    await new Promise((r) => setTimeout(r, 10));
    const startedFirst = [...started];
    for (const gate of gates) {
      gate.resolve();
      await new Promise((r) => setTimeout(r, 5));
    }
    await queue.settled();

    // Assert
    expect(startedFirst).to.deep.equal([0, 1]);
    expect(started).to.deep.equal([0, 1, 2, 3, 4]);
    expect(most).to.equal(2);
  });

  it('frees the turn of a failed attempt while it waits to retry', async () => {
    const queue = createAsyncInvoker({ retryDelaysMs: [30], maxConcurrent: 1 });
    const order: string[] = [];
    let first = true;
    queue.enqueue(async () => {
      order.push(first ? 'a1' : 'a2');
      if (first) {
        first = false;
        throw new Error('boom');
      }
    });
    queue.enqueue(async () => void order.push('b'));

    await queue.settled();

    expect(order).to.deep.equal(['a1', 'b', 'a2']);
  });

  it('abandons the events still waiting for a turn when it closes', async () => {
    const queue = createAsyncInvoker({ maxConcurrent: 1 });
    const gate = deferred();
    const ran: string[] = [];
    queue.enqueue(async () => {
      ran.push('a');
      await gate.promise;
    });
    queue.enqueue(async () => void ran.push('b'));

    const closing = queue.close();
    gate.resolve();
    await closing;

    expect(ran).to.deep.equal(['a']);
  });
});
