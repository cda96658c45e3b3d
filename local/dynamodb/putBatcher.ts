/**
 * The local rule engine's DynamoDBv2 writes, batched: IoT Core's DynamoDBv2 action is one PutItem per message
 * (https://docs.aws.amazon.com/iot/latest/developerguide/dynamodb-v2-rule-action.html); locally one PutItem per
 * reading costs a full SDK request and a dynalite request on the stack's main thread, which the gateway, the
 * broker and the @connections API share (at 500 readings/s, about a fifth of that thread). Puts that arrive
 * within `lingerMs` of each other travel in one BatchWriteItem (up to 25, DynamoDB's limit), with the same
 * outcome per item: each caller's promise settles for its own item. A batch DynamoDB refuses as a whole (one
 * item it cannot hold, two puts of one key) is retried item by item, so a bad reading fails alone, with
 * PutItem's own error, exactly as IoT Core's action would.
 */
import { BatchWriteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';

// BatchWriteItem takes at most 25 put or delete requests.
export const BATCH_WRITE_LIMIT = 25;

interface Pending {
  item: Record<string, unknown>;
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface PutBatcherOptions {
  doc: DynamoDBDocumentClient;
  /** How long a put waits for company before its batch goes (ms). */
  lingerMs?: number;
  /** Attempts for items DynamoDB leaves unprocessed (throttling). */
  maxAttempts?: number;
}

export interface PutBatcher {
  put(tableName: string, item: Record<string, unknown>): Promise<void>;
  /** Sends what waits now; resolves when it is written. */
  flush(): Promise<void>;
}

export const createPutBatcher = ({ doc, lingerMs = 5, maxAttempts = 5 }: PutBatcherOptions): PutBatcher => {
  const queues = new Map<string, Pending[]>();
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();

  const putOne = (tableName: string, p: Pending) =>
    doc.send(new PutCommand({ TableName: tableName, Item: p.item })).then(
      () => p.resolve(),
      (error: Error) => p.reject(error),
    );

  const sendBatch = async (tableName: string, batch: Pending[]): Promise<void> => {
    if (batch.length === 1) return putOne(tableName, batch[0]!);
    let left = batch;
    for (let attempt = 1; left.length > 0; attempt++) {
      let unprocessed: Record<string, unknown>[];
      try {
        const res = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: left.map((p) => ({ PutRequest: { Item: p.item } })) } }));
        unprocessed = (res.UnprocessedItems?.[tableName] ?? []).map((r) => r.PutRequest?.Item as Record<string, unknown>);
      } catch (error) {
        // Refused as a whole: each item on its own, so each gets its own outcome.
        await Promise.all(left.map((p) => putOne(tableName, p)));
        return;
      }
      // Unprocessed items come back unmarshalled (new objects, the attributes in the order sent): match by content.
      const waiting = new Set(unprocessed.map((u) => JSON.stringify(u)));
      const keep = left.filter((p) => waiting.has(JSON.stringify(p.item)));
      for (const p of left) if (!keep.includes(p)) p.resolve();
      left = keep;
      if (left.length > 0 && attempt >= maxAttempts) {
        await Promise.all(left.map((p) => putOne(tableName, p)));
        return;
      }
      if (left.length > 0) await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt));
    }
  };

  const drain = (): Promise<void> => {
    timer = undefined;
    const sends: Promise<void>[] = [];
    for (const [tableName, queue] of queues) {
      queues.delete(tableName);
      for (let i = 0; i < queue.length; i += BATCH_WRITE_LIMIT) sends.push(sendBatch(tableName, queue.slice(i, i + BATCH_WRITE_LIMIT)));
    }
    const all = Promise.all(sends).then(() => undefined);
    inFlight.add(all);
    void all.finally(() => inFlight.delete(all));
    return all;
  };

  return {
    put(tableName, item) {
      return new Promise<void>((resolve, reject) => {
        const queue = queues.get(tableName) ?? [];
        queues.set(tableName, queue);
        queue.push({ item, resolve, reject });
        if (queue.length >= BATCH_WRITE_LIMIT) {
          if (timer) clearTimeout(timer);
          void drain();
        } else {
          timer ??= setTimeout(() => void drain(), lingerMs);
        }
      });
    },
    async flush() {
      if (timer) clearTimeout(timer);
      await drain();
      await Promise.all([...inFlight]);
    },
  };
};
