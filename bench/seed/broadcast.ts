/**
 * The original design's fan-out, kept only to be measured against (never in
 * functions/). It is the AWS sample's `sendmessage` handler that the seed
 * followed (aws-samples/simple-websockets-chat-app), ported to SDK v3 the way
 * the seed did, with its flaws intact (README: the table at the top):
 *   - one Scan of the whole table per message, unpaginated: connections past
 *     the first 1 MB page never receive anything;
 *   - an unbounded Promise.all of PostToConnection over every connection;
 *   - a default ApiGatewayManagementApiClient (50-socket pool, SDK retries);
 *   - `e.statusCode === 410`, which never matches an SDK v3 error, so a stale
 *     connection fails the whole message instead of being deleted (and the
 *     delete names the wrong key).
 * Two concessions, both in the seed's favour: the clients are built once per
 * container rather than per invocation, and items without `connectionId`
 * (our table's subscription items, which its own table did not have) are
 * skipped instead of posted to `undefined`.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DeleteCommand, type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';

export interface SeedBroadcastOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** The management API: `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`. */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export interface SeedResult {
  statusCode: 200 | 500;
  recipients: number;
  delivered: number;
}

export const createSeedBroadcast = ({ doc, tableName, endpoint, region, credentials }: SeedBroadcastOptions) => {
  const apigwManagementApi = new ApiGatewayManagementApiClient({ endpoint, region, credentials });

  const broadcast = async (postData: string): Promise<SeedResult> => {
    let delivered = 0;
    // The benchmark asks for ConsumedCapacity; the seed did not, and paid the same.
    const connectionData = await doc.send(new ScanCommand({ TableName: tableName, ProjectionExpression: 'connectionId', ReturnConsumedCapacity: 'TOTAL' }));
    const connections = (connectionData.Items ?? []).filter((item) => item.connectionId !== undefined);
    const postCalls = connections.map(async ({ connectionId }) => {
      try {
        await apigwManagementApi.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: postData }));
        delivered++;
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 410) {
          await doc.send(new DeleteCommand({ TableName: tableName, Key: { connectionId } }));
        } else {
          throw e;
        }
      }
    });
    try {
      await Promise.all(postCalls);
    } catch {
      return { statusCode: 500, recipients: connections.length, delivered };
    }
    return { statusCode: 200, recipients: connections.length, delivered };
  };

  return { broadcast, destroy: () => apigwManagementApi.destroy() };
};
