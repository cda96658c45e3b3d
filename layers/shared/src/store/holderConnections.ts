/**
 * A cap on the live connections of one token holder (`sub`), in the connections table: `max` slots per holder,
 *   slot: pk = holder#{sub}   sk = slot#{n}   (n < max; connectionId, expiresAt)
 * A connection takes a free slot at $connect by a conditional Put (free: absent, or past its expiresAt), so 300
 * connects at once with one token take at most `max` slots, whatever their order; the next one is refused (403).
 * The slot is released with the connection (store/connectionStore.ts removeConnection: $disconnect, a 410, the
 * expiry sweeper). A socket dropped without any of them frees its slot at expiresAt: `ttlSeconds` after the connect,
 * past API Gateway's 2-hour maximum connection duration, so no live connection's slot is ever taken over.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html
 *
 * The read before the writes only orders the tries (free slots first) and refuses a full holder for one read
 * instead of `max` failed writes; the conditional Put decides.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';

export const holderPartition = (sub: string) => `holder#${sub}`;
export const holderSlotKey = (sub: string, slot: number) => ({ pk: holderPartition(sub), sk: `slot#${slot}` });

export interface HolderConnectionsOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** Live connections one holder may keep; 0: no cap. */
  max: number;
  /** Seconds a slot lives without a release: longer than API Gateway's 2 h maximum connection duration. */
  ttlSeconds?: number;
  now?: () => number;
  random?: () => number;
}

export interface HolderConnections {
  readonly max: number;
  /** Takes a slot for `connectionId`: its number, or undefined when the holder has `max` live connections. */
  claim(sub: string, connectionId: string): Promise<number | undefined>;
  /** Frees a slot (a connect that failed after its claim). BatchWriteItem: the permission the routes already hold. */
  release(sub: string, slot: number): Promise<void>;
}

const failedCondition = (error: unknown) => error instanceof ConditionalCheckFailedException || (error as Error)?.name === 'ConditionalCheckFailedException';

/** 2 h 10 min: API Gateway's 2-hour connection limit, and the connections' own first TTL (connectionStore.ts). */
export const HOLDER_SLOT_TTL_SECONDS = 2 * 60 * 60 + 10 * 60;

export const createHolderConnections = ({ doc, tableName, max, ttlSeconds = HOLDER_SLOT_TTL_SECONDS, now = Date.now, random = Math.random }: HolderConnectionsOptions): HolderConnections => ({
  max,
  async claim(sub, connectionId) {
    const nowS = Math.floor(now() / 1000);
    const out = await doc.send(
      new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': holderPartition(sub) }, ConsistentRead: true }),
    );
    const taken = new Set<number>();
    for (const item of out.Items ?? []) if ((item.expiresAt as number) > nowS) taken.add(Number(String(item.sk).slice('slot#'.length)));
    // Free slots from a random one on: concurrent connects of one holder mostly try different slots first.
    const start = Math.floor(random() * max);
    const free: number[] = [];
    for (let i = 0; i < max; i++) if (!taken.has((start + i) % max)) free.push((start + i) % max);
    for (const slot of free) {
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: { ...holderSlotKey(sub, slot), connectionId, expiresAt: nowS + ttlSeconds },
            ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
            ExpressionAttributeValues: { ':now': nowS },
          }),
        );
        return slot;
      } catch (error) {
        if (!failedCondition(error)) throw error;
      }
    }
    return undefined;
  },
  async release(sub, slot) {
    await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: [{ DeleteRequest: { Key: holderSlotKey(sub, slot) } }] } }));
  },
});
