/**
 * Each device's presence, kept in DevicesTable beside its latest reading (history/devices.ts), as one map
 * attribute `presence` of the device's item. A device that connected but never reported has an item with
 * presence only, so the `devices` snapshot (one Scan, one cursor) lists it too.
 *
 * Ordering lives in one pure function (lifecycle.ts `supersedes`); the store reads the held presence, decides,
 * and writes with a condition that the held presence is still what it read (optimistic concurrency): two
 * events of one device handled at once by two invocations never both win.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type PresenceRecord, VERSION_RESET_GAP_MS, supersedes } from './lifecycle.js';

export interface PresenceStore {
  /** Keeps `record` unless a newer presence is held; true when it was kept (and should be fanned out). */
  record(deviceId: string, record: PresenceRecord): Promise<boolean>;
}

export interface PresenceStoreOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** The item's TTL (expiresAt) is pushed to this long after a presence event: a connected device stays listed. */
  retentionDays?: number;
  resetGapMs?: number;
  /** Conflicting writes retried this many times before giving up (the event is then retried by Lambda). */
  maxAttempts?: number;
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException';

export const heldPresence = (item: Record<string, unknown> | undefined): PresenceRecord | undefined => {
  const p = item?.presence as Record<string, unknown> | undefined;
  if (!p || (p.state !== 'online' && p.state !== 'offline') || typeof p.since !== 'number' || typeof p.versionNumber !== 'number') return undefined;
  return {
    state: p.state,
    since: p.since,
    eventType: p.eventType === 'disconnected' ? 'disconnected' : 'connected',
    versionNumber: p.versionNumber,
    ...(typeof p.reason === 'string' ? { reason: p.reason } : {}),
    ...(typeof p.sessionIdentifier === 'string' ? { sessionIdentifier: p.sessionIdentifier } : {}),
  };
};

export const createPresenceStore = ({ doc, tableName, retentionDays = 7, resetGapMs = VERSION_RESET_GAP_MS, maxAttempts = 5 }: PresenceStoreOptions): PresenceStore => ({
  async record(deviceId, record) {
    for (let attempt = 1; ; attempt++) {
      const res = await doc.send(new GetCommand({ TableName: tableName, Key: { deviceId }, ProjectionExpression: 'presence', ConsistentRead: true }));
      const held = heldPresence(res.Item);
      if (!supersedes(record, held, resetGapMs)) return false;
      const expiresAt = Math.floor(record.since / 1000) + retentionDays * 86_400;
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { deviceId },
            // The TTL follows the newest event or reading, whichever wrote last (both are "now" give or take a second).
            UpdateExpression: 'SET presence = :p, expiresAt = :e',
            ...(held
              ? {
                  ConditionExpression: 'presence.versionNumber = :hv AND presence.since = :hs AND presence.eventType = :he',
                  ExpressionAttributeValues: { ':p': record, ':e': expiresAt, ':hv': held.versionNumber, ':hs': held.since, ':he': held.eventType },
                }
              : { ConditionExpression: 'attribute_not_exists(presence)', ExpressionAttributeValues: { ':p': record, ':e': expiresAt } }),
          }),
        );
        return true;
      } catch (error) {
        if (!isConditionFailure(error) || attempt >= maxAttempts) throw error;
      }
    }
  },
});
