/** The IoT SQL subset's pure functions: parse once, evaluate per message. */
import { expect } from 'chai';
import fc from 'fast-check';
import { RuleSqlError, evaluateRule, parseRuleSql, topicMatches } from '../../../local/iot/iotSql.js';

const message = (topic: string, payload: unknown) => ({ topic, payload, clientId: 'client-1', timestamp: 1700000000000, newUuid: () => 'uuid-1' });

describe('local IoT SQL', () => {
  describe('topicMatches', () => {
    const cases: [string, string, boolean][] = [
      ['devices/+/telemetry', 'devices/dev-1/telemetry', true],
      ['devices/+/telemetry', 'devices/dev-1/status', false],
      ['devices/+/telemetry', 'devices/a/b/telemetry', false],
      ['devices/#', 'devices/dev-1/telemetry', true],
      ['devices/#', 'devices', true],
      ['#', '$aws/things/x', false],
      ['+/x', '$SYS/x', false],
      ['a/b', 'a/b', true],
      ['a/b', 'a/b/c', false],
      ['a/+', 'a/', true],
    ];
    for (const [filter, topic, expected] of cases) {
      it(`${expected ? 'matches' : 'does not match'} ${topic} with ${filter}`, () => expect(topicMatches(filter, topic)).to.equal(expected));
    }
    it('matches any topic against itself and against #, unless it starts with $', () =>
      fc.assert(
        fc.property(fc.array(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { minLength: 1, maxLength: 6 }), (levels) => {
          const topic = levels.join('/');
          expect(topicMatches(topic, topic)).to.equal(true);
          expect(topicMatches('#', topic)).to.equal(true);
          expect(topicMatches(levels.map(() => '+').join('/'), topic)).to.equal(true);
        }),
        { numRuns: 200 },
      ));
  });

  describe('parseRuleSql and evaluateRule', () => {
    it("runs the template's rule: SELECT *, topic(2) AS deviceId, timestamp() AS receivedAt", () => {
      const query = parseRuleSql("SELECT *, topic(2) AS deviceId, timestamp() AS receivedAt FROM 'devices/+/telemetry'");
      expect(evaluateRule(query, message('devices/dev-1/telemetry', { ts: 1, temperature: 21.5 }))).to.deep.equal({
        ts: 1,
        temperature: 21.5,
        deviceId: 'dev-1',
        receivedAt: 1700000000000,
      });
      expect(evaluateRule(query, message('devices/dev-1/status', { ts: 1 }))).to.equal(undefined);
    });

    it('selects fields, nested paths and array elements, with default and aliased names', () => {
      const query = parseRuleSql("select temperature, reading.humidity, tags[1] AS second, newuuid() AS id, clientid(), topic() as t from 'a/#'");
      expect(evaluateRule(query, message('a/b', { temperature: 20, reading: { humidity: 40 }, tags: ['x', 'y'] }))).to.deep.equal({
        temperature: 20,
        humidity: 40,
        second: 'y',
        id: 'uuid-1',
        clientid: 'client-1',
        t: 'a/b',
      });
    });

    it('leaves out fields that are missing (IoT SQL Undefined)', () => {
      const query = parseRuleSql("SELECT temperature, humidity FROM 't'");
      expect(evaluateRule(query, message('t', { temperature: 1 }))).to.deep.equal({ temperature: 1 });
    });

    it('filters with WHERE: comparisons, AND, OR, NOT, parentheses and arithmetic', () => {
      const query = parseRuleSql("SELECT * FROM 'd/+' WHERE (temperature > 30 OR status = 'alarm') AND NOT muted = true AND humidity * 2 >= 50");
      const run = (payload: object) => evaluateRule(query, message('d/x', payload)) !== undefined;
      expect(run({ temperature: 31, status: 'ok', muted: false, humidity: 25 })).to.equal(true);
      expect(run({ temperature: 10, status: 'alarm', muted: false, humidity: 30 })).to.equal(true);
      expect(run({ temperature: 31, status: 'ok', muted: true, humidity: 25 })).to.equal(false);
      expect(run({ temperature: 31, status: 'ok', muted: false, humidity: 20 })).to.equal(false);
      expect(run({ muted: false, humidity: 30 })).to.equal(false);
    });

    it('gives AND, OR and NOT their documented operands: Booleans or "true"/"false" strings, anything else (Undefined too) is Undefined', () => {
      // https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-operators.html
      const where = (sql: string, payload: object) => evaluateRule(parseRuleSql(`SELECT * FROM 't' WHERE ${sql}`), message('t', payload)) !== undefined;
      expect(where("a OR b", { a: 'TRUE', b: false })).to.equal(true);
      expect(where("NOT a", { a: 'false' })).to.equal(true);
      expect(where("a AND b", { a: true, b: 'yes' })).to.equal(false);
      // No short cut past a missing field: `true OR Undefined` is Undefined, and WHERE drops the message.
      expect(where("a OR b = 1", { a: true })).to.equal(false);
      expect(where("a OR b = 1", { a: true, b: 2 })).to.equal(true);
    });

    it('runs CASE v WHEN t THEN r ... ELSE e END: the first matching WHEN, else ELSE, and Undefined when v is', () => {
      // https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-case.html
      const query = parseRuleSql("SELECT CASE color WHEN 'green' THEN 'go' WHEN 'red' THEN 'stop' ELSE 'caution' END AS instructions FROM 't'");
      expect(evaluateRule(query, message('t', { color: 'red' }))).to.deep.equal({ instructions: 'stop' });
      expect(evaluateRule(query, message('t', { color: 'blue' }))).to.deep.equal({ instructions: 'caution' });
      expect(evaluateRule(query, message('t', {}))).to.deep.equal({});
      expect(() => parseRuleSql("SELECT CASE a ELSE 1 END FROM 't'")).to.throw(RuleSqlError, /at least one WHEN/);
    });

    it("keeps a reading only when its own deviceId is absent or is the topic's: the template's WHERE", () => {
      const where = "CASE isUndefined(deviceId) WHEN true THEN true ELSE deviceId = topic(2) END";
      const query = parseRuleSql(`SELECT *, topic(2) AS deviceId, timestamp() AS receivedAt FROM 'devices/+/telemetry' WHERE ${where}`);
      expect(evaluateRule(query, message('devices/dev-1/telemetry', { ts: 1 }))).to.include({ deviceId: 'dev-1' });
      expect(evaluateRule(query, message('devices/dev-1/telemetry', { ts: 1, deviceId: 'dev-1' }))).to.include({ deviceId: 'dev-1' });
      expect(evaluateRule(query, message('devices/dev-1/telemetry', { ts: 1, deviceId: 'other' }))).to.equal(undefined);
      expect(evaluateRule(query, message('devices/dev-1/telemetry', { ts: 1, deviceId: 7 }))).to.equal(undefined);
      expect(evaluateRule(query, message('devices/dev-1/telemetry', { ts: 1, deviceId: null }))).to.equal(undefined);
    });

    it('compares strings and numbers only with their own kind, and <> / != both mean not equal', () => {
      const query = parseRuleSql("SELECT * FROM 't' WHERE a <> 'x' AND b != 2 AND c < 'm'");
      expect(evaluateRule(query, message('t', { a: 'y', b: 3, c: 'k' }))).to.not.equal(undefined);
      expect(evaluateRule(query, message('t', { a: 'y', b: 3, c: 5 }))).to.equal(undefined);
    });

    it("reads '' inside a string literal as a quote", () => {
      const query = parseRuleSql("SELECT * FROM 't' WHERE name = 'O''Brien'");
      expect(evaluateRule(query, message('t', { name: "O'Brien" }))).to.not.equal(undefined);
    });

    it('refuses what it cannot run, naming the problem', () => {
      const bad: [string, RegExp][] = [
        ["SELECT * FROM devices", /quoted topic filter/],
        ["SELECT lower(x) FROM 't'", /lower\(\) is not supported/],
        ["SELECT * FROM 'a/#/b'", /"#" must be the whole last level/],
        ["SELECT * FROM 'a/b+'", /"\+" must be a whole level/],
        ["SELECT * FROM 't' WHERE", /unexpected end/],
        ["SELECT * FROM 't' LIMIT 1", /unexpected/],
        ["SELECT * FROM 't", /unterminated string/],
        ['UPDATE x', /expected SELECT/],
        ["SELECT topic(1, 2) FROM 't'", /topic\(\) takes 0 to 1 arguments/],
      ];
      for (const [sql, pattern] of bad) expect(() => parseRuleSql(sql), sql).to.throw(RuleSqlError, pattern);
    });

    it('never throws on any payload once parsed', () =>
      fc.assert(
        fc.property(fc.jsonValue(), (payload) => {
          const query = parseRuleSql("SELECT *, a.b.c, x[0] AS y, topic(2) AS d FROM 'p/+' WHERE a.b > 1 OR NOT c = 'x'");
          evaluateRule(query, message('p/q', payload));
        }),
        { numRuns: 300 },
      ));
  });
});
