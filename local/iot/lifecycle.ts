/**
 * IoT Core's connect/disconnect lifecycle events, from the local broker: for every MQTT client, the same
 * topics and fields as AWS IoT publishes
 * (https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html):
 *
 *   $aws/events/presence/connected/<clientId>
 *   $aws/events/presence/disconnected/<clientId>
 *   { clientId, timestamp, eventType, sessionIdentifier, principalIdentifier, versionNumber, ipAddress,
 *     clientInitiatedDisconnect, disconnectReason }   (the last two on disconnects only)
 *
 * versionNumber: one number per connection of a client id, shared by its connect and its disconnect, higher
 * for each new connection, reset to 0 once the client id has been disconnected for about an hour.
 * disconnectReason, as far as aedes tells them apart:
 *   CLIENT_INITIATED_DISCONNECT  the client sent DISCONNECT (clientInitiatedDisconnect: true)
 *   MQTT_KEEP_ALIVE_TIMEOUT      nothing from the client for 1.5 x its keep-alive (aedes' timer, the same rule)
 *   DUPLICATE_CLIENTID           another connection took the client id over
 *   CLIENT_ERROR                 a protocol error from the client
 *   SERVER_INITIATED_DISCONNECT  the local stack shut down
 *   CONNECTION_LOST              the socket closed or broke without DISCONNECT
 * Client ids that contain # or + get no events, as on AWS.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Aedes, Client } from 'aedes';

export const PRESENCE_TOPIC_PREFIX = '$aws/events/presence';
/** IoT Core resets a client id's versionNumber after "approximately one hour" disconnected. */
export const VERSION_RESET_AFTER_MS = 60 * 60_000;

export interface LifecycleEventPayload {
  clientId: string;
  timestamp: number;
  eventType: 'connected' | 'disconnected';
  sessionIdentifier: string;
  principalIdentifier: string;
  versionNumber: number;
  ipAddress?: string;
  clientInitiatedDisconnect?: boolean;
  disconnectReason?: string;
}

export interface LifecycleOptions {
  /** Publishes one event (to MQTT subscribers and to the rule engine). */
  emit: (topic: string, payload: LifecycleEventPayload) => void;
  now?: () => number;
  versionResetAfterMs?: number;
}

interface Connection {
  sessionIdentifier: string;
  principalIdentifier: string;
  versionNumber: number;
  ipAddress?: string;
  reason?: string;
}

interface ClientHistory {
  versionNumber: number;
  disconnectedAt?: number;
}

/** A stand-in for a certificate id: 64 hex characters, stable per MQTT user name (or client id without one). */
const principalOf = (client: Client): string =>
  createHash('sha256')
    .update(String((client as unknown as { _user?: unknown })._user ?? client.id))
    .digest('hex');

const addressOf = (client: Client): string | undefined => {
  const conn = client.conn as unknown as { remoteAddress?: string; socket?: { remoteAddress?: string } };
  return conn.remoteAddress ?? conn.socket?.remoteAddress;
};

export interface Lifecycle {
  /** Marks every connected client's coming disconnect as the server's (the stack is stopping). */
  shuttingDown(): void;
}

export const attachLifecycleEvents = (broker: Aedes, { emit, now = Date.now, versionResetAfterMs = VERSION_RESET_AFTER_MS }: LifecycleOptions): Lifecycle => {
  const connections = new Map<Client, Connection>();
  const history = new Map<string, ClientHistory>();
  let stopping = false;

  const eligible = (client: Client) => typeof client.id === 'string' && client.id !== '' && !/[#+]/.test(client.id);

  // A second CONNECT with a client id in use takes it over: aedes closes the first in registerClient, before it
  // emits 'client' for the second, so the takeover is seen here.
  const internals = broker as unknown as { registerClient(client: Client): void; clients: Record<string, Client | undefined> };
  const registerClient = internals.registerClient.bind(broker);
  internals.registerClient = (client: Client) => {
    const held = internals.clients[client.id];
    const connection = held && held !== client ? connections.get(held) : undefined;
    if (connection) connection.reason ??= 'DUPLICATE_CLIENTID';
    registerClient(client);
  };

  broker.on('client', (client) => {
    if (!eligible(client)) return;
    const at = now();
    const previous = history.get(client.id);
    const reset = previous?.disconnectedAt !== undefined && at - previous.disconnectedAt >= versionResetAfterMs;
    const versionNumber = previous && !reset ? previous.versionNumber + 1 : 0;
    history.set(client.id, { versionNumber });
    const connection: Connection = { sessionIdentifier: randomUUID(), principalIdentifier: principalOf(client), versionNumber, ipAddress: addressOf(client) };
    connections.set(client, connection);
    emit(`${PRESENCE_TOPIC_PREFIX}/connected/${client.id}`, {
      clientId: client.id,
      timestamp: at,
      eventType: 'connected',
      sessionIdentifier: connection.sessionIdentifier,
      principalIdentifier: connection.principalIdentifier,
      ...(connection.ipAddress ? { ipAddress: connection.ipAddress } : {}),
      versionNumber,
    });
  });

  broker.on('keepaliveTimeout', (client) => {
    const connection = connections.get(client);
    if (connection) connection.reason ??= 'MQTT_KEEP_ALIVE_TIMEOUT';
  });

  broker.on('clientError', (client, error) => {
    const connection = client ? connections.get(client) : undefined;
    // A socket that breaks (ECONNRESET, EPIPE) is a lost connection; anything else is the client's protocol error.
    if (connection && !/ECONNRESET|EPIPE|ETIMEDOUT|write after end|keep alive timeout/i.test(`${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`)) connection.reason ??= 'CLIENT_ERROR';
  });

  broker.on('clientDisconnect', (client) => {
    const connection = connections.get(client);
    if (!connection) return;
    connections.delete(client);
    const at = now();
    const held = history.get(client.id);
    if (held && held.versionNumber === connection.versionNumber) held.disconnectedAt = at;
    const clean = (client as unknown as { _disconnected?: boolean })._disconnected === true;
    const reason = clean ? 'CLIENT_INITIATED_DISCONNECT' : (connection.reason ?? (stopping ? 'SERVER_INITIATED_DISCONNECT' : 'CONNECTION_LOST'));
    emit(`${PRESENCE_TOPIC_PREFIX}/disconnected/${client.id}`, {
      clientId: client.id,
      timestamp: at,
      eventType: 'disconnected',
      sessionIdentifier: connection.sessionIdentifier,
      principalIdentifier: connection.principalIdentifier,
      ...(connection.ipAddress ? { ipAddress: connection.ipAddress } : {}),
      versionNumber: connection.versionNumber,
      clientInitiatedDisconnect: clean,
      disconnectReason: reason,
    });
  });

  return {
    shuttingDown() {
      stopping = true;
    },
  };
};
