/**
 * A rate limit shared by every connection of one token holder (`sub`), kept in
 * DynamoDB so that it holds across Lambda containers: a token bucket, written
 * as GCRA (the generic cell rate algorithm), so that each decision is one or
 * two conditional writes and never a read-modify-write race.
 *
 * The item keeps `tat`, the "theoretical arrival time" (epoch ms): when the
 * bucket will be full again. A request is allowed when tat - now stays within
 * the burst; it then moves tat one interval on. DynamoDB has no max(), so the
 * two cases are two conditions:
 *   1. the bucket is full (tat <= now):  tat := now + interval
 *   2. it is not, but has room:          tat := tat + interval, if tat <= now + burst·interval - interval
 * Both failing means the bucket is empty: refused, and nothing is written.
 * https://en.wikipedia.org/wiki/Generic_cell_rate_algorithm
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

export interface RateLimit {
  /** Requests per minute, sustained. */
  perMinute: number;
  /** Requests allowed at once after a quiet spell. */
  burst: number;
}

export interface RateLimiterOptions extends RateLimit {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** What is limited, for the key: `message`. */
  name: string;
  now?: () => number;
}

export interface RateDecision {
  allowed: boolean;
  /** When refused: about how long until one more request is allowed. */
  retryAfterMs?: number;
}

const failedCondition = (error: unknown) => error instanceof ConditionalCheckFailedException || (error as Error)?.name === 'ConditionalCheckFailedException';

export const createRateLimiter = ({ doc, tableName, name, perMinute, burst, now = Date.now }: RateLimiterOptions) => {
  if (!(perMinute > 0) || !(burst >= 1)) throw new Error(`rate limit ${name}: perMinute must be > 0 and burst >= 1`);
  const interval = 60_000 / perMinute;
  const update = async (key: string, UpdateExpression: string, ConditionExpression: string, values: Record<string, unknown>) => {
    try {
      await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: `rate#${key}`, sk: name },
          UpdateExpression,
          ConditionExpression,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (failedCondition(error)) return false;
      throw error;
    }
  };

  const check = async (key: string): Promise<RateDecision> => {
    const t = now();
    // The item lives until its bucket would be full again (the table's TTL attribute, in seconds).
    const expiresAt = Math.ceil((t + burst * interval) / 1000) + 60;
    if (await update(key, 'SET tat = :next, expiresAt = :e', 'attribute_not_exists(tat) OR tat <= :now', { ':next': t + interval, ':now': t, ':e': expiresAt })) {
      return { allowed: true };
    }
    const limit = t + burst * interval - interval;
    if (await update(key, 'SET tat = tat + :i, expiresAt = :e', 'tat <= :limit', { ':i': interval, ':limit': limit, ':e': expiresAt })) {
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil(interval) };
  };
  return Object.assign(check, { perMinute, burst });
};

export type RateLimiter = ReturnType<typeof createRateLimiter>;
