/** The DynamoDB document client every function builds (layers/shared/src/clients.ts). */
import { expect } from 'chai';
import { createDocumentClient } from '@serverless-iot-dashboard/shared';

describe('the DynamoDB document client', () => {
  it('makes 4 attempts per request by default, so that a route answers within API Gateway’s 29 s', async () => {
    expect(await createDocumentClient('http://127.0.0.1:1').config.maxAttempts()).to.equal(4);
  });

  it('makes the attempts a caller that nobody retries asks for ($disconnect asks for 6)', async () => {
    expect(await createDocumentClient('http://127.0.0.1:1', { maxAttempts: 6 }).config.maxAttempts()).to.equal(6);
  });

  it('drops undefined attributes, and keeps imprecise numbers only when asked', () => {
    const plain = createDocumentClient('http://127.0.0.1:1').config.translateConfig?.marshallOptions;
    const device = createDocumentClient('http://127.0.0.1:1', { allowImpreciseNumbers: true }).config.translateConfig?.marshallOptions;
    expect(plain).to.deep.equal({ removeUndefinedValues: true });
    expect(device).to.deep.equal({ removeUndefinedValues: true, allowImpreciseNumbers: true });
  });
});
