import { expect } from 'chai';
import { MAX_DEVICES_PER_FRAME, REPLY_TIMEOUT_MS, SubscriptionPlanner } from '../../dashboard/src/subscriptions.js';

const NOW = 1_000_000;

describe('dashboard subscriptions (what the user wants vs what the server holds)', () => {
  it('connects without naming devices in "all" mode, and is then in sync', () => {
    const planner = new SubscriptionPlanner('*');

    const devices = planner.connectDevices();
    planner.onConnected(devices);

    expect(devices).to.equal(undefined);
    expect(planner.next(NOW)).to.equal(undefined);
    expect(planner.receives('any-device')).to.equal(true);
  });

  it('sends nothing while disconnected', () => {
    const planner = new SubscriptionPlanner('*');

    planner.unsubscribe('dev-1', ['dev-1', 'dev-2']);

    expect(planner.next(NOW)).to.equal(undefined);
  });

  it('leaves "*" first, then subscribes the devices the user keeps, one frame at a time', () => {
    // Arrange: connected to everything, three devices on screen.
    const planner = new SubscriptionPlanner('*');
    planner.onConnected(undefined);

    // Act: the user unsubscribes dev-2.
    planner.unsubscribe('dev-2', ['dev-1', 'dev-2', 'dev-3']);
    const first = planner.next(NOW);
    const whileWaiting = planner.next(NOW + 10);
    planner.onReply({ type: 'unsubscribed', devices: '*', subscriptions: [] });
    const second = planner.next(NOW + 20);
    planner.onReply({ type: 'subscribed', devices: ['dev-1', 'dev-3'], subscriptions: ['dev-1', 'dev-3'] });

    // Assert
    expect(first).to.deep.equal({ action: 'unsubscribe', devices: '*' });
    expect(whileWaiting).to.equal(undefined);
    expect(second).to.deep.equal({ action: 'subscribe', devices: ['dev-1', 'dev-3'] });
    expect(planner.next(NOW + 30)).to.equal(undefined);
    expect(planner.wants('dev-2')).to.equal(false);
    expect(planner.receives('dev-2')).to.equal(false);
    expect(planner.receives('dev-1')).to.equal(true);
  });

  it('unsubscribes and resubscribes a single device once "*" is gone', () => {
    const planner = new SubscriptionPlanner('*', ['dev-1', 'dev-2']);
    planner.onConnected(planner.connectDevices());

    planner.unsubscribe('dev-1', []);
    const off = planner.next(NOW);
    planner.onReply({ type: 'unsubscribed', devices: ['dev-1'], subscriptions: ['dev-2'] });
    planner.subscribe('dev-1');
    const on = planner.next(NOW);

    expect(off).to.deep.equal({ action: 'unsubscribe', devices: ['dev-1'] });
    expect(on).to.deep.equal({ action: 'subscribe', devices: ['dev-1'] });
  });

  it('returns to "*" when the user asks for every device again', () => {
    const planner = new SubscriptionPlanner('*', ['dev-1']);
    planner.onConnected(['dev-1']);

    planner.subscribeAll();

    expect(planner.mode).to.equal('all');
    expect(planner.next(NOW)).to.deep.equal({ action: 'subscribe', devices: '*' });
  });

  it('reconnects with the chosen devices in the url, so no frame is needed afterwards', () => {
    const planner = new SubscriptionPlanner('*', ['dev-3', 'dev-1']);
    planner.onConnected(planner.connectDevices());
    planner.onDisconnected();

    const devices = planner.connectDevices();
    planner.onConnected(devices);

    expect(devices).to.deep.equal(['dev-1', 'dev-3']);
    expect(planner.next(NOW)).to.equal(undefined);
  });

  it('resubscribes after a reconnect whose url could not carry the devices', () => {
    // More devices than a connect url (and one frame) may name.
    const many = Array.from({ length: MAX_DEVICES_PER_FRAME + 5 }, (_, i) => `dev-${String(i).padStart(3, '0')}`);
    const planner = new SubscriptionPlanner('*', many);

    planner.onConnected(planner.connectDevices());
    const first = planner.next(NOW);
    planner.onReply({ type: 'unsubscribed', devices: '*', subscriptions: [] });
    const second = planner.next(NOW);
    planner.onReply({ type: 'subscribed', devices: many.slice(0, MAX_DEVICES_PER_FRAME), subscriptions: many.slice(0, MAX_DEVICES_PER_FRAME) });
    const third = planner.next(NOW);

    expect(first).to.deep.equal({ action: 'unsubscribe', devices: '*' });
    expect(second).to.deep.equal({ action: 'subscribe', devices: many.slice(0, MAX_DEVICES_PER_FRAME) });
    expect(third).to.deep.equal({ action: 'subscribe', devices: many.slice(MAX_DEVICES_PER_FRAME) });
  });

  it('falls back to what the server holds when it refuses a change, instead of retrying it forever', () => {
    const planner = new SubscriptionPlanner(['dev-1'], ['dev-1']);
    planner.onConnected(['dev-1']);
    planner.subscribe('dev-9');
    const sent = planner.next(NOW);

    const refused = planner.onError();

    expect(sent).to.deep.equal({ action: 'subscribe', devices: ['dev-9'] });
    expect(refused).to.deep.equal(sent);
    expect(planner.wants('dev-9')).to.equal(false);
    expect(planner.next(NOW + 1)).to.equal(undefined);
  });

  it('does not blame an error on a subscription when none is in flight', () => {
    const planner = new SubscriptionPlanner('*');
    planner.onConnected(undefined);

    expect(planner.onError()).to.equal(undefined);
    expect(planner.mode).to.equal('all');
  });

  it('sends a change again when its reply never came', () => {
    const planner = new SubscriptionPlanner('*', ['a']);
    planner.onConnected(['a']);
    planner.subscribe('b');
    const first = planner.next(NOW);

    const tooSoon = planner.next(NOW + REPLY_TIMEOUT_MS - 1);
    const again = planner.next(NOW + REPLY_TIMEOUT_MS);

    expect(first).to.deep.equal({ action: 'subscribe', devices: ['b'] });
    expect(tooSoon).to.equal(undefined);
    expect(again).to.deep.equal(first);
  });

  it('with a token scoped to some devices, "all" means those devices and never sends "*"', () => {
    const planner = new SubscriptionPlanner(['dev-1', 'dev-2']);
    planner.onConnected(undefined); // $connect subscribed the token's devices

    planner.unsubscribe('dev-1', ['dev-1', 'dev-2']);
    const off = planner.next(NOW);
    planner.onReply({ type: 'unsubscribed', devices: ['dev-1'], subscriptions: ['dev-2'] });
    planner.subscribeAll();
    const on = planner.next(NOW);

    expect(planner.wants('dev-3')).to.equal(false);
    expect(off).to.deep.equal({ action: 'unsubscribe', devices: ['dev-1'] });
    expect(on).to.deep.equal({ action: 'subscribe', devices: ['dev-1'] });
  });

  it('applies a reply that lacks the subscriptions list (the shape docs/asyncapi.yaml requires) itself', () => {
    const planner = new SubscriptionPlanner('*', ['a', 'b']);
    planner.onConnected(['a', 'b']);

    planner.onReply({ type: 'unsubscribed', devices: ['a'] });
    planner.onReply({ type: 'subscribed', devices: ['c'] });

    expect(planner.confirmed()).to.deep.equal(['b', 'c']);
  });

  it('names only in-scope devices in the connect URL; an out-of-scope one is asked for by a subscribe frame, whose refusal falls back', () => {
    // $connect refuses a whole connection (403) for a device outside the token; a subscribe frame gets a visible forbidden.
    const planner = new SubscriptionPlanner(['dev-1', 'dev-2'], ['dev-1', 'dev-9']);

    expect(planner.connectDevices()).to.deep.equal(['dev-1']);
    planner.onConnected(planner.connectDevices());
    expect(planner.next(0)).to.deep.equal({ action: 'subscribe', devices: ['dev-9'] });
    expect(planner.onError()).to.deep.equal({ action: 'subscribe', devices: ['dev-9'] });
    expect(planner.next(1)).to.equal(undefined);
    expect(new SubscriptionPlanner(['dev-1'], ['dev-9']).connectDevices()).to.equal(undefined);
  });
});
