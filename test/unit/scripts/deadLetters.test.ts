/**
 * What npm run redrive makes of each kind of dead letter, and how it replays
 * them: with fake queue and Lambda clients, no network.
 */
import { expect } from 'chai';
import { type TelemetryFrame, historyDeadLetterBodies, telemetryEnvelope } from '@serverless-iot-dashboard/shared';
import { type QueueMessage, type RedriveClients, formatSummary, parseDeadLetter, redrive, templateRules } from '../../../scripts/deadLetters.js';

import { readTemplate } from '../../../scripts/template.js';
import { loadEvent } from '../../helpers/events.js';

const rules = templateRules(readTemplate());
const SENT_AT = 1764057600456;

const fakeClients = (bodies: string[], { failing = new Set<number>() }: { failing?: Set<number> } = {}) => {
  const queue = bodies.map((Body, i) => ({ MessageId: `m${i}`, ReceiptHandle: `h${i}`, Body, Attributes: { SentTimestamp: String(SENT_AT) }, visible: true }));
  const invoked: { name: string; event: unknown }[] = [];
  const removed: string[] = [];
  const released: string[] = [];
  const clients: RedriveClients = {
    async receive(max) {
      const out: QueueMessage[] = [];
      for (const message of queue) {
        if (out.length >= max) break;
        if (message.visible && !removed.includes(message.ReceiptHandle)) {
          message.visible = false;
          out.push(message);
        }
      }
      return out;
    },
    remove: async (handle) => void removed.push(handle),
    release: async (handle) => {
      released.push(handle);
      const message = queue.find((m) => m.ReceiptHandle === handle);
      if (message) message.visible = true;
    },
    depth: async () => queue.filter((m) => m.visible && !removed.includes(m.ReceiptHandle)).length,
    invoke: async (name, event) => {
      invoked.push({ name, event });
      if (failing.has(invoked.length)) throw new Error('still throttled');
    },
    functionName: async (logicalId) => `deployed-${logicalId}`,
  };
  return { clients, invoked, removed, released };
};

