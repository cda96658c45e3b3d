/**
 * The 200-subscriptions cap under concurrency: frames sent without waiting for
 * each other's answers, through the local stack's gateway, functions and table.
 */
import { expect } from 'chai';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION } from '@serverless-iot-dashboard/shared';
import { type TestStack, scanTable, startTestStack } from '../helpers/localStack.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';

describe('local stack: the subscriptions cap', function () {
  this.timeout(60_000);
  let stack: TestStack;
  let client: TestClient | undefined;

  before(async () => {
    stack = await startTestStack({ auth: true });
  });
  after(async () => {
    await client?.close();
    await stack?.stop();
  });

  it(`holds at ${MAX_SUBSCRIPTIONS_PER_CONNECTION} when twelve subscribe frames of 50 devices race`, async () => {
    // Arrange: a connection with one subscription, and 600 more devices in frames of 50.
    client = await connectClient(`${stack.urls.websocket}?token=${encodeURIComponent(stack.devToken!)}&devices=dev-0`);
    const frames = Array.from({ length: 12 }, (_, f) => ({ action: 'subscribe', devices: Array.from({ length: 50 }, (_, i) => `dev-${f * 50 + i + 1}`) }));

    // Act: all twelve at once, then one answer per frame.
    for (const frame of frames) client.send(frame);
    const answers: Frame[] = [];
    for (let i = 0; i < frames.length; i++) answers.push(await client.next((f) => f.type === 'subscribed' || f.type === 'error', 20_000));
    await stack.settled();

    // Assert: what the table holds, what the connection item lists, and what was answered agree, within the cap.
    const items = await scanTable(stack.endpoints.dynamodb, stack.tableName);
    const pk = (item: Record<string, unknown>) => (item.pk as { S: string }).S;
    const connection = items.find((item) => pk(item).startsWith('conn#'))!;
    const held = (connection.devices as { SS: string[] }).SS;
    const subscriptionItems = items.filter((item) => pk(item).startsWith('dev#'));
    const accepted = answers.filter((a) => a.type === 'subscribed');
    const refused = answers.filter((a) => a.type === 'error');
    expect(held.length).to.be.at.most(MAX_SUBSCRIPTIONS_PER_CONNECTION);
    expect(subscriptionItems.length).to.equal(held.length);
    expect(held.length).to.equal(1 + 50 * accepted.length);
    expect(accepted.length).to.be.at.least(1);
    expect(refused.length).to.equal(frames.length - accepted.length);
    expect(refused.every((r) => r.code === 'bad_request')).to.equal(true);
    console.log(`      (subscriptions held after the race: ${held.length}; ${accepted.length} frames accepted, ${refused.length} refused)`);
  });
});
