import { expect } from 'chai';
import { frameOf } from '../../../scripts/alarm.js';

describe('npm run alarm: the frame each command sends', () => {
  it('put --device dev-1 --field temperature --above 30 --for 10s is the issue\'s putAlarmRule', () => {
    expect(frameOf(['put', '--device', 'dev-1', '--field', 'temperature', '--above', '30', '--for', '10s', '--name', 'Freezer warm'])).to.deep.equal({
      action: 'putAlarmRule',
      rule: { deviceId: 'dev-1', field: 'temperature', above: 30, forSeconds: 10, name: 'Freezer warm' },
    });
  });

  it('put --silent 5m is a silent rule; --outside takes low,high', () => {
    expect(frameOf(['put', '--device', 'dev-1', '--silent', '5m'])).to.deep.equal({ action: 'putAlarmRule', rule: { deviceId: 'dev-1', silentSeconds: 300 } });
    expect((frameOf(['put', '--device', 'dev-1', '--field', 'v', '--outside', '1,5']).rule as { outside: number[] }).outside).to.deep.equal([1, 5]);
  });

  it('list, delete ID and ack ID --device', () => {
    expect(frameOf(['list'])).to.deep.equal({ action: 'alarms' });
    expect(frameOf(['delete', 'dev-1~abcd1234'])).to.deep.equal({ action: 'deleteAlarmRule', id: 'dev-1~abcd1234' });
    expect(frameOf(['ack', 'dev-1~abcd1234', '--device', 'dev-1'])).to.deep.equal({ action: 'ackAlarm', ruleId: 'dev-1~abcd1234', deviceId: 'dev-1' });
  });

  it('refuses a threshold that is not a number, and an unknown command, with the usage', () => {
    expect(() => frameOf(['put', '--device', 'dev-1', '--field', 't', '--above', 'warm'])).to.throw('--above must be a number, got "warm"');
    expect(() => frameOf(['frobnicate'])).to.throw(/^usage: npm run alarm/);
  });
});
