import { expect } from 'chai';
import { tokenBucket } from '../../../local/apigateway/throttle.js';
import { buildStackModel } from '../../../local/template/stackModel.js';

describe('local API Gateway: route throttling (token bucket)', () => {
  it('lets the burst through at once, then the rate, on an injected clock', () => {
    let now = 0;
    const bucket = tokenBucket({ rateLimit: 2, burstLimit: 3 }, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).to.deep.equal([true, true, true, false]);
    now = 499;
    expect(bucket.take()).to.equal(false);
    now = 500;
    expect([bucket.take(), bucket.take()]).to.deep.equal([true, false]);
    now = 10_000;
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).to.deep.equal([true, true, true, false]);
  });

  it('throttles nothing without a limit', () => {
    const bucket = tokenBucket(undefined);
    for (let i = 0; i < 1000; i++) expect(bucket.take()).to.equal(true);
  });

  it("reads $connect's throttling from the template's stage RouteSettings, and the stage default under *", () => {
    const model = buildStackModel({ parameterOverrides: { ConnectRouteRateLimit: '7', ConnectRouteBurstLimit: '9' } });
    expect(model.api!.throttles!.get('$connect')).to.deep.equal({ rateLimit: 7, burstLimit: 9 });
    expect(model.api!.throttles!.get('*')).to.deep.equal({ rateLimit: 500, burstLimit: 1000 });
  });
});
