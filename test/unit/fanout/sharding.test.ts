import { expect } from 'chai';
import fc from 'fast-check';
import { type FanoutShard, createFanOut, createShardedDelivery, noopCounter, shardSizeFor } from '@serverless-iot-dashboard/shared';

const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

const setup = (dispatch?: (shard: FanoutShard) => Promise<void>, shardSize = 3) => {
  const posted: string[] = [];
  const fanOut = createFanOut({
    store: { removeConnection: async () => undefined },
    post: async (id) => void posted.push(id),
    log: silentLog,
    counter: noopCounter,
    concurrency: 4,
  });
  return { posted, deliver: createShardedDelivery({ fanOut, dispatch, shardSize, log: silentLog, counter: noopCounter }) };
};

async function* pagesOf(ids: string[], pageSize: number) {
  for (let i = 0; i < ids.length; i += pageSize) yield ids.slice(i, i + pageSize);
}

describe('sharded fan-out', () => {
  it('delivers the first shard itself and hands each further shard to a worker', async () => {
    const shards: FanoutShard[] = [];
    const { posted, deliver } = setup(async (s) => void shards.push(s));
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

    const result = await deliver(pagesOf(ids, 2), '{"type":"telemetry"}', 'm1');

    expect(posted.sort()).to.deep.equal(['a', 'b', 'c']);
    expect(shards.map((s) => s.connectionIds)).to.deep.equal([['d', 'e', 'f'], ['g', 'h']]);
    expect(shards[0]).to.include({ body: '{"type":"telemetry"}', id: 'm1' });
    expect(result).to.include({ delivered: 3, shards: 2, sharded: 5 });
  });

  it('delivers everything itself when no worker is configured', async () => {
    const { posted, deliver } = setup(undefined);

    const result = await deliver(pagesOf(['a', 'b', 'c', 'd', 'e'], 2), 'x', 'm1');

    expect(posted.length).to.equal(5);
    expect(result).to.include({ shards: 0, sharded: 0, delivered: 5 });
  });

  it('delivers a shard locally when handing it off fails: late, not lost', async () => {
    const { posted, deliver } = setup(async () => {
      throw Object.assign(new Error('throttled'), { name: 'TooManyRequestsException' });
    });

    const result = await deliver(pagesOf(['a', 'b', 'c', 'd', 'e'], 5), 'x', 'm1');

    expect(posted.sort()).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(result).to.include({ delivered: 5, sharded: 0 });
  });

  it('reaches every recipient exactly once, whatever the page and shard sizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 7 }), async (n, pageSize, shardSize) => {
        const workerPosts: string[] = [];
        const { posted, deliver } = setup(async (s) => void workerPosts.push(...s.connectionIds), shardSize);
        const ids = Array.from({ length: n }, (_, i) => `c${i}`);

        await deliver(pagesOf(ids, pageSize), 'x', 'm');

        const all = [...posted, ...workerPosts];
        expect(all.length).to.equal(n);
        expect(new Set(all).size).to.equal(n);
      }),
      { numRuns: 200 },
    );
  });

  it('shrinks shards so that a worker payload stays under the 256 KB async invoke quota', () => {
    expect(shardSizeFor(100, 2000)).to.equal(2000);
    const size = shardSizeFor(128 * 1024, 5000);
    expect(128 * 1024 + size * 40).to.be.lessThan(256 * 1024);
  });
});
