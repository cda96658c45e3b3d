/**
 * What each route does, as factories that take their clients.
 * Handlers in functions/ only build the clients and the middy chain.
 */
import { ANONYMOUS, type Principal, assertInScope, principalFromContext } from '../auth/principal.js';
import type { ConnectionCloser } from '../connections/connectionExpiry.js';
import type { ConnectionStore } from '../store/connectionStore.js';
import { broadcastRecipientPages } from '../recipients/broadcastAudience.js';
import { type DevicesStore, postSnapshot } from '../history/devices.js';
import { BadRequest, Forbidden, NotFound, RateLimited, Unauthorized } from '../protocol/errors.js';
import { type FanOut, type FanOutResult, fanOutDeadline } from '../fanout/fanOut.js';
import { type PostToConnection } from '../protocol/postToConnection.js';
import {
  ACTIONS,
  ALL_DEVICES,
  type ClientFrame,
  MAX_SUBSCRIPTIONS_PER_CONNECTION,
  type DeviceSelection,
  type MessageFrame,
  isPlainObject,
  validateClientFrame,
  validateDeviceSelection,
} from '../protocol/frames.js';
import type { WsEvent, WsResult } from '../runtime/middleware.js';
import { ok } from '../runtime/middleware.js';
import type { Counter, Log } from '../runtime/observability.js';
import type { HandOn } from '../fanout/handOn.js';
import type { RateLimiter } from '../store/rateLimit.js';
import type { HolderConnections } from '../store/holderConnections.js';
import { telemetryEnvelope } from '../protocol/telemetryEnvelope.js';

/** The part of the Lambda context a fan-out needs: its time left. */
type LambdaClock = { getRemainingTimeInMillis?: () => number };

export interface RouteDeps {
  store: ConnectionStore;
  log: Log;
}

const frameOf = <A extends ClientFrame['action']>(event: WsEvent, action: A): Extract<ClientFrame, { action: A }> => {
  const frame = validateClientFrame(event.frame ?? {});
  if (frame.action !== action) throw new BadRequest(`this route takes "${action}" frames, got "${frame.action}"`);
  return frame as Extract<ClientFrame, { action: A }>;
};

const requireConnection = async (store: ConnectionStore, connectionId: string) => {
  const connection = await store.getConnection(connectionId);
  if (!connection) throw new NotFound('this connection is not registered (it may have expired); reconnect');
  return connection;
};

/**
 * $connect: store the connection with the token's scope, and subscribe it to
 * `?devices=a,b` (or, with none given, to everything its token covers).
 */
export const createConnectRoute =
  ({ store, log, requireAuth, holders }: RouteDeps & { requireAuth: boolean; holders?: HolderConnections }) =>
  async (event: WsEvent): Promise<WsResult> => {
    const { connectionId } = event.requestContext;
    let principal: Principal | undefined = principalFromContext(event.requestContext.authorizer);
    if (!principal) {
      if (requireAuth) throw new Unauthorized('no authorizer context: $connect must be behind the token authorizer');
      principal = ANONYMOUS;
    }
    const requested = event.queryStringParameters?.devices;
    let devices: DeviceSelection = principal.devices;
    if (requested !== undefined && requested !== '') {
      devices = validateDeviceSelection(requested === ALL_DEVICES ? ALL_DEVICES : requested.split(','));
      assertInScope(principal.devices, devices);
    } else if (devices !== ALL_DEVICES && devices.length > MAX_SUBSCRIPTIONS_PER_CONNECTION) {
      // A token may list up to MAX_SCOPE_DEVICES, a connection subscribe to fewer: it must say which.
      throw new BadRequest(
        `your token covers ${devices.length} devices, more than the ${MAX_SUBSCRIPTIONS_PER_CONNECTION} one connection may subscribe to: name them in ?devices=`,
      );
    }
    // At most `holders.max` live connections per token holder (a signed-in person, or a token's sub): one leaked token
    // cannot fill the table or spend the account's new-connection quota. Without auth there is no holder to count.
    let holderSlot: number | undefined;
    if (holders && holders.max > 0 && principal !== ANONYMOUS) {
      holderSlot = await holders.claim(principal.sub, connectionId);
      if (holderSlot === undefined) {
        log.warn('connect refused: too many connections for one token holder', { connectionId, sub: principal.sub, max: holders.max });
        throw new Forbidden(`at most ${holders.max} connections at once per user: close one (a dropped one frees its place when it expires)`);
      }
    }
    try {
      await store.putConnection({ connectionId, sub: principal.sub, scope: principal.devices, publish: principal.publish, ...(principal.alarms ? { alarms: true } : {}), devices, tokenExpiresAt: principal.exp, holderSlot });
    } catch (error) {
      if (holderSlot !== undefined) await holders!.release(principal.sub, holderSlot).catch(() => undefined);
      throw error;
    }
    log.info('connected', { connectionId, sub: principal.sub, devices });
    return ok();
  };

