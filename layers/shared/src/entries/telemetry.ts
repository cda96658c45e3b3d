/** What the telemetry and fan-out worker functions load: the cold-start-critical path, kept lean. */
export * from '../config.js';
export * from '../clients.js';
export * from '../connectionStore.js';
export * from '../fanOut.js';
export * from '../middleware.js';
export * from '../observability.js';
export * from '../routes.js';
export * from '../sharding.js';
export * from '../signedPoster.js';
