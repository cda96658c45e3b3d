/** What the telemetry, fan-out worker and telemetry batch functions load: the route entry plus sharded fan-out and the recipient cache. */
export * from './routes.js';
export * from '../recipientCache.js';
export * from '../sharding.js';
export * from '../handoff.js';
export * from '../telemetryBatch.js';
