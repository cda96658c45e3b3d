/**
 * One token holder, a bounded number of live connections (MaxConnectionsPerUser), through the local stack: the
 * next $connect is refused with 403, and a closed or dropped connection frees its place. $connect is throttled by
 * the stage's route settings (ConnectRouteRateLimit / ConnectRouteBurstLimit), which the local gateway honours.
 */
import { expect } from 'chai';
import { type TestStack, startTestStack } from '../helpers/localStack.js';
import { type TestClient, connectClient, upgradeStatus } from '../helpers/wsClient.js';
import { waitFor } from '../helpers/waitFor.js';

describe('local stack: live connections per token holder', function () {
  // Room for the stack to start on a loaded machine.
  this.timeout(60_000);
  let stack: TestStack;
  const clients: TestClient[] = [];

  before(async () => {
    stack = await startTestStack({ auth: true, parameterOverrides: { MaxConnectionsPerUser: '3' } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack?.stop();
  });

  const url = () => `${stack.urls.websocket}?token=${encodeURIComponent(stack.devToken!)}`;

  it('refuses the connect past the cap with 403, and lets the next one in once a connection closes or drops', async () => {
    for (let i = 0; i < 3; i++) clients.push(await connectClient(url()));
    const refused = await upgradeStatus(url());
    expect(refused.status).to.equal(403);
    expect(refused.body).to.match(/at most 3 connections/);

    // A clean close: $disconnect frees the place.
    await clients.shift()!.close();
    await waitFor(() => stack.connections().length === 2, { timeoutMs: 10_000, message: 'the closed connection gone' });
    await stack.settled();
    clients.push(await connectClient(url()));
    expect((await upgradeStatus(url())).status).to.equal(403);

    // A dropped socket (no close frame): the gateway's $disconnect frees it too.
    clients.shift()!.kill();
    await waitFor(() => stack.connections().length === 2, { timeoutMs: 10_000, message: 'the dropped connection gone' });
    await stack.settled();
    clients.push(await connectClient(url()));
    expect(stack.connections()).to.have.length(3);
  });
});

describe('local stack: $connect route throttling', function () {
  this.timeout(60_000);
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack({ auth: false, parameterOverrides: { ConnectRouteRateLimit: '1', ConnectRouteBurstLimit: '3' } });
  });
  after(() => stack?.stop());

  it('answers 429 past the burst, before any function runs', async () => {
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, () =>
        upgradeStatus(`${stack.urls.websocket}?devices=dev-1`).then(
          ({ status }) => status,
          () => 101,
        ),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    // 3 at once, then 1 a second: however slow the machine, at most 3 + the seconds it took got in.
    const admitted = outcomes.filter((s) => s === 101).length;
    expect(admitted).to.be.at.least(1).and.at.most(3 + Math.ceil(seconds));
    expect(outcomes.filter((s) => s === 429)).to.have.length(12 - admitted);
    // Twelve at once cannot all fit unless they took 9 s or more to arrive (then the bound above is what holds).
    if (seconds < 9) expect(stack.lines.some((line) => /\$connect .* 429 Too Many Requests \(route throttling\)/.test(line))).to.equal(true);
  });
});
