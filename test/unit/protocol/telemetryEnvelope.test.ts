import { expect } from 'chai';
import { BadRequest, telemetryEnvelope } from '@serverless-iot-dashboard/shared';
import { loadEvent } from '../../helpers/events.js';

describe('telemetry envelope', () => {
  it('wraps the IoT rule output in the versioned telemetry frame', () => {
    const event = loadEvent('telemetry');

    const frame = telemetryEnvelope(event);

    expect(frame).to.include({ type: 'telemetry', deviceId: 'dev-1', ts: event.ts, receivedAt: event.receivedAt });
    expect(frame.data).to.deep.equal({ temperature: 21.5, humidity: 40.2, battery: 97, seq: 42 });
    expect(frame.id).to.be.a('string').with.length.greaterThan(10);
  });

  it('derives the same id for the same message, so a Lambda retry is recognisable as a duplicate', () => {
    expect(telemetryEnvelope(loadEvent('telemetry')).id).to.equal(telemetryEnvelope(loadEvent('telemetry')).id);
    const other = loadEvent('telemetry');
    other.seq = 43;
    expect(telemetryEnvelope(other).id).to.not.equal(telemetryEnvelope(loadEvent('telemetry')).id);
  });

  it('keys a device-supplied id by its device, so two devices never share an id', () => {
    const event = loadEvent<Record<string, unknown>>('telemetry');

    const own = telemetryEnvelope({ ...event, id: 'seq-100' }).id;
    const other = telemetryEnvelope({ ...event, deviceId: 'dev-2', id: 'seq-100' }).id;
    // Device ids may hold ":", so a ":" separator could collide ("a:b" + "c" and "a" + "b:c"); "/" cannot.
    const colonA = telemetryEnvelope({ ...event, deviceId: 'a:b', id: 'c' }).id;
    const colonB = telemetryEnvelope({ ...event, deviceId: 'a', id: 'b:c' }).id;

    expect(own).to.equal('dev-1/seq-100');
    expect(other).to.equal('dev-2/seq-100');
    expect(colonA).to.not.equal(colonB);
    expect(telemetryEnvelope({ ...event, id: 'seq-100' }).id).to.equal(own);
  });

  it('falls back to receivedAt when the device sends no numeric ts', () => {
    const event = loadEvent('telemetry');
    delete event.ts;
    expect(telemetryEnvelope(event).ts).to.equal(event.receivedAt);
  });

  it('rejects an event without a valid device id', () => {
    expect(() => telemetryEnvelope({ temperature: 1 })).to.throw(BadRequest);
    expect(() => telemetryEnvelope({ deviceId: 'a/b' })).to.throw(BadRequest);
    expect(() => telemetryEnvelope('text')).to.throw(BadRequest);
  });
});
