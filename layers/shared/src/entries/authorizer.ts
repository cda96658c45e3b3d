/** What the $connect authorizer loads: token verification, no DynamoDB, no fan-out. */
export * from '../auth/tokens.js';
export * from '../auth/authorizer.js';
export * from '../auth/cognito.js';
export * from '../runtime/config.js';
export * from '../runtime/middleware.js';
export * from '../runtime/observability.js';
export * from '../runtime/secrets.js';
