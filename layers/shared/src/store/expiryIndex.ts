/**
 * The sparse index the expiry sweeper reads: connection items that carry a
 * token expiry also carry `expiryShard`, and the `byTokenExpiry` index keys
 * them by (expiryShard, tokenExpiresAt). The sweeper then finds every
 * connection past its token's `exp` with one Query per shard, instead of a
 * Scan of the table. Shards spread connect-time writes over several index
 * partitions (one partition takes 1,000 writes/s; API Gateway admits 500 new
 * connections/s per account by default).
 */
export const EXPIRY_INDEX_NAME = 'byTokenExpiry';
export const EXPIRY_SHARDS = 4;

/** FNV-1a: cheap, stable, no crypto module. */
const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
};

export const expiryShardOf = (connectionId: string): string => `exp#${fnv1a(connectionId) % EXPIRY_SHARDS}`;

export const expiryShards = (): string[] => Array.from({ length: EXPIRY_SHARDS }, (_, i) => `exp#${i}`);

/** The attributes that put a connection item in the index; none for a connection without a token expiry. */
export const expiryIndexAttributes = (connectionId: string, tokenExpiresAt: number | undefined): Record<string, unknown> =>
  tokenExpiresAt === undefined ? {} : { expiryShard: expiryShardOf(connectionId), tokenExpiresAt };