describe('npm run redrive: reading and replaying dead letters', () => {
  const historyReading = (i: number): TelemetryFrame => ({ type: 'telemetry', id: `h-${i}`, deviceId: 'dev-9', ts: 1764057600000 + i, receivedAt: 1764057600050 + i, data: { temperature: 20 + i } });
  const historyLetter = (readings: TelemetryFrame[]) => historyDeadLetterBodies(readings, 'ProvisionedThroughputExceededException: throttled', { failedAt: SENT_AT })[0]!;

  it('reads a failed history write (kind history-write) as its readings, for the history writer', () => {
    const letter = parseDeadLetter(historyLetter([historyReading(1), historyReading(2)]), { sentAt: SENT_AT, rules });
    expect(letter).to.deep.equal({ kind: 'history-write', readings: [historyReading(1), historyReading(2)], error: 'ProvisionedThroughputExceededException: throttled' });
  });

  it("leaves the retired HistoryRule's failed DynamoDBv2 writes in the queue as unreadable, saying why", () => {
    const body = JSON.stringify({
      ruleName: 'HistoryRule_abc',
      topic: 'devices/dev-9/telemetry',
      clientId: 'dev-9',
      base64OriginalPayload: Buffer.from(JSON.stringify({ ts: 5, temperature: 20 })).toString('base64'),
      failures: [{ failedAction: 'DynamoDBv2Action', failedResource: 'stack-HistoryTable-XYZ', errorMessage: 'ProvisionedThroughputExceededException' }],
    });
    const letter = parseDeadLetter(body, { sentAt: SENT_AT, rules });
    expect(letter.kind).to.equal('unreadable');
    expect((letter as { reason: string }).reason).to.match(/retired HistoryRule/);
  });

  it('replays a history write through recordHistory and deletes it; keeps it when the write fails again', async () => {
    const { clients, removed, released, invoked } = fakeClients([historyLetter([historyReading(1)]), historyLetter([historyReading(2), historyReading(3)])]);
    const recorded: TelemetryFrame[][] = [];
    clients.recordHistory = async (readings) => {
      recorded.push(readings);
      if (recorded.length === 2) throw new Error('still throttled');
    };
    const lines: string[] = [];
    const summary = await redrive({ clients, rules, log: (line) => lines.push(line) });
    expect(recorded.map((list) => list.map((r) => r.id))).to.deep.equal([['h-1'], ['h-2', 'h-3']]);
    expect(invoked).to.deep.equal([]);
    expect(removed).to.deep.equal(['h0']);
    expect(released).to.deep.equal(['h1']);
    expect(summary).to.deep.include({ seen: 2, replayed: 1, failed: 1, unreadable: 0 });
    expect(summary.byFunction).to.deep.equal({ 'history table': 1 });
    expect(lines.join('\n')).to.match(/m0 replayed history table: history write of 1 reading\(s\)/);
  });

  it('keeps a history write when this redrive has no history writer, saying why', async () => {
    const { clients, removed } = fakeClients([historyLetter([historyReading(1)])]);
    const lines: string[] = [];
    const summary = await redrive({ clients, rules, log: (line) => lines.push(line) });
    expect(removed).to.deep.equal([]);
    expect(summary).to.deep.include({ failed: 1 });
    expect(lines.join('\n')).to.match(/cannot write history/);
  });

  describe('parseDeadLetter', () => {
    it("reads Lambda's invocation record: the unqualified function and the event it was given", () => {
      const record = loadEvent('dead-letter-invocation');
      const letter = parseDeadLetter(JSON.stringify(record), { sentAt: SENT_AT, rules });
      expect(letter).to.deep.include({
        kind: 'invocation',
        function: 'arn:aws:lambda:eu-west-1:123456789012:function:serverless-iot-dashboard-TelemetryFunction-AbCdEf123456',
        attempts: 3,
        event: record.requestPayload,
      });
    });

    it('keeps the frame id of an invocation it replays: the event still carries receivedAt', () => {
      const record = loadEvent('dead-letter-invocation');
      const letter = parseDeadLetter(JSON.stringify(record), { sentAt: SENT_AT, rules });
      expect(letter.kind === 'invocation' && telemetryEnvelope(letter.event).id).to.equal(telemetryEnvelope(record.requestPayload).id);
    });

    it("rebuilds a rule error's event through the template's rule SQL: payload, topic(2) as deviceId, the queue time as receivedAt", () => {
      const letter = parseDeadLetter(JSON.stringify(loadEvent('dead-letter-rule-error')), { sentAt: SENT_AT, rules });
      expect(letter).to.deep.include({
        kind: 'rule-error',
        topic: 'devices/dev-1/telemetry',
        function: 'arn:aws:lambda:eu-west-1:123456789012:function:serverless-iot-dashboard-TelemetryFunction-AbCdEf123456',
        event: { ts: 1764057600000, temperature: 21.5, humidity: 40, deviceId: 'dev-1', receivedAt: SENT_AT },
      });
    });

    it("falls back to the rule's Lambda target when the error names no function", () => {
      const doc = { ...loadEvent('dead-letter-rule-error'), failures: [{ failedAction: 'LambdaAction', errorMessage: 'throttled' }] };
      expect(parseDeadLetter(JSON.stringify(doc), { sentAt: SENT_AT, rules })).to.deep.include({ kind: 'rule-error', targetLogicalId: 'TelemetryFunction' });
    });

    it('calls anything else unreadable, with the reason', () => {
      const reasons = ['not json', '"a string"', '{"hello":1}', JSON.stringify({ ...loadEvent('dead-letter-rule-error'), topic: 'other/topic' })].map((body) => {
        const letter = parseDeadLetter(body, { sentAt: SENT_AT, rules });
        return letter.kind === 'unreadable' ? letter.reason : letter.kind;
      });
      expect(reasons).to.deep.equal([
        'the message body is not JSON',
        'the message body is not a JSON object',
        'neither a Lambda invocation record nor an IoT rule error',
        'rule error on other/topic: no rule of the template with a Lambda action reads that topic',
      ]);
    });
  });

  describe('redrive', () => {
    const invocation = JSON.stringify(loadEvent('dead-letter-invocation'));
    const ruleError = JSON.stringify({ ...loadEvent('dead-letter-rule-error'), failures: [] });

    it('replays each message and deletes it only when the function succeeded', async () => {
      const { clients, invoked, removed, released } = fakeClients([invocation, ruleError, invocation], { failing: new Set([2]) });
      const lines: string[] = [];
      const summary = await redrive({ clients, rules, log: (line) => lines.push(line) });
      expect(invoked.map((call) => call.name.replace(/.*:function:/, ''))).to.deep.equal([
        'serverless-iot-dashboard-TelemetryFunction-AbCdEf123456',
        'deployed-TelemetryFunction',
        'serverless-iot-dashboard-TelemetryFunction-AbCdEf123456',
      ]);
      expect(removed).to.deep.equal(['h0', 'h2']);
      expect(released).to.deep.equal(['h1']);
      expect(summary).to.deep.include({ seen: 3, replayed: 2, failed: 1, unreadable: 0 });
      expect(lines.join('\n')).to.match(/m1 failed again, kept in the queue: still throttled/);
    });

    it('keeps a message whose target function the stack does not have, says why, and replays the rest', async () => {
      const { clients, invoked, removed, released } = fakeClients([ruleError, invocation]);
      const lines: string[] = [];
      const missing = { ...clients, functionName: async (logicalId: string) => {
        throw new Error(`stack demo has no ${logicalId}`);
      } };
      const summary = await redrive({ clients: missing, rules, log: (line) => lines.push(line) });
      expect(summary).to.deep.include({ seen: 2, replayed: 1, failed: 1, unreadable: 0 });
      expect(invoked.map((call) => call.name.replace(/.*:function:/, ''))).to.deep.equal(['serverless-iot-dashboard-TelemetryFunction-AbCdEf123456']);
      expect(removed).to.deep.equal(['h1']);
      expect(released).to.deep.equal(['h0']);
      expect(lines.join('\n')).to.match(/m0 kept in the queue, nothing to replay it to: stack demo has no TelemetryFunction/);
    });

    it('on --dry-run invokes nothing, deletes nothing and makes every message visible again', async () => {
      const { clients, invoked, removed, released } = fakeClients([invocation, 'garbage', ruleError]);
      const summary = await redrive({ clients, rules, dryRun: true, log: () => undefined });
      expect(invoked).to.deep.equal([]);
      expect(removed).to.deep.equal([]);
      expect(released.sort()).to.deep.equal(['h0', 'h1', 'h2']);
      expect(formatSummary(summary, true)).to.equal(
        'redrive (dry run): 3 message(s) read, would replay 2 (serverless-iot-dashboard-TelemetryFunction-AbCdEf123456 1, deployed-TelemetryFunction 1), 0 failed again, 1 unreadable; failed and unreadable ones stay in the queue',
      );
    });

    it('stops after --max messages', async () => {
      const { clients, invoked } = fakeClients(Array.from({ length: 25 }, () => invocation));
      const summary = await redrive({ clients, rules, max: 12, log: () => undefined });
      expect(summary.seen).to.equal(12);
      expect(invoked).to.have.length(12);
    });

    it('prints a progress line every couple of seconds on a long run, and one at the end', async () => {
      const { clients } = fakeClients(Array.from({ length: 60 }, () => invocation));
      let clock = 0;
      const lines: string[] = [];
      // Each invocation "takes" 100 ms on this clock.
      const slow = { ...clients, invoke: async (name: string, event: unknown) => {
        clock += 100;
        await clients.invoke(name, event);
      } };
      await redrive({ clients: slow, rules, log: (line) => lines.push(line), now: () => clock, progressEveryMs: 2000 });
      const progress = lines.filter((line) => line.startsWith('redrive: '));
      expect(progress.length).to.be.within(3, 5);
      expect(progress.at(-1)).to.equal('redrive: 60/60 done, 60 replayed, 0 failed, 0 unreadable');
    });
  });
});
