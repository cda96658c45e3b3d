/**
 * DynamoDB throttling and failing (FAULTS=dynamodb:...), through a proxy that
 * answers in DynamoDB's own JSON 1.0 error shapes: a connect either succeeds
 * or is refused with API Gateway's clear 500, a client that retries gets in,
 * and no connection is ever left half-stored.
 */
import { expect } from 'chai';
import { type TestStack, startTestStack } from '../helpers/localStack.js';
import { type Frame, type TestClient, upgradeStatus } from '../helpers/wsClient.js';
import { sleep, waitFor } from '../helpers/waitFor.js';
import { connectWithRetry, debug, halfStored, range, readTable } from './support.js';

describe('reliability: DynamoDB throttles and fails (FAULTS=dynamodb:...)', function () {
  this.timeout(60_000);
  let stack: TestStack | undefined;
  let clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    await stack?.stop();
    stack = undefined;
  });

  it("refuses a connect while DynamoDB throttles everything with API Gateway's 500, stores nothing, and lets the retrying client in once it stops", async () => {
    // Arrange
    stack = await startTestStack({ auth: false, faults: 'dynamodb:throttle:1', faultsSeed: 1 });
    const url = `${stack.urls.websocket}?devices=dev-a,dev-b`;

    // Act: the SDK's own retries run out, the connect is refused; then the throttling stops and the client retries
    const refused = await upgradeStatus(url, 30_000);
    await stack.settled();
    const afterRefusal = await readTable(stack.urls.dynamodb, stack.tableName);
    stack.faults!.set('dynamodb:throttle:0');
    const { client, refusals } = await connectWithRetry(url);
    clients.push(client);
    await stack.settled();

    // Assert
    expect(refused.status).to.equal(500);
    expect(refused.body).to.match(/^Internal (server )?error$/);
    expect(stack.lines.some((line) => /ConnectFunction ERROR route failed .*ProvisionedThroughputExceededException/.test(line)), 'the function logged the throttle').to.equal(true);
    expect(afterRefusal.connections.size + afterRefusal.subscriptions.length, 'items left by the refused connect').to.equal(0);
    expect(refusals).to.deep.equal([]);
    const table = await readTable(stack.urls.dynamodb, stack.tableName);
    expect([...table.connections.values()]).to.deep.equal([['dev-a', 'dev-b']]);
    expect(halfStored(table)).to.deep.equal([]);
    expect((await client.request({ action: 'ping' }, (f) => f.type === 'pong')).type).to.equal('pong');
  });

  for (const { rate, clientsCount, seed } of [
    { rate: 0.1, clientsCount: 30, seed: 10 },
    // Three times the throttling: more of it gets past the SDK's own retries, so the clean-up and retry paths run more often.
    { rate: 0.3, clientsCount: 16, seed: 30 },
  ]) {
    it(`lets retrying clients in at ${rate * 100}% throttling, subscribes and unsubscribes them, and leaves no connection half-stored`, async () => {
      // Arrange
      stack = await startTestStack({ auth: false, faults: `dynamodb:throttle:${rate}`, faultsSeed: seed });

      // Act: connect (retrying refusals), subscribe to one more device, unsubscribe one, then half of them leave
      const connected = await Promise.all(range(clientsCount).map((i) => connectWithRetry(`${stack!.urls.websocket}?devices=dev-${i % 5},dev-x`, { attempts: 12 })));
      clients = connected.map((c) => c.client);
      // An `internal` error frame says "please retry", and a client does (the routes are idempotent).
      const errors: Frame[] = [];
      const withRetry = async (client: TestClient, frame: object, type: string) => {
        for (let attempt = 1; attempt <= 6; attempt++) {
          const reply = await client.request(frame, (f) => f.type === type || f.type === 'error', 20_000);
          if (reply.type === type) return reply;
          errors.push(reply);
          await sleep(50 * attempt);
        }
        throw new Error(`${JSON.stringify(frame)} failed six times`);
      };
      await Promise.all(
        clients.map(async (client, i) => {
          await withRetry(client, { action: 'subscribe', devices: [`dev-s${i % 3}`] }, 'subscribed');
          await withRetry(client, { action: 'unsubscribe', devices: ['dev-x'] }, 'unsubscribed');
        }),
      );
      const leaving = clients.slice(0, clientsCount / 2);
      await Promise.all(leaving.map((c) => c.close()));
      // Their $disconnects seen by the gateway, then run to the end: events, not a fixed wait.
      await waitFor(() => stack!.connections().length === clientsCount - leaving.length, { timeoutMs: 20_000, message: 'the leaving clients gone from the gateway' });
      await stack.settled();

      // Assert
      const refusals = connected.flatMap((c) => c.refusals);
      const stats = stack.faults!.stats();
      debug({ stats, refusals, errors: errors.length });
      expect(stats['dynamodb:throttle'], 'injected throttles').to.be.greaterThan(0);
      expect(refusals.every((status) => status === 500), `refusals are API Gateway's 500: ${refusals}`).to.equal(true);
      expect(errors.every((f) => f.code === 'internal' && typeof f.message === 'string'), `route errors are error frames: ${JSON.stringify(errors)}`).to.equal(true);
      const table = await readTable(stack.urls.dynamodb, stack.tableName);
      expect(halfStored(table), 'half-stored connections').to.deep.equal([]);
      const open = new Set(stack.connections().map((c) => c.connectionId));
      expect(open.size).to.equal(clientsCount - leaving.length);
      for (const id of open) {
        // Stored completely, with what it asked for: one dev-N from the connect, one dev-sN subscribed, dev-x unsubscribed.
        expect(table.connections.get(id)?.join(','), `open connection ${id}`).to.match(/^dev-[0-4],dev-s[0-2]$/);
      }
    });
  }
});
