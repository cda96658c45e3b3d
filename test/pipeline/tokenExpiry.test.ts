/**
 * Access ends when the token does: a connection whose token lives 3 s is
 * closed soon after, gets no telemetry past its exp, and leaves no item,
 * through the local stack's authorizer, fan-out and expiry sweeper.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { type TestStack, connectDevice, scanTable, startTestStack } from '../helpers/localStack.js';
import { signedToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/waitFor.js';
import { type TestClient, connectClient, upgradeStatus } from '../helpers/wsClient.js';

/** How long past exp a connection may stay open: one sweep period (1 s here, a minute on AWS) and slack for a loaded machine. */
const CLOSE_BOUND_MS = 10_000;

describe('local stack: a connection ends when its token does', function () {
  this.timeout(60_000);
  let stack: TestStack;
  let device: MqttClient;
  const clients: TestClient[] = [];

  before(async () => {
    stack = await startTestStack({ auth: true, schedulePeriodMs: 1000 });
    device = await connectDevice(stack.urls.mqtt, 'expiry-test-device');
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await device?.endAsync();
    await stack?.stop();
  });

  const connectWithArrivals = async (token: string, extra: string) => {
    const client = await connectClient(`${stack.urls.websocket}?token=${encodeURIComponent(token)}${extra}`);
    clients.push(client);
    const arrivals: { at: number; type: string; receivedAt?: number }[] = [];
    client.ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString());
      arrivals.push({ at: Date.now(), type: String(frame.type), receivedAt: typeof frame.receivedAt === 'number' ? frame.receivedAt : undefined });
    });
    const closedAt = client.closed.then((info) => ({ ...info, at: Date.now() }));
    return { client, arrivals, closedAt };
  };

  it('closes a streaming and an idle connection within a bounded time after exp, delivers nothing after it, and removes their items', async () => {
    // Arrange: tokens that live 6 s (room for two connects on a loaded machine before exp); one connection receives
    // dev-1 at 5/s, one subscribes to nothing that is published.
    const exp = Math.floor(Date.now() / 1000) + 6;
    const token = await signedToken({ secret: stack.devSecret!, sub: 'short-lived', devices: '*', expiresAt: exp });
    const streaming = await connectWithArrivals(token, '&devices=dev-1');
    const idle = await connectWithArrivals(token, '&devices=quiet-device');
    const ids = stack.connections().map((c) => c.connectionId);
    let seq = 0;
    const publisher = setInterval(() => void device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ ts: Date.now(), seq: seq++ })).catch(() => undefined), 200);

    // Act
    let closes: ({ at: number; code: number } | 'still open')[];
    try {
      // Waits for both closes, but no longer than the bound: a connection still open then fails the spec.
      const bound = new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), exp * 1000 + CLOSE_BOUND_MS - Date.now()));
      closes = await Promise.all([Promise.race([streaming.closedAt, bound]), Promise.race([idle.closedAt, bound])]);
      // Telemetry keeps flowing after both closed: three more readings published.
      const seqAtClose = seq;
      await waitFor(() => seq >= seqAtClose + 3, { message: 'three readings published after the closes' });
    } finally {
      clearInterval(publisher);
    }
    await stack.settled();

    // Assert
    const expMs = exp * 1000;
    // By when IoT Core received each reading (the frame's receivedAt), not when it reached the client: one received
    // just before exp may still be on its way at exp on a loaded machine; one received after exp must never come.
    const afterExp = streaming.arrivals.filter((a) => a.type === 'telemetry' && a.receivedAt! > expMs);
    const before = streaming.arrivals.filter((a) => a.type === 'telemetry' && a.receivedAt! <= expMs);
    const items = await scanTable(stack.endpoints.dynamodb, stack.tableName);
    const left = items.filter((item) => ids.some((id) => JSON.stringify(item).includes(id)));
    expect(before.length, 'telemetry before exp').to.be.greaterThan(0);
    expect(before.every((a) => a.receivedAt !== undefined), 'every reading carries its receivedAt').to.equal(true);
    expect(afterExp, 'telemetry received by IoT Core after exp').to.have.length(0);
    expect(closes, `closed within ${CLOSE_BOUND_MS} ms of exp`).to.not.include('still open');
    const closedAfterMs = closes.map((c) => (c as { at: number }).at - expMs);
    expect(left, 'items of the expired connections').to.deep.equal([]);
    expect(stack.connections()).to.have.length(0);
    console.log(
      `      (telemetry before exp: ${before.length}, after exp: ${afterExp.length}; closed ${closedAfterMs.join(' and ')} ms after exp)`,
    );
  });

  it('refuses a reconnect with the same token after exp (401)', async () => {
    const token = await signedToken({ secret: stack.devSecret!, sub: 'expired', devices: '*', expiresAt: Math.floor(Date.now() / 1000) - 30 });

    expect((await upgradeStatus(`${stack.urls.websocket}?token=${encodeURIComponent(token)}`)).status).to.equal(401);
  });
});
