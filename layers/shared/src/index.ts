/**
 * The shared layer's one import surface for code outside it (functions, local/, tests, scripts, bench):
 * `@serverless-iot-dashboard/shared`. Functions import the smaller entries instead (`/routes`, `/telemetry`,
 * `/authorizer`, the bundles `sam build` makes); the browser imports `/protocol`, which has no Node dependency.
 *
 * Folders, lowest first (a folder imports only folders above it in this list; test/unit/layer/layout.test.ts):
 *   protocol/    the wire contract: frames, error codes, reply framing, the telemetry envelope (docs/asyncapi.yaml)
 *   runtime/     config, AWS clients, observability, the middy chain, retry
 *   auth/        tokens, the $connect authorizer, Cognito groups, the principal and its scope
 *   store/       the connections table: keys, versions, the one subscriber query, the one batch loop, rate limits
 *   presence/    IoT Core's lifecycle events: their order, each device's presence, the presence function
 *   history/     readings, latest readings and snapshots, downsampling, the history and devices routes
 *   recipients/  who receives a reading: the recipient cache, the broadcast audience
 *   alarms/      alarm rules, their state machine and store, evaluation, notifications, the alarm routes
 *   connections/ closing connections: expired tokens, the management client
 *   fanout/      delivery: bounded fan-out, the signed poster, sharding, the hand-on, the coalesced batch, the telemetry function
 *   routes/      the WebSocket routes: $connect, $disconnect, subscribe, unsubscribe, ping, message, $default
 */
export * from './protocol/duration.js';
export * from './protocol/errors.js';
export * from './protocol/frames.js';
export * from './protocol/postToConnection.js';
export * from './protocol/replyFrames.js';
export * from './protocol/telemetryEnvelope.js';
export * from './runtime/clients.js';
export * from './runtime/config.js';
export * from './runtime/middleware.js';
export * from './runtime/observability.js';
export * from './runtime/redact.js';
export * from './runtime/retry.js';
export * from './runtime/secrets.js';
export * from './auth/authorizer.js';
export * from './auth/cognito.js';
export * from './auth/principal.js';
export * from './auth/scopeEncoding.js';
export * from './auth/tokens.js';
export * from './store/connectionStore.js';
export * from './store/expiryIndex.js';
export * from './store/holderConnections.js';
export * from './store/rateLimit.js';
export * from './store/subscriptionCap.js';
export * from './presence/lifecycle.js';
export * from './presence/presence.js';
export * from './presence/presenceStore.js';
export * from './history/devices.js';
export * from './history/downsample.js';
export * from './history/fitPoint.js';
export * from './history/history.js';
export * from './history/historyKeys.js';
export * from './history/historyDeadLetters.js';
export * from './history/historyWriter.js';
export * from './history/groupedHistoryWrites.js';
export * from './history/rollups.js';
export * from './recipients/broadcastAudience.js';
export * from './recipients/recipientCache.js';
export * from './alarms/alarmClients.js';
export * from './alarms/alarmEvaluator.js';
export * from './alarms/alarmRoutes.js';
export * from './alarms/alarmStore.js';
export * from './alarms/notifier.js';
export * from './alarms/rules.js';
export * from './alarms/silentSweep.js';
export * from './alarms/stateMachine.js';
export * from './connections/connectionExpiry.js';
export * from './connections/managementClient.js';
export * from './fanout/fanOut.js';
export * from './fanout/fanOutClients.js';
export * from './fanout/handOn.js';
export * from './fanout/sharding.js';
export * from './fanout/signedPoster.js';
export * from './fanout/telemetry.js';
export * from './fanout/telemetryBatch.js';
export * from './routes/routes.js';
