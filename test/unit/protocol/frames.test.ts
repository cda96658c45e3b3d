import { expect } from 'chai';
import {
  ALL_DEVICES,
  BadRequest,
  MAX_DEVICES_PER_FRAME,
  parseClientFrame,
  validateDeviceId,
} from '@serverless-iot-dashboard/shared';

const rejects = (body: string | undefined, isBase64Encoded = false) => {
  try {
    parseClientFrame(body, isBase64Encoded);
  } catch (error) {
    expect(error).to.be.instanceOf(BadRequest);
    return (error as BadRequest).message;
  }
  throw new Error(`expected ${body} to be rejected`);
};

describe('client frames (the one validation point for inbound frames)', () => {
  it('accepts each action in its documented shape', () => {
    expect(parseClientFrame('{"action":"subscribe","devices":["dev-1","dev-2"]}')).to.deep.equal({ action: 'subscribe', devices: ['dev-1', 'dev-2'] });
    expect(parseClientFrame('{"action":"unsubscribe","devices":"*"}')).to.deep.equal({ action: 'unsubscribe', devices: ALL_DEVICES });
    expect(parseClientFrame('{"action":"message","data":{"text":"hi"}}')).to.deep.equal({ action: 'message', data: { text: 'hi' } });
    expect(parseClientFrame('{"action":"ping"}')).to.deep.equal({ action: 'ping' });
  });

  it('collapses a device list that contains "*" to every device and drops repeats', () => {
    expect(parseClientFrame('{"action":"subscribe","devices":["dev-1","*"]}')).to.deep.equal({ action: 'subscribe', devices: '*' });
    expect(parseClientFrame('{"action":"subscribe","devices":["a","a","b"]}')).to.deep.equal({ action: 'subscribe', devices: ['a', 'b'] });
  });

  it('rejects malformed JSON with a hint of the expected shape', () => {
    expect(rejects('{"action":')).to.match(/malformed JSON/);
  });

  it('rejects a body that is not an object', () => {
    expect(rejects('[1,2]')).to.match(/must be a JSON object, got array/);
    expect(rejects('"ping"')).to.match(/got string/);
    expect(rejects('null')).to.match(/got null/);
  });

  it('rejects binary frames', () => {
    expect(rejects('AAEC', true)).to.match(/binary frames are not supported/);
  });

  it('rejects an empty frame', () => {
    expect(rejects('')).to.match(/empty frame/);
  });

  it('rejects a wrong type for action and devices', () => {
    expect(rejects('{"action":7}')).to.match(/"action" must be a string, got number/);
    expect(rejects('{"action":"subscribe","devices":"dev-1"}')).to.match(/array of device ids or "\*"/);
    expect(rejects('{"action":"subscribe","devices":[1]}')).to.match(/devices\[0\] must be a string/);
    expect(rejects('{"action":"message","data":"text"}')).to.match(/needs "data": a JSON object, got string/);
  });

  it('rejects an unknown field and names it', () => {
    expect(rejects('{"action":"ping","extra":true}')).to.match(/unknown field "extra"/);
  });

  it('rejects an unknown action and lists the valid ones', () => {
    expect(rejects('{"action":"launch"}')).to.match(/valid actions: subscribe, unsubscribe, message, ping/);
  });

  it('rejects device ids with MQTT wildcards, separators, control characters or over 128 characters', () => {
    for (const id of ['dev/1', 'dev+', 'dev#', 'a\u0000b', 'tab\tid', 'x'.repeat(129), '']) {
      expect(() => validateDeviceId(id), JSON.stringify(id)).to.throw(BadRequest);
    }
    expect(validateDeviceId('x'.repeat(128))).to.have.length(128);
  });

  it(`caps a devices array at ${MAX_DEVICES_PER_FRAME}`, () => {
    const devices = Array.from({ length: MAX_DEVICES_PER_FRAME + 1 }, (_, i) => `dev-${i}`);
    expect(rejects(JSON.stringify({ action: 'subscribe', devices }))).to.match(/at most 50 per frame/);
    expect(rejects('{"action":"subscribe","devices":[]}')).to.match(/at least one device/);
  });
});