export const createDisconnectRoute =
  ({ store, log }: RouteDeps) =>
  async (event: WsEvent): Promise<WsResult> => {
    const { connectionId } = event.requestContext;
    await store.removeConnection(connectionId);
    log.info('disconnected', { connectionId, reason: event.requestContext.disconnectReason });
    return ok();
  };

/**
 * With `snapshot`, the latest reading of each newly subscribed device goes to the sender first
 * (a `snapshot` frame through @connections), then the `subscribed` route response.
 */
export const createSubscribeRoute =
  ({ store, snapshot, log }: RouteDeps & { snapshot?: { devices: DevicesStore; post: PostToConnection } }) =>
  async (event: WsEvent): Promise<WsResult> => {
    const { devices } = frameOf(event, 'subscribe');
    const connection = await requireConnection(store, event.requestContext.connectionId);
    // Scope first: a subscription outside the token's devices is refused and nothing is stored.
    assertInScope(connection.scope, devices);
    const subscriptions = await store.subscribe(connection.connectionId, devices);
    if (snapshot) {
      // The subscription stands even if the snapshot cannot be sent: a client can ask again with "devices".
      await postSnapshot(snapshot.devices, snapshot.post, connection, devices).catch((error: Error) =>
        log.warn('no snapshot after subscribe', { connectionId: connection.connectionId, reason: `${error.name}: ${error.message}` }),
      );
    }
    return ok({ type: 'subscribed', devices, subscriptions });
  };

export const createUnsubscribeRoute =
  ({ store }: RouteDeps) =>
  async (event: WsEvent): Promise<WsResult> => {
    const { devices } = frameOf(event, 'unsubscribe');
    const connection = await requireConnection(store, event.requestContext.connectionId);
    const subscriptions = await store.unsubscribe(connection.connectionId, devices);
    return ok({ type: 'unsubscribed', devices, subscriptions });
  };

export const createPingRoute =
  ({ store, now = Date.now }: RouteDeps & { now?: () => number }) =>
  async (event: WsEvent): Promise<WsResult> => {
    frameOf(event, 'ping');
    if (!(await store.touch(event.requestContext.connectionId))) {
      throw new NotFound('this connection is not registered (it may have expired); reconnect');
    }
    return ok({ type: 'pong', ts: now() });
  };

/** $default: anything route selection could not place. Always an error frame that lists the valid actions. */
export const createDefaultRoute = () => async (event: WsEvent): Promise<WsResult> => {
  const action = event.frame?.action;
  if (typeof action === 'string' && (ACTIONS as readonly string[]).includes(action)) {
    // A known action can only land here if the route is missing from the API.
    throw new BadRequest(`action "${action}" is not routed on this API; valid actions: ${ACTIONS.join(', ')}`);
  }
  validateClientFrame(event.frame ?? {});
  throw new BadRequest(`unknown action; valid actions: ${ACTIONS.join(', ')}`);
};

/**
 * `message`: the original design's broadcast, gated by the token's `publish` claim, limited per token
 * holder (`limiter`), and heard only by connections whose subscriptions overlap the publisher's scope
 * (broadcastAudience.ts).
 */
export const createMessageRoute =
  ({
    store,
    fanOut,
    log,
    now = Date.now,
    newId,
    closer,
    limiter,
  }: RouteDeps & { fanOut: FanOut; now?: () => number; newId: () => string; closer?: ConnectionCloser; limiter?: RateLimiter }) =>
  async (event: WsEvent, context?: LambdaClock): Promise<WsResult> => {
    const { data } = frameOf(event, 'message');
    const { connectionId } = event.requestContext;
    const connection = await requireConnection(store, connectionId);
    if (!connection.publish) throw new Forbidden('your token does not allow publishing messages');
    const decision = await limiter?.(connection.sub);
    if (decision && !decision.allowed) {
      throw new RateLimited(
        `too many messages: at most ${limiter!.perMinute} a minute, in bursts of ${limiter!.burst}, per token holder; retry in ${Math.ceil((decision.retryAfterMs ?? 1000) / 1000)} s`,
      );
    }
    const frame: MessageFrame = { type: 'message', id: event.requestContext.messageId ?? newId(), from: connection.sub, ts: now(), data };
    const expired = closer?.collect();
    const result = await fanOut.deliver(broadcastRecipientPages(store, connection.scope, { expired: expired?.expired }), JSON.stringify(frame), connectionId, {
      deadline: fanOutDeadline(context),
    });
    const closed = await expired?.settle();
    if (result.rejected) throw new BadRequest('message too large to broadcast');
    log.info('broadcast a message', { ...result, ...(closed ? { expiredClosed: closed.closed + closed.gone } : {}) });
    return ok({ type: 'sent', id: frame.id, recipients: result.recipients, delivered: result.delivered });
  };
