/**
 * The `message` route cannot be flooded, and a broadcast reaches only the
 * dashboards whose subscriptions overlap the publisher's scope: through the
 * local stack, with the template's limits turned down for the test.
 */
import { waitFor } from '../helpers/waitFor.js';
import { expect } from 'chai';
import { type TestStack, startTestStack } from '../helpers/localStack.js';
import { signedToken } from '../helpers/tokens.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';

const BURST = 5;

describe('local stack: message rate limit and audience', function () {
  this.timeout(60_000);
  let stack: TestStack;
  const clients: TestClient[] = [];
  const client = async (claims: { sub: string; devices: string[] | '*'; publish?: boolean }, devices?: string) => {
    const token = await signedToken({ secret: stack.devSecret!, ...claims });
    const c = await connectClient(`${stack.urls.websocket}?token=${encodeURIComponent(token)}${devices ? `&devices=${devices}` : ''}`);
    clients.push(c);
    return c;
  };

  before(async () => {
    stack = await startTestStack({ auth: true, parameterOverrides: { MessageRatePerMinute: '6', MessageBurst: String(BURST) } });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await stack?.stop();
  });

  it(`answers a flood of 40 messages with ${BURST} sent and rate_limited for the rest, across the sender's connections`, async () => {
    // Arrange: one token holder on two connections, five listeners.
    const senders = [await client({ sub: 'flooder', devices: '*', publish: true }), await client({ sub: 'flooder', devices: '*', publish: true })];
    const listeners = await Promise.all(Array.from({ length: 5 }, (_, i) => client({ sub: `listener-${i}`, devices: '*' })));

    // Act: 40 frames of 1 KB without waiting, 20 on each connection.
    for (let i = 0; i < 40; i++) senders[i % 2]!.send({ action: 'message', data: { i, pad: 'x'.repeat(1024) } });
    const answers: Frame[] = [];
    for (let i = 0; i < 40; i++) answers.push(await senders[i % 2]!.next((f) => f.type === 'sent' || f.type === 'error', 20_000));
    await stack.settled();
    // The broadcasts' frames on their way to the listeners: wait for them (an event), not a fixed time; a listener
    // that got more than BURST fails the equality below.
    await waitFor(() => listeners.every((l) => l.frames.filter((f) => f.type === 'message').length >= BURST), { timeoutMs: 10_000, message: 'the broadcasts at every listener' });

    // Assert
    const sent = answers.filter((a) => a.type === 'sent');
    const limited = answers.filter((a) => a.code === 'rate_limited');
    const delivered = listeners.map((l) => l.frames.filter((f) => f.type === 'message').length);
    expect(sent).to.have.length(BURST);
    expect(limited).to.have.length(40 - BURST);
    expect(limited[0]!.message).to.match(/at most 6 a minute, in bursts of 5/);
    expect(delivered).to.deep.equal(Array(5).fill(BURST));
    console.log(`      (40 messages offered: ${sent.length} sent, ${limited.length} rate_limited; frames per listener: ${delivered[0]})`);
  });

  it("reaches only dashboards that subscribe to a device in the publisher's scope, not every all-devices dashboard", async () => {
    // Arrange
    const publisher = await client({ sub: 'zzz-publisher', devices: ['zzz'], publish: true });
    const everything = await client({ sub: 'watch-all', devices: '*' });
    const zzzWatcher = await client({ sub: 'watch-zzz', devices: '*' }, 'zzz');
    const otherWatcher = await client({ sub: 'watch-dev-1', devices: '*' }, 'dev-1');

    // Act
    const sent = await publisher.request({ action: 'message', data: { text: 'hello zzz' } }, (f) => f.type === 'sent' || f.type === 'error');

    // Assert
    expect(sent).to.include({ type: 'sent', recipients: 1, delivered: 1 });
    expect((await zzzWatcher.next((f) => f.type === 'message')).data).to.deep.equal({ text: 'hello zzz' });
    await everything.none((f) => f.type === 'message', 300);
    await otherWatcher.none((f) => f.type === 'message', 0);
  });

  it('still reaches every all-devices dashboard from a publisher scoped to "*"', async () => {
    const publisher = await client({ sub: 'operator', devices: '*', publish: true });
    const everything = await client({ sub: 'watch-all-2', devices: '*' });

    const sent = await publisher.request({ action: 'message', data: { text: 'to all' } }, (f) => f.type === 'sent');

    expect(sent.delivered).to.equal(1);
    expect((await everything.next((f) => f.type === 'message')).data).to.deep.equal({ text: 'to all' });
  });
});
