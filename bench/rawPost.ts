/**
 * The physical limit of a fan-out through the management API: a bare
 * keep-alive `http.request` POST per delivery, no signing, no retries, no
 * lookup (the connection ids are handed over in memory), 64 in flight.
 * Whatever ours spends above this is the price of its features.
 */
import { Agent, request } from 'node:http';

export const createRawPostFanOut = ({ endpoint, concurrency = 64 }: { endpoint: string; concurrency?: number }) => {
  const url = new URL(endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const basePath = url.pathname.replace(/\/$/, '');

  const post = (connectionId: string, body: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          agent,
          method: 'POST',
          hostname: url.hostname,
          port: url.port,
          path: `${basePath}/@connections/${encodeURIComponent(connectionId)}`,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`POST answered ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const deliver = async (connectionIds: readonly string[], frame: string) => {
    const body = Buffer.from(frame);
    let next = 0;
    let delivered = 0;
    const worker = async () => {
      while (next < connectionIds.length) {
        await post(connectionIds[next++]!, body);
        delivered++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { recipients: connectionIds.length, delivered };
  };

  return { deliver, destroy: () => agent.destroy() };
};
