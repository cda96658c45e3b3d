/** What the telemetry, fan-out worker and telemetry batch functions load: the route entry plus sharded fan-out and the recipient cache. */
export * from './routes.js';
export * from '../recipients/recipientCache.js';
export * from '../fanout/sharding.js';
export * from '../fanout/handOn.js';
export * from '../fanout/telemetryBatch.js';
export * from '../fanout/telemetry.js';
export * from '../history/historyDeadLetters.js';
export * from '../history/historyWriter.js';
export * from '../history/groupedHistoryWrites.js';
export * from '../presence/lifecycle.js';
export * from '../presence/presence.js';
export * from '../presence/presenceStore.js';
export * from '../alarms/alarmClients.js';
export * from '../alarms/alarmEvaluator.js';
export * from '../alarms/alarmStore.js';
export * from '../alarms/notifier.js';
