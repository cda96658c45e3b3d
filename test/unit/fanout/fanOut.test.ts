import { expect } from 'chai';
import sinon from 'sinon';
import { createFanOut, classifyPostError, noopCounter, type PostToConnection } from '@serverless-iot-dashboard/shared';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

const awsError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

const setup = (post: PostToConnection, concurrency = 8) => {
  const store = { removeConnection: sinon.stub().resolves() };
  const fanOut = createFanOut({ store, post, log: silentLog, counter: noopCounter, concurrency, baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 4 });
  return { store, fanOut };
};

describe('fan-out', () => {
  it('delivers the frame to every recipient across pages', async () => {
    const post = sinon.stub<Parameters<PostToConnection>, Promise<void>>().resolves();
    const { fanOut } = setup(post);

    const result = await fanOut.deliver([['a', 'b'], ['c']], '{"type":"pong"}');

    expect(result).to.include({ recipients: 3, delivered: 3, gone: 0, failed: 0 });
    expect(post.args.map((a) => a[0]).sort()).to.deep.equal(['a', 'b', 'c']);
  });

  it('deletes only the stale connection when a post returns 410, and keeps going', async () => {
    const post: PostToConnection = async (id) => {
      if (id === 'stale') throw awsError('GoneException', 410);
    };
    const { fanOut, store } = setup(post);

    const result = await fanOut.deliver([['a', 'stale', 'b']], 'x');

    expect(result).to.include({ delivered: 2, gone: 1, failed: 0 });
    expect(store.removeConnection.callCount).to.equal(1);
    expect(store.removeConnection.firstCall.args[0]).to.equal('stale');
  });

  it('retries 429 and 5xx with backoff and then delivers', async () => {
    const calls = new Map<string, number>();
    const post: PostToConnection = async (id) => {
      const n = (calls.get(id) ?? 0) + 1;
      calls.set(id, n);
      if (id === 'throttled' && n < 3) throw awsError('LimitExceededException', 429);
      if (id === 'flaky' && n < 2) throw awsError('InternalServerErrorException', 500);
    };
    const { fanOut, store } = setup(post);

    const result = await fanOut.deliver([['throttled', 'flaky', 'fine']], 'x');

    expect(result).to.include({ delivered: 3, retried: 3, failed: 0, gone: 0 });
    expect(store.removeConnection.called).to.equal(false);
  });

  it('gives up after the bounded number of attempts and still resolves', async () => {
    const post = sinon.stub<Parameters<PostToConnection>, Promise<void>>().rejects(awsError('InternalServerErrorException', 500));
    const { fanOut } = setup(post);

    const result = await fanOut.deliver([['a']], 'x');

    expect(result).to.include({ delivered: 0, failed: 1, retried: 3 });
    expect(post.callCount).to.equal(4);
  });

  it('does not retry or delete on a 403', async () => {
    const post = sinon.stub<Parameters<PostToConnection>, Promise<void>>().rejects(awsError('ForbiddenException', 403));
    const { fanOut, store } = setup(post);

    const result = await fanOut.deliver([['a']], 'x');

    expect(result).to.include({ failed: 1, retried: 0, gone: 0 });
    expect(post.callCount).to.equal(1);
    expect(store.removeConnection.called).to.equal(false);
  });

  it('never has more posts in flight than its concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const post: PostToConnection = async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
    };
    const { fanOut } = setup(post, 5);
    const ids = Array.from({ length: 100 }, (_, i) => `c${i}`);

    const result = await fanOut.deliver([ids.slice(0, 50), ids.slice(50)], 'x');

    expect(result.delivered).to.equal(100);
    expect(peak).to.equal(5);
  });

  it('skips the excluded sender', async () => {
    const post = sinon.stub<Parameters<PostToConnection>, Promise<void>>().resolves();
    const { fanOut } = setup(post);

    const result = await fanOut.deliver([['me', 'you']], 'x', 'me');

    expect(result.recipients).to.equal(1);
    expect(post.firstCall.args[0]).to.equal('you');
  });

  it('refuses a frame over the 128 KB payload quota before posting anything', async () => {
    const post = sinon.stub<Parameters<PostToConnection>, Promise<void>>().resolves();
    const { fanOut } = setup(post);

    const result = await fanOut.deliver([['a']], 'x'.repeat(128 * 1024 + 1));

    expect(result.rejected).to.equal('payload_too_large');
    expect(post.called).to.equal(false);
  });

  it('classifies errors by name, not by the statusCode SDK v3 does not set', () => {
    expect(classifyPostError(Object.assign(new Error('gone'), { name: 'GoneException' }))).to.equal('gone');
    expect(classifyPostError(Object.assign(new Error('x'), { name: 'LimitExceededException' }))).to.equal('retry');
    expect(classifyPostError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).to.equal('retry');
    expect(classifyPostError(new TypeError('bug'))).to.equal('failed');
  });
});
