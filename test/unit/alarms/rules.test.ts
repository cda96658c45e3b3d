import { expect } from 'chai';
import { BadRequest, Forbidden, MAX_RULES_PER_DEVICE, ruleDevice, ruleVisibleTo, ruleWatches, validateAlarmRule } from '@serverless-iot-dashboard/shared';

const refusal = (rule: unknown, scope: string[] | '*' = '*') => {
  try {
    validateAlarmRule(rule, scope);
  } catch (error) {
    return error as Error;
  }
  throw new Error('the rule was accepted');
};

describe('alarm rules: validation', () => {
  it('accepts the issue\'s example rule as sent', () => {
    const rule = validateAlarmRule({ deviceId: 'dev-1', field: 'temperature', above: 30, forSeconds: 10, name: 'Freezer warm' }, ['dev-1']);
    expect(rule).to.deep.equal({ deviceId: 'dev-1', field: 'temperature', above: 30, forSeconds: 10, name: 'Freezer warm' });
  });

  it('accepts below, outside with a deadband, and a silent rule with field null', () => {
    expect(validateAlarmRule({ deviceId: 'dev-1', field: 'humidity', below: 20 }, '*')).to.include({ below: 20 });
    expect(validateAlarmRule({ deviceId: 'dev-1', field: 'v', outside: [1, 5], deadband: 0.5 }, '*')).to.deep.include({ outside: [1, 5], deadband: 0.5 });
    expect(validateAlarmRule({ deviceId: 'dev-1', silentSeconds: 300 }, '*')).to.deep.equal({ deviceId: 'dev-1', field: null, silentSeconds: 300 });
  });

  it('says why a rule is refused: a threshold that is not a number', () => {
    const error = refusal({ deviceId: 'dev-1', field: 'temperature', above: '30' });
    expect(error).to.be.instanceOf(BadRequest);
    expect(error.message).to.equal('rule.above must be a number, got string "30"');
  });

  it('says why a rule is refused: an unknown field in the rule, naming the known ones', () => {
    const error = refusal({ deviceId: 'dev-1', field: 'temperature', abvoe: 30 });
    expect(error).to.be.instanceOf(BadRequest);
    expect(error.message).to.match(/^unknown rule field "abvoe"; a rule has: id, deviceId, field, above/);
  });

  it('says why a rule is refused: a field that is not a field name, or of the wrong type', () => {
    expect(refusal({ deviceId: 'dev-1', field: 42, above: 1 }).message).to.equal('rule.field must name a numeric field of the readings (e.g. "temperature"), got number');
    expect(refusal({ deviceId: 'dev-1', field: 'a b', above: 1 }).message).to.match(/is not a field name/);
  });

  it('says why a rule is refused: no condition, two conditions, a range upside down', () => {
    expect(refusal({ deviceId: 'dev-1', field: 't' }).message).to.match(/^a rule needs one condition/);
    expect(refusal({ deviceId: 'dev-1', field: 't', above: 1, below: 0 }).message).to.equal('a rule takes one condition, got "above" and "below"');
    expect(refusal({ deviceId: 'dev-1', field: 't', outside: [5, 1] }).message).to.match(/low < high/);
  });

  it('refuses a device outside the sender\'s scope as forbidden', () => {
    const error = refusal({ deviceId: 'dev-9', field: 't', above: 1 }, ['dev-1']);
    expect(error).to.be.instanceOf(Forbidden);
    expect(error.message).to.match(/does not cover "dev-9"/);
  });

  it('documents its per-device maximum', () => {
    expect(MAX_RULES_PER_DEVICE).to.equal(20);
  });

  it('a "*" rule watches only the devices its creator could see, and is visible to a reader who sees one of them', () => {
    const rule = { deviceId: '*', scope: ['dev-1', 'dev-2'] };
    expect(ruleWatches(rule, 'dev-1')).to.equal(true);
    expect(ruleWatches(rule, 'dev-3')).to.equal(false);
    expect(ruleVisibleTo(rule, ['dev-2'])).to.equal(true);
    expect(ruleVisibleTo(rule, ['dev-3'])).to.equal(false);
  });

  it('recovers a rule\'s device from its id', () => {
    expect(ruleDevice('dev-1~abcd1234')).to.equal('dev-1');
    expect(ruleDevice('*~abcd1234')).to.equal('*');
  });
});
