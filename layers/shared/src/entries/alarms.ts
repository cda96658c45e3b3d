/** What the alarm functions load (the alarm routes, the silent sweep): the route entry plus the alarms capability. */
export * from './routes.js';
export * from '../alarms/alarmClients.js';
export * from '../alarms/alarmEvaluator.js';
export * from '../alarms/alarmRoutes.js';
export * from '../alarms/alarmStore.js';
export * from '../alarms/notifier.js';
export * from '../alarms/rules.js';
export * from '../alarms/silentSweep.js';
export * from '../alarms/stateMachine.js';
export * from '../recipients/recipientCache.js';
