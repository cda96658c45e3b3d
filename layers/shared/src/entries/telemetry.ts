/** What the telemetry and fan-out worker functions load: the route entry plus sharded fan-out. */
export * from './routes.js';
export * from '../sharding.js';
export * from '../handoff.js';
