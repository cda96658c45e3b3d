import { expect } from 'chai';
import fc from 'fast-check';
import { DashboardModel } from '../../dashboard/src/model.js';
import { fieldColor } from '../../dashboard/src/view/palette.js';

const T0 = 1_764_057_600_000;
const telemetry = (id: string, deviceId: string, ts: number, data: Record<string, unknown> = { temperature: 20 }) =>
  JSON.stringify({ type: 'telemetry', id, deviceId, ts, receivedAt: ts + 5, data });

describe('dashboard model (one server frame at a time)', () => {
  it('turns a resync frame into a refill of that device and range, and counts it', () => {
    const model = new DashboardModel({ scope: '*' });

    const outcome = model.receive(JSON.stringify({ type: 'resync', deviceId: 'dev-1', from: T0, to: T0 + 1000, id: 'r1', reason: 'shed' }), T0 + 5000);

    expect(outcome).to.deep.include({ kind: 'resync', deviceId: 'dev-1', from: T0, to: T0 + 1000 });
    expect((outcome as { requests: unknown[] }).requests).to.deep.equal([{ action: 'history', deviceId: 'dev-1', since: T0, until: T0 + 1000, maxPoints: 5000, requestId: (outcome as { requests: { requestId: string }[] }).requests[0]!.requestId }]);
    expect(model.counters).to.include({ resyncs: 1, duplicates: 0, invalid: 0 });
  });

  it('asks history for the range a seq gap misses, between the two readings, once the socket’s own fill is done', () => {
    const model = new DashboardModel({ scope: '*' });
    model.history.onOpen();
    model.receive(JSON.stringify({ type: 'snapshot', requestId: 'x', done: true, devices: [{ deviceId: 'dev-1', ts: T0 - 5000, receivedAt: T0 - 5000, data: { seq: 0 } }] }), T0);
    model.receive(JSON.stringify({ type: 'telemetry', id: 'a', deviceId: 'dev-1', ts: T0, receivedAt: T0, data: { seq: 1 } }), T0 + 10);

    const outcome = model.receive(JSON.stringify({ type: 'telemetry', id: 'c', deviceId: 'dev-1', ts: T0 + 2000, receivedAt: T0 + 2000, data: { seq: 3 } }), T0 + 2010);

    expect(outcome).to.deep.include({ kind: 'telemetry', deviceId: 'dev-1', gap: 1 });
    expect((outcome as { requests: { since: number; until: number }[] }).requests.map(({ since, until }) => ({ since, until }))).to.deep.equal([{ since: T0, until: T0 + 2000 }]);
  });

  it('drops a telemetry frame whose id it has already seen', () => {
    const model = new DashboardModel({ scope: '*' });
    model.receive(telemetry('m1', 'dev-1', T0, { temperature: 20 }), T0 + 10);

    // A Lambda retry delivers the same message again.
    const outcome = model.receive(telemetry('m1', 'dev-1', T0, { temperature: 20 }), T0 + 900);

    expect(outcome).to.deep.equal({ kind: 'duplicate', id: 'm1' });
    expect(model.counters).to.include({ telemetry: 1, duplicates: 1 });
    expect(model.store.device('dev-1')!.messages).to.equal(1);
    expect(model.store.device('dev-1')!.x).to.have.length(1);
  });

  it('keeps frames of two devices that carry the same id: duplicates are per (deviceId, id)', () => {
    // A device that reuses another's ids ("seq-100" …) must not blank that device out on the page.
    const model = new DashboardModel({ scope: '*' });
    model.receive(telemetry('seq-100', 'attacker', T0), T0 + 10);

    const victim = model.receive(telemetry('seq-100', 'victim', T0 + 1), T0 + 20);
    const repeat = model.receive(telemetry('seq-100', 'victim', T0 + 1), T0 + 30);

    expect(victim).to.deep.equal({ kind: 'telemetry', deviceId: 'victim' });
    expect(repeat.kind).to.equal('duplicate');
    expect(model.store.device('victim')!.messages).to.equal(1);
  });

  it('charts and colours any field name a device sends, Object.prototype names included (property)', () => {
    const fieldName = fc.oneof(
      fc.constantFrom('__defineGetter__', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'temperature', ''),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(fieldName, { minLength: 1, maxLength: 6 }), fc.double({ noNaN: true, noDefaultInfinity: true }), (fields, value) => {
        const model = new DashboardModel({ scope: '*' });
        // Built from JSON text, as frames arrive: JSON.parse makes "__proto__" an own field, like any other.
        const data = JSON.parse(`{${fields.map((f) => `${JSON.stringify(f)}:${JSON.stringify(value)}`).join(',')}}`);

        const outcome = model.receive(JSON.stringify({ type: 'telemetry', id: 'm1', deviceId: 'dev-1', ts: T0, receivedAt: T0, data }), T0 + 5);

        expect(outcome.kind).to.equal('telemetry');
        const device = model.store.device('dev-1')!;
        expect(Object.keys(device.latest).sort()).to.deep.equal([...fields].sort());
        for (const field of [...fields, ...device.fields]) expect(fieldColor(field)).to.match(/^#[0-9a-f]{6}$/);
      }),
      { numRuns: 300 },
    );
  });

  it('measures end-to-end latency as receive time minus the device ts', () => {
    const model = new DashboardModel({ scope: '*' });

    [40, 10, 30, 20].forEach((delay, i) => model.receive(telemetry(`m${i}`, 'dev-1', T0 + i * 1000), T0 + i * 1000 + delay));

    expect(model.latency.stats()).to.include({ count: 4, p50: 20, p95: 40 });
  });

  it('turns a server error frame into a notice for the user', () => {
    const model = new DashboardModel({ scope: '*' });

    const outcome = model.receive('{"type":"error","code":"bad_request","message":"unknown action \\"pong\\""}', T0);

    expect(outcome.kind).to.equal('error');
    expect(model.notices).to.have.length(1);
    expect(model.notices[0]).to.include({ code: 'bad_request', message: 'unknown action "pong"', count: 1 });
  });

  it('counts a repeated error up instead of stacking copies, and keeps only the latest few', () => {
    const model = new DashboardModel({ scope: '*', maxNotices: 3 });

    for (let i = 0; i < 3; i++) model.receive('{"type":"error","code":"internal","message":"boom"}', T0 + i);
    for (let i = 0; i < 4; i++) model.receive(`{"type":"error","code":"bad_request","message":"bad ${i}"}`, T0 + 10 + i);

    expect(model.notices.map((n) => n.message)).to.deep.equal(['bad 3', 'bad 2', 'bad 1']);
    model.receive('{"type":"error","code":"bad_request","message":"bad 2"}', T0 + 20);
    expect(model.notices[0]).to.include({ message: 'bad 2', count: 2 });
  });

  it('says which subscription change the server refused', () => {
    const model = new DashboardModel({ scope: ['dev-1'], devices: ['dev-1'] });
    model.subscriptions.onConnected(['dev-1']);
    model.subscriptions.subscribe('dev-9');
    model.subscriptions.next(T0);

    model.receive('{"type":"error","code":"forbidden","message":"dev-9 is outside your token\'s scope"}', T0);

    expect(model.notices[0].message).to.equal("subscribe dev-9 refused: dev-9 is outside your token's scope");
    expect(model.subscriptions.wants('dev-9')).to.equal(false);
  });

  it('lets the user dismiss a notice', () => {
    const model = new DashboardModel({ scope: '*' });
    model.receive('{"type":"error","code":"internal","message":"boom"}', T0);

    model.dismiss(model.notices[0].key);

    expect(model.notices).to.deep.equal([]);
  });

  it('updates the confirmed subscriptions from the server reply', () => {
    const model = new DashboardModel({ scope: '*', devices: ['a'] });
    model.subscriptions.onConnected(['a']);

    model.receive('{"type":"subscribed","devices":["b"],"subscriptions":["a","b"]}', T0);

    expect(model.subscriptions.confirmed()).to.deep.equal(['a', 'b']);
  });

  it('ignores frames it cannot read, counting them', () => {
    const model = new DashboardModel({ scope: '*' });

    const outcome = model.receive('{"type":"telemetry"}', T0);

    expect(outcome.kind).to.equal('invalid');
    expect(model.counters.invalid).to.equal(1);
    expect(model.store.size).to.equal(0);
  });

  it('lists seen devices and those a scoped token names, in natural order', () => {
    const model = new DashboardModel({ scope: ['dev-10', 'dev-2'] });

    model.receive(telemetry('m1', 'dev-1', T0), T0);

    expect(model.knownDevices()).to.deep.equal(['dev-1', 'dev-2', 'dev-10']);
  });

  it('reports the telemetry rate over the last seconds', () => {
    const model = new DashboardModel({ scope: '*' });

    for (let i = 0; i < 100; i++) model.receive(telemetry(`m${i}`, 'd', T0 + i * 100), T0 + i * 100);

    expect(model.rate(T0 + 9_999, 5_000)).to.equal(10);
    expect(model.rate(T0 + 60_000, 5_000)).to.equal(0);
  });
  it('treats each reading of a telemetry-batch frame exactly as a telemetry frame, duplicates across both kinds included', () => {
    const model = new DashboardModel({ scope: '*' });
    model.receive(telemetry('m1', 'dev-1', T0), T0 + 10);
    const reading = (id: string, deviceId: string, ts: number) => ({ id, deviceId, ts, receivedAt: ts + 5, data: { temperature: 21 } });

    const outcome = model.receive(
      JSON.stringify({ type: 'telemetry-batch', readings: [reading('m1', 'dev-1', T0), reading('m2', 'dev-1', T0 + 1000), reading('m3', 'dev-2', T0 + 1000), { id: 'no-data' }] }),
      T0 + 1100,
    );
    // A redelivered batch: every reading is a duplicate now.
    const again = model.receive(JSON.stringify({ type: 'telemetry-batch', readings: [reading('m2', 'dev-1', T0 + 1000), reading('m3', 'dev-2', T0 + 1000)] }), T0 + 2000);

    expect(outcome).to.deep.equal({
      kind: 'batch',
      invalid: 1,
      outcomes: [{ kind: 'duplicate', id: 'm1' }, { kind: 'telemetry', deviceId: 'dev-1' }, { kind: 'telemetry', deviceId: 'dev-2' }],
    });
    expect(again).to.deep.equal({ kind: 'batch', invalid: 0, outcomes: [{ kind: 'duplicate', id: 'm2' }, { kind: 'duplicate', id: 'm3' }] });
    expect(model.counters).to.include({ telemetry: 3, duplicates: 3, invalid: 1 });
    expect(model.store.device('dev-1')!.messages).to.equal(2);
    expect(model.store.device('dev-2')!.messages).to.equal(1);
  });
});
