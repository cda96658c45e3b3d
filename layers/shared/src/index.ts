/** The shared layer's public surface: everything a thin handler composes. */
export * from './auth.js';
export * from './authorizer.js';
export * from './clients.js';
export * from './config.js';
export * from './connectionStore.js';
export * from './errors.js';
export * from './fanOut.js';
export * from './frames.js';
export * from './middleware.js';
export * from './observability.js';
export * from './poster.js';
export * from './redact.js';
export * from './retry.js';
export * from './routes.js';
export * from './secrets.js';
export * from './signedPoster.js';
export * from './telemetryEnvelope.js';
