/**
 * The wire contract alone (`@serverless-iot-dashboard/shared/protocol`): frames, error codes, durations.
 * No Node or AWS dependency, so the dashboard's browser bundle imports it too. docs/asyncapi.yaml describes it.
 */
export * from './duration.js';
export * from './errors.js';
export * from './frames.js';
