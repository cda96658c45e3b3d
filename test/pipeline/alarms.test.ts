/**
 * Alarms through the local stack, from template.yaml: a rule put over the WebSocket API, readings published
 * over MQTT, the evaluation in the telemetry function (direct) or the batch function (coalesced), the `alarm`
 * frame at a subscribed client, and the local SNS's `notify` line; the silent sweep on its function.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import type { MqttClient } from 'mqtt';
import { signToken } from '@serverless-iot-dashboard/shared';
import { dynamoClient } from '../../local/dynamodb/dynamodb.js';
import { type TestStack, connectDevice, startTestStack } from '../helpers/localStack.js';
import { type Frame, type TestClient, connectClient } from '../helpers/wsClient.js';
import { waitFor } from '../helpers/waitFor.js';

const notifyLines = (stack: TestStack) => stack.lines.filter((l) => l.startsWith('notify '));

describe('local stack: alarms', function () {
  this.timeout(120_000);
  let stack: TestStack | undefined;
  let device: MqttClient | undefined;
  let client: TestClient | undefined;

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await device?.endAsync();
    device = undefined;
    await stack?.stop();
    stack = undefined;
  });

  const start = async (parameterOverrides: Record<string, string> = {}) => {
    stack = await startTestStack({ parameterOverrides });
    const token = await signToken({ secret: stack.devSecret!, sub: 'alice', devices: ['dev-1'], alarms: true, ttlSeconds: 3600 });
    client = await connectClient(`${stack.urls.websocket}?token=${token}&devices=dev-1`);
    device = await connectDevice(stack.urls.mqtt, 'alarm-device');
    return stack;
  };
  const publish = (temperature: number, ts = Date.now()) => device!.publishAsync('devices/dev-1/telemetry', JSON.stringify({ ts, temperature }));
  const alarmFrame = (state: string) => (f: Frame) => f.type === 'alarm' && f.state === state;

  for (const mode of ['direct', 'coalesced'] as const) {
    it(`${mode}: raises one alarm frame and one notify line per crossing, and clears both ways`, async () => {
      const running = await start(mode === 'coalesced' ? { FanoutMode: 'coalesced', MaximumBatchingWindowInSeconds: '1' } : {});
      const put = await client!.request({ action: 'putAlarmRule', rule: { deviceId: 'dev-1', field: 'temperature', above: 30, name: 'Freezer warm' } }, (f) => f.type === 'alarm-rule' || f.type === 'error');
      expect(put.type, JSON.stringify(put)).to.equal('alarm-rule');

      await publish(25);
      await client!.next((f) => f.type === 'telemetry' || f.type === 'telemetry-batch', 20_000);
      await publish(31.5);
      const alarm = await client!.next(alarmFrame('ALARM'), 20_000);
      expect(alarm).to.include({ ruleId: put.rule.id, deviceId: 'dev-1', field: 'temperature', value: 31.5 });
      await waitFor(() => notifyLines(running).length === 1, { timeoutMs: 10_000, message: 'the notify line' });
      expect(notifyLines(running)[0]).to.equal('notify ALARM: dev-1 Freezer warm device=dev-1 state=ALARM');

      const ack = await client!.request({ action: 'ackAlarm', ruleId: put.rule.id, deviceId: 'dev-1' }, (f) => f.type === 'alarm' && f.acknowledgedBy !== undefined, 10_000);
      expect(ack.acknowledgedBy).to.equal('alice');
      const listed = await client!.request({ action: 'alarms' }, (f) => f.type === 'alarms');
      expect(listed.active.map((a: Frame) => [a.ruleId, a.state, a.acknowledgedBy])).to.deep.equal([[put.rule.id, 'ALARM', 'alice']]);

      await publish(32);
      await publish(20);
      const ok = await client!.next(alarmFrame('OK'), 20_000);
      expect(ok.value).to.equal(20);
      await waitFor(() => notifyLines(running).length === 2, { timeoutMs: 10_000, message: 'the second notify line' });
      expect(notifyLines(running)[1]).to.match(/^notify OK: dev-1 Freezer warm device=dev-1 state=OK$/);
      const notes = (await fetch(`${running.urls.dashboard}local/sns/notifications`).then((r) => r.json())) as { attributes: { state: string } }[];
      expect(notes.map((n) => n.attributes.state)).to.deep.equal(['ALARM', 'OK']);
    });
  }

  it('raises a silent rule from the scheduled sweep with field null, and clears it on the next reading', async () => {
    const running = await start();
    const put = await client!.request({ action: 'putAlarmRule', rule: { deviceId: 'dev-1', silentSeconds: 60, name: 'Freezer quiet' } }, (f) => f.type === 'alarm-rule' || f.type === 'error');
    expect(put.type, JSON.stringify(put)).to.equal('alarm-rule');
    // The device was last heard from two minutes ago.
    const doc = DynamoDBDocumentClient.from(dynamoClient(running.endpoints.dynamodb));
    const receivedAt = Date.now() - 120_000;
    await doc.send(new PutCommand({ TableName: running.tables.DevicesTable!, Item: { deviceId: 'dev-1', ts: receivedAt, receivedAt, id: 'old', data: {}, expiresAt: Math.floor(Date.now() / 1000) + 3600 } }));
    doc.destroy();

    await running.invoke('SilentAlarmsFunction', {});
    const alarm = await client!.next(alarmFrame('ALARM'), 20_000);
    expect(alarm).to.include({ ruleId: put.rule.id, field: null, value: null });
    await waitFor(() => notifyLines(running).some((l) => l.includes('state=ALARM')), { timeoutMs: 10_000, message: 'the notify line' });
    await running.invoke('SilentAlarmsFunction', {});
    await publish(5);
    await client!.next(alarmFrame('OK'), 20_000);
    await waitFor(() => notifyLines(running).length === 2, { timeoutMs: 10_000, message: 'the second notify line' });
    expect(notifyLines(running).map((l) => l.split(' state=')[1])).to.deep.equal(['ALARM', 'OK']);
  });
});
