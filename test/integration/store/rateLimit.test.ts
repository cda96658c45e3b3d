/** The per-sender token bucket (GCRA) in DynamoDB: dynalite, a controlled clock. */
import { expect } from 'chai';
import { createRateLimiter } from '@serverless-iot-dashboard/shared';
import { type TestDynamo, startDynamo } from '../../helpers/dynamo.js';

describe('rate limiter (dynalite)', function () {
  this.timeout(60_000);
  let dynamo: TestDynamo;
  let tableName: string;
  let clock: number;
  const limiter = (perMinute = 60, burst = 5) => createRateLimiter({ doc: dynamo.doc, tableName, name: 'message', perMinute, burst, now: () => clock });
  const allowedOf = async (check: ReturnType<typeof limiter>, key: string, n: number) => {
    let allowed = 0;
    for (let i = 0; i < n; i++) if ((await check(key)).allowed) allowed++;
    return allowed;
  };

  before(async () => {
    dynamo = await startDynamo();
  });
  after(() => dynamo.stop());
  beforeEach(async () => {
    tableName = await dynamo.freshTable();
    clock = 1_795_597_200_000;
  });

  it('allows a burst, then refuses with a retry hint, then allows one more per interval', async () => {
    const check = limiter(60, 5);

    const burst = await allowedOf(check, 'alice', 8);
    const refused = await check('alice');
    clock += 1000;
    const afterOneSecond = await allowedOf(check, 'alice', 3);
    clock += 60_000;
    const afterAMinute = await allowedOf(check, 'alice', 8);

    expect(burst).to.equal(5);
    expect(refused).to.deep.equal({ allowed: false, retryAfterMs: 1000 });
    expect(afterOneSecond).to.equal(1);
    expect(afterAMinute).to.equal(5);
  });

  it('keeps one bucket per key', async () => {
    const check = limiter(60, 2);

    expect(await allowedOf(check, 'alice', 4)).to.equal(2);
    expect(await allowedOf(check, 'bob', 4)).to.equal(2);
  });

  it('allows no more than the burst when requests race, whichever container sends them', async () => {
    // Two limiters stand for two Lambda containers; the bucket is the table's.
    const [a, b] = [limiter(60, 5), limiter(60, 5)];

    const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b)('alice')));

    expect(decisions.filter((d) => d.allowed)).to.have.length(5);
  });
});
