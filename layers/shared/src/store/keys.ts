/**
 * The connections table's keys, in one place (the table's layout: store/connectionStore.ts).
 *   connection:   pk = conn#{connectionId}   sk = meta
 *   subscription: pk = dev#{deviceId}        sk = {connectionId}    (deviceId "*" = every device)
 *   version:      pk = ver#{deviceId}        sk = version           (changes whenever dev#{deviceId} does)
 *   table-wide version: pk = ver             sk = version           (changes with every subscription change)
 */
export const connectionKey = (connectionId: string) => ({ pk: `conn#${connectionId}`, sk: 'meta' });

/** The partition of one subscription key's subscribers (a device id, or `*`). */
export const subscribersPartition = (key: string) => `dev#${key}`;

export const subscriptionKey = (deviceId: string, connectionId: string) => ({ pk: subscribersPartition(deviceId), sk: connectionId });

/** The version item of one subscription key (a device id, or `*`). */
export const versionKey = (key: string) => ({ pk: `ver#${key}`, sk: 'version' });

/** The subscription key a version item belongs to. */
export const keyOfVersion = (pk: string) => pk.slice('ver#'.length);

/** The table-wide version: written after the keys' versions by every subscription change. */
export const GLOBAL_VERSION_KEY = { pk: 'ver', sk: 'version' };
