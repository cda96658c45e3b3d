/** What the $connect authorizer loads: token verification, no DynamoDB, no fan-out. */
export * from '../auth.js';
export * from '../authorizer.js';
export * from '../cognitoAuth.js';
export * from '../config.js';
export * from '../middleware.js';
export * from '../observability.js';
export * from '../secrets.js';
