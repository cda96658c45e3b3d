/** What the WebSocket route handlers load: no JWT library, no Secrets Manager, no Lambda client. */
export * from '../runtime/config.js';
export * from '../runtime/clients.js';
export * from '../connections/connectionExpiry.js';
export * from '../store/connectionStore.js';
export * from '../history/devices.js';
export * from '../history/downsample.js';
export * from '../history/history.js';
export * from '../fanout/fanOut.js';
export * from '../fanout/fanOutClients.js';
export * from '../runtime/middleware.js';
export * from '../runtime/observability.js';
export * from '../store/rateLimit.js';
export * from '../store/holderConnections.js';
export * from '../protocol/replyFrames.js';
export * from '../routes/routes.js';
export * from '../fanout/signedPoster.js';
