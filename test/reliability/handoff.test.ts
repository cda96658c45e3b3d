/**
 * Overload without loss: a fan-out throttled past its deadline hands the rest
 * on to FanoutWorkerFunction invocations (a cursor, see handoff.ts), and every
 * dashboard gets every reading once. The functions' Timeout is scaled down
 * (the template's 120 s to 2.5 s, so each invocation has 1.5 s to deliver and
 * 1 s to hand on: a busy CI host still ends every invocation in time), and
 * half of the posts answer 429, so most fan-outs run out of time.
 */
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { type TestStack, connectDevice, startTestStack, templateWithTimeouts } from '../helpers/localStack.js';
import { waitFor } from '../helpers/waitFor.js';
import { type Fleet, startFleet } from './fleet.js';
import { debug, range } from './support.js';

const CLIENTS = 500;
const MESSAGES = 6;

describe('reliability: a fan-out that runs short of time hands the rest on', function () {
  this.timeout(180_000);
  let stack: TestStack | undefined;
  let fleet: Fleet | undefined;
  let device: MqttClient | undefined;

  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
    await device?.endAsync();
    device = undefined;
    await stack?.stop();
    stack = undefined;
  });

  it('reaches each of 500 dashboards once with every reading under FAULTS=post:429:0.5 and a short Timeout, by handing on, except deliveries that use up their ten attempts (logged and counted)', async () => {
    // Arrange
    // The fan-out functions' Timeout only, through the template: $connect keeps its own on a busy machine.
    const template = templateWithTimeouts({ TelemetryFunction: 2.5, FanoutWorkerFunction: 2.5 });
    stack = await startTestStack({ auth: false, faults: 'post:429:0.5', faultsSeed: 1616, template, logLevel: 'info' });
    fleet = await startFleet();
    await fleet.stable({ url: `${stack.urls.websocket}?devices=dev-h`, count: CLIENTS, parallel: 50 });
    await waitFor(() => stack!.connections().length === CLIENTS, { timeoutMs: 30_000, message: 'every client connected' });
    device = await connectDevice(stack.urls.mqtt, 'handoff-device');

    // Act
    // One reading's fan-out (and its hand-ons) at a time: locally all invocations of a function share one thread, so
    // six at once on a loaded machine (load 15) left each too little CPU for its last second (Task timed out), a
    // contention Lambda's own environments do not have.
    for (const seq of range(MESSAGES)) {
      await device.publishAsync('devices/dev-h/telemetry', JSON.stringify({ ts: Date.now(), seq }));
      await waitFor(() => stack!.lines.filter((line) => /fanned out telemetry .*deviceId=dev-h/.test(line)).length > seq, { timeoutMs: 60_000, message: `reading ${seq} fanned out` });
      await stack.settled();
    }
    // What the design promises (fanOut.ts): a delivery is retried up to ten times, so at 50 % throttling one in about
    // a thousand uses up its attempts and fails, logged with attempts=10 and counted. Every (dashboard, reading) is
    // therefore either received once or one such failure; the spec waits for that accounting, not for all to arrive.
    const failures = () => stack!.lines.filter((line) => /delivery failed/.test(line));
    const missingPairs = async () => (await fleet!.report({ expected: MESSAGES })).missing.reduce((n, m) => n + m.length, 0);
    await waitFor(async () => (await missingPairs()) === failures().length, { timeoutMs: 60_000, intervalMs: 250, message: 'every reading at every client, or its failure logged' }).catch(
      async (error: Error) => {
        throw new Error(`${error.message}\n${JSON.stringify((await fleet!.report({ expected: MESSAGES })).missing.filter((m) => m.length > 0).slice(0, 5))}\n${stack!.lines.filter((l) => /fan-out|shed|failed/.test(l)).slice(-20).join('\n')}`);
      },
    );
    await stack.settled();

    // Assert
    const report = await fleet.report({ expected: MESSAGES });
    const handoffs = stack.lines.filter((line) => /handed on the rest of a fan-out/.test(line));
    const injected = stack.faults!.stats()['post:429'] ?? 0;
    console.log(`      handoffs: ${handoffs.length} for ${MESSAGES} readings to ${CLIENTS} clients; ${injected} posts answered 429; ${failures().length} deliveries used up their 10 attempts`);
    debug(handoffs.join('\n'));
    expect(stack.lines.filter((line) => /get nothing|miss it|Task timed out|shed a reading/.test(line))).to.deep.equal([]);
    // Only the promised failure: ten throttled attempts. Its expected count is 3,000 x 0.5^10 = 3; a tenth of a
    // percent of the deliveries, so 1 % (30) is a bound that a correct fan-out passes with certainty in practice.
    for (const failure of failures()) expect(failure).to.match(/ attempts=10 .*status=429/);
    expect(failures().length, 'deliveries that used up their attempts').to.be.at.most((CLIENTS * MESSAGES) / 100);
    expect(report.missing.reduce((n, m) => n + m.length, 0), 'readings missing, each with its logged failure').to.equal(failures().length);
    expect(report.duplicates, 'duplicates').to.equal(0);
    expect(report.conflictingIds).to.equal(0);
    expect(handoffs.length, 'fan-outs handed on').to.be.greaterThan(0);
  });
});
