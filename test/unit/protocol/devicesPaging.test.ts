import { expect } from 'chai';
import { BadRequest, MAX_CURSOR_LENGTH, MAX_DEVICES_PAGE, validateClientFrame } from '@serverless-iot-dashboard/shared';

describe('client frames: devices pages with a cursor', () => {
  it('accepts a cursor and a limit, and passes them on', () => {
    expect(validateClientFrame({ action: 'devices', requestId: 'r', cursor: 'abc', limit: 250 })).to.deep.equal({ action: 'devices', requestId: 'r', cursor: 'abc', limit: 250 });
    expect(validateClientFrame({ action: 'devices' })).to.deep.equal({ action: 'devices' });
  });

  it('refuses a cursor that is not a short string and a limit outside 1 to 1,000', () => {
    for (const frame of [
      { action: 'devices', cursor: 7 },
      { action: 'devices', cursor: '' },
      { action: 'devices', cursor: 'x'.repeat(MAX_CURSOR_LENGTH + 1) },
      { action: 'devices', limit: 0 },
      { action: 'devices', limit: MAX_DEVICES_PAGE + 1 },
      { action: 'devices', limit: 2.5 },
      { action: 'devices', limit: '10' },
    ]) {
      expect(() => validateClientFrame(frame), JSON.stringify(frame).slice(0, 60)).to.throw(BadRequest);
    }
  });
});
