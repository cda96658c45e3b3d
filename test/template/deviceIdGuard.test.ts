/**
 * Every topic rule that reads device telemetry names the device by its topic, and drops a reading whose own
 * `deviceId` says otherwise: run through the local rule engine, which does what AWS documents for the same SQL.
 */
import { expect } from 'chai';
import { evaluateRule, parseRuleSql } from '../../local/iot/iotSql.js';
import { readTemplate, resourcesOfType } from '../../scripts/template.js';

const template = readTemplate();

/** A rule's SQL with `${Param}` of an Fn::Sub replaced by a plain number (enough to parse and run it). */
const sqlOf = (sql: unknown): string => (typeof sql === 'string' ? sql : String((sql as { 'Fn::Sub': string })['Fn::Sub']).replace(/\$\{[^}]+\}/g, '1'));

const telemetryRules = resourcesOfType(template, 'AWS::IoT::TopicRule')
  .map(([logicalId, rule]) => ({ logicalId, sql: sqlOf(rule.Properties!.TopicRulePayload.Sql) }))
  .filter(({ sql }) => /topic\(2\)\s+AS\s+deviceId/i.test(sql));

const run = (sql: string, topic: string, payload: object) =>
  evaluateRule(parseRuleSql(sql), { topic, payload, clientId: 'dev-1', timestamp: 1_795_597_200_000, newUuid: () => 'uuid' });

describe('template: the device id comes from the topic only', () => {
  it('has the telemetry rule it is about (TelemetryRule; history is written by its function since the rollups)', () => {
    expect(telemetryRules.map((r) => r.logicalId)).to.include.members(['TelemetryRule']);
  });

  for (const { logicalId, sql } of telemetryRules) {
    it(`${logicalId} drops a reading on devices/dev-1/telemetry that claims to be another device, and keeps the others`, () => {
      expect(run(sql, 'devices/dev-1/telemetry', { ts: 1, deviceId: 'other', temperature: 20 })).to.equal(undefined);
      expect(run(sql, 'devices/dev-1/telemetry', { ts: 1, deviceId: 7 })).to.equal(undefined);
      expect(run(sql, 'devices/dev-1/telemetry', { ts: 1, temperature: 20 })).to.include({ deviceId: 'dev-1', temperature: 20 });
      expect(run(sql, 'devices/dev-1/telemetry', { ts: 1, deviceId: 'dev-1' })).to.include({ deviceId: 'dev-1' });
    });
  }
});
