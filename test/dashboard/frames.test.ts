import { expect } from 'chai';
import { parseServerFrame } from '../../dashboard/src/frames.js';

describe('dashboard server frame parsing', () => {
  it('reads a telemetry frame as the server sends it', () => {
    const text = JSON.stringify({ type: 'telemetry', id: 'x1', deviceId: 'dev-1', ts: 1000, receivedAt: 1010, data: { temperature: 21.5, seq: 3 } });

    expect(parseServerFrame(text)).to.deep.equal({ type: 'telemetry', id: 'x1', deviceId: 'dev-1', ts: 1000, receivedAt: 1010, data: { temperature: 21.5, seq: 3 } });
  });

  it('reads a resync frame (the server shed readings of a device in a time range), and refuses one without a range', () => {
    const text = JSON.stringify({ type: 'resync', deviceId: 'dev-1', from: 1000, to: 1000, id: 'r1', reason: 'shed' });

    expect(parseServerFrame(text)).to.deep.equal({ type: 'resync', deviceId: 'dev-1', from: 1000, to: 1000, id: 'r1', reason: 'shed' });
    expect(parseServerFrame(JSON.stringify({ type: 'resync', deviceId: 'dev-1', from: 9, to: 1 }))).to.deep.equal({ type: 'invalid', reason: 'resync without a time range' });
  });

  it('fills a missing ts from receivedAt', () => {
    const frame = parseServerFrame(JSON.stringify({ type: 'telemetry', id: 'x', deviceId: 'd', receivedAt: 5, data: {} }));

    expect(frame).to.include({ ts: 5, receivedAt: 5 });
  });

  it('marks telemetry it cannot use as invalid, with the reason', () => {
    expect(parseServerFrame('{"type":"telemetry","deviceId":"d","ts":1,"data":{}}')).to.deep.equal({ type: 'invalid', reason: 'telemetry without an id' });
    expect(parseServerFrame('{"type":"telemetry","id":"x","deviceId":"d","ts":1}')).to.deep.equal({ type: 'invalid', reason: 'telemetry without a data object' });
    expect(parseServerFrame('{"type":"telemetry","id":"x","deviceId":"d","data":{}}')).to.deep.equal({ type: 'invalid', reason: 'telemetry without ts or receivedAt' });
  });

  it('reads subscription replies with the full list of subscriptions when the server sends it', () => {
    expect(parseServerFrame('{"type":"subscribed","devices":["a"],"subscriptions":["a","b"]}')).to.deep.equal({ type: 'subscribed', devices: ['a'], subscriptions: ['a', 'b'] });
    expect(parseServerFrame('{"type":"unsubscribed","devices":"*"}')).to.deep.equal({ type: 'unsubscribed', devices: '*' });
  });

  it('reads error frames, and API Gateway’s own untyped errors as errors', () => {
    expect(parseServerFrame('{"type":"error","code":"forbidden","message":"device dev-9 is outside your token scope"}')).to.deep.equal({
      type: 'error',
      code: 'forbidden',
      message: 'device dev-9 is outside your token scope',
    });
    expect(parseServerFrame('{"message":"Internal server error","connectionId":"abc=","requestId":"r1"}')).to.deep.equal({
      type: 'error',
      code: 'gateway',
      message: 'Internal server error',
    });
  });

  it('reads pong, sent and broadcast message frames', () => {
    expect(parseServerFrame('{"type":"pong","ts":7}')).to.deep.equal({ type: 'pong', ts: 7 });
    expect(parseServerFrame('{"type":"sent","id":"m","recipients":3,"delivered":2}')).to.deep.equal({ type: 'sent', id: 'm', recipients: 3, delivered: 2 });
    expect(parseServerFrame('{"type":"message","id":"m","from":"ana","ts":9,"data":{"t":"hi"}}')).to.deep.equal({ type: 'message', id: 'm', from: 'ana', ts: 9, data: { t: 'hi' } });
  });

  it('never throws on garbage', () => {
    for (const text of ['', 'nope', '[]', 'null', '42', '{"type":"surprise"}', '{}']) {
      expect(parseServerFrame(text).type, text).to.equal('invalid');
    }
    expect(parseServerFrame(new ArrayBuffer(4))).to.deep.equal({ type: 'invalid', reason: 'binary frame' });
  });
  it('reads a telemetry-batch frame into telemetry frames, one per reading, with the top-level deviceId for readings without one', () => {
    const text = JSON.stringify({
      type: 'telemetry-batch',
      deviceId: 'dev-9',
      readings: [
        { id: 'a', deviceId: 'dev-1', ts: 1000, receivedAt: 1010, data: { t: 1 } },
        { id: 'b', ts: 2000, receivedAt: 2010, data: { t: 2 } },
        { id: '', deviceId: 'dev-1', ts: 1, data: {} },
        'not a reading',
      ],
    });

    expect(parseServerFrame(text)).to.deep.equal({
      type: 'telemetry-batch',
      invalid: 2,
      readings: [
        { type: 'telemetry', id: 'a', deviceId: 'dev-1', ts: 1000, receivedAt: 1010, data: { t: 1 } },
        { type: 'telemetry', id: 'b', deviceId: 'dev-9', ts: 2000, receivedAt: 2010, data: { t: 2 } },
      ],
    });
    expect(parseServerFrame('{"type":"telemetry-batch","readings":{}}')).to.deep.equal({ type: 'invalid', reason: 'telemetry-batch without readings' });
  });
});
