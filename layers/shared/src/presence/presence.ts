/**
 * The presence function: the target of the template's PresenceConnectedRule and PresenceDisconnectedRule, which select IoT Core's lifecycle events
 * (`$aws/events/presence/connected/+` and `$aws/events/presence/disconnected/+`). It keeps each device's
 * presence (./presenceStore.ts, ordered by ./lifecycle.ts) and fans a `presence` frame out to every connection
 * that can see the device: its subscribers and the every-device ones, the same lookup as its telemetry.
 *
 * An invalid event (a client id that is not a device id, a missing field) is logged and dropped: a retry
 * cannot fix it. A duplicate or an older event changes nothing and sends nothing.
 */
import type { Counter, Log } from '../runtime/observability.js';
import type { ConnectionStore } from '../store/connectionStore.js';
import { InvalidLifecycleEvent, parseLifecycleEvent, presenceFrame, presenceRecord } from './lifecycle.js';
import type { PresenceStore } from './presenceStore.js';

/** What a fan-out reports (fanout/fanOut.ts FanOutResult; presence sits below fanout, so it names only what it reads). */
export interface DeliveryCounts {
  recipients: number;
  delivered: number;
  gone: number;
  failed: number;
  retried: number;
}

/** The fan-out (fanout/fanOut.ts `deliver`): one frame to every connection the pages name. */
export interface PresenceDelivery {
  deliver(pages: AsyncIterable<readonly string[]>, body: string): Promise<DeliveryCounts>;
}

export interface PresenceOutcome extends Partial<DeliveryCounts> {
  status: 'fanned-out' | 'stale' | 'rejected';
  deviceId?: string;
  state?: 'online' | 'offline';
}

export const createPresenceHandler =
  ({ presence, store, fanOut, log, counter }: { presence: PresenceStore; store: Pick<ConnectionStore, 'recipientPages'>; fanOut: PresenceDelivery; log: Log; counter: Counter }) =>
  async (event: unknown): Promise<PresenceOutcome> => {
    let lifecycle;
    try {
      lifecycle = parseLifecycleEvent(event);
    } catch (error) {
      if (!(error instanceof InvalidLifecycleEvent)) throw error;
      log.warn('dropped an invalid lifecycle event', { reason: error.message });
      counter.count('InvalidLifecycleEvent', 1);
      return { status: 'rejected' };
    }
    const deviceId = lifecycle.clientId;
    const record = presenceRecord(lifecycle);
    if (!(await presence.record(deviceId, record))) {
      log.info('ignored a duplicate or older lifecycle event', { deviceId, eventType: lifecycle.eventType, versionNumber: lifecycle.versionNumber, timestamp: lifecycle.timestamp });
      counter.count('PresenceStale', 1);
      return { status: 'stale', deviceId, state: record.state };
    }
    const result = await fanOut.deliver(store.recipientPages(deviceId), JSON.stringify(presenceFrame(deviceId, record)));
    counter.count(record.state === 'online' ? 'DeviceConnected' : 'DeviceDisconnected', 1);
    log.info('fanned out presence', { deviceId, state: record.state, reason: record.reason, versionNumber: lifecycle.versionNumber, ...result });
    return { status: 'fanned-out', deviceId, state: record.state, ...result };
  };
