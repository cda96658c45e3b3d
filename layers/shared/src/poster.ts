/**
 * PostToConnection through the AWS SDK, tuned for fan-out: keep-alive
 * sockets, a socket pool sized to the fan-out's concurrency (the SDK's
 * default is 50), and no SDK-level retries, because the fan-out retries
 * 429/5xx itself with its own bound and counts them.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { PostToConnection } from './fanOut.js';

export interface ManagementClientOptions {
  /** `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`, or the local stack's `http://127.0.0.1:3001/{stage}`. */
  endpoint: string;
  maxSockets?: number;
  region?: string;
}

export const createManagementClient = ({ endpoint, maxSockets = 64, region }: ManagementClientOptions) =>
  new ApiGatewayManagementApiClient({
    endpoint,
    region,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 3000,
      requestTimeout: 10000,
    }),
  });

export const sdkPoster =
  (client: ApiGatewayManagementApiClient): PostToConnection =>
  async (connectionId, body) => {
    await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: body }));
  };

export const sdkDisconnector =
  (client: ApiGatewayManagementApiClient) =>
  async (connectionId: string): Promise<void> => {
    await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
  };
