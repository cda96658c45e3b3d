/**
 * The API Gateway management client through the AWS SDK, for closing connections
 * (DeleteConnection). Deliveries use the signed poster (fanout/signedPoster.ts). Tuned: keep-alive
 * sockets, a socket pool sized to the fan-out's concurrency (the SDK's
 * default is 50), and no SDK-level retries, because the fan-out retries
 * 429/5xx itself with its own bound and counts them.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';

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

export const sdkDisconnector =
  (client: ApiGatewayManagementApiClient) =>
  async (connectionId: string): Promise<void> => {
    await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
  };
