/**
 * The one subscriber query: the live and expired subscribers of one subscription key (`dev#{key}`), page
 * by page. Expired items are returned too (DynamoDB's TTL deletes late), so that a caller can report them
 * for closing (connections/connectionExpiry.ts); the read units are the same either way.
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { subscribersPartition } from './keys.js';

export interface StoreUsage {
  requests: number;
  readUnits: number;
}

export interface Subscriber {
  connectionId: string;
  /** Epoch seconds. */
  expiresAt: number;
}

export interface SubscriberQuery {
  doc: DynamoDBDocumentClient;
  tableName: string;
  key: string;
  /** Start after this connection id (sort keys ascend). */
  startAfter?: string;
  pageSize?: number;
  consistentRead?: boolean;
  /** Every tally given is charged the requests and read units. */
  tallies: StoreUsage[];
}

export async function* subscriberPages({ doc, tableName, key, startAfter, pageSize, consistentRead, tallies }: SubscriberQuery): AsyncGenerator<Subscriber[]> {
  const pk = subscribersPartition(key);
  let ExclusiveStartKey: Record<string, unknown> | undefined = startAfter !== undefined ? { pk, sk: startAfter } : undefined;
  do {
    for (const tally of tallies) tally.requests++;
    const out = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ProjectionExpression: 'sk, expiresAt',
        ExpressionAttributeValues: { ':pk': pk },
        ...(consistentRead ? { ConsistentRead: true } : {}),
        ExclusiveStartKey,
        Limit: pageSize,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    const units = out.ConsumedCapacity?.CapacityUnits ?? 0;
    for (const tally of tallies) tally.readUnits += units;
    ExclusiveStartKey = out.LastEvaluatedKey;
    yield (out.Items ?? []).map((item) => ({ connectionId: item.sk as string, expiresAt: item.expiresAt as number }));
  } while (ExclusiveStartKey);
}
