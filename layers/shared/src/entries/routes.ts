/** What the WebSocket route handlers load: no JWT library, no Secrets Manager, no Lambda client. */
export * from '../config.js';
export * from '../clients.js';
export * from '../connectionExpiry.js';
export * from '../connectionStore.js';
export * from '../devices.js';
export * from '../downsample.js';
export * from '../history.js';
export * from '../fanOut.js';
export * from '../fanOutClients.js';
export * from '../middleware.js';
export * from '../observability.js';
export * from '../rateLimit.js';
export * from '../replyFrames.js';
export * from '../routes.js';
export * from '../signedPoster.js';
