/** The local SNS stand-in (local/sns/README.md) through the real SNSClient on 127.0.0.1. */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { expect } from 'chai';
import { type LocalNotification, notifyLine, startSnsApi } from '../../../local/sns/snsApi.js';

describe('local SNS: Publish', () => {
  it('takes the SDK\'s Publish, hands each notification on, keeps the last ones, and prints a notify line', async () => {
    const seen: LocalNotification[] = [];
    const sns = await startSnsApi({ keep: 2, onNotify: (n) => seen.push(n) });
    const client = new SNSClient({ endpoint: sns.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      const topic = 'arn:aws:sns:us-east-1:123456789012:stack-DeviceAlarmTopic';
      for (const state of ['ALARM', 'OK', 'ALARM']) {
        const out = await client.send(
          new PublishCommand({
            TopicArn: topic,
            Subject: `${state}: dev-1 Freezer warm`,
            Message: `${state}: on device dev-1\nvalue: 31.5`,
            MessageAttributes: { deviceId: { DataType: 'String', StringValue: 'dev-1' }, state: { DataType: 'String', StringValue: state } },
          }),
        );
        expect(out.MessageId).to.be.a('string');
      }
      expect(seen).to.have.length(3);
      expect(notifyLine(seen[0]!)).to.equal('notify ALARM: dev-1 Freezer warm device=dev-1 state=ALARM');
      expect(sns.recent().map((n) => n.attributes.state)).to.deep.equal(['OK', 'ALARM']);
      const refused = await client.send(new PublishCommand({ TopicArn: topic, Subject: 'x'.repeat(101), Message: 'm' })).catch((e: Error) => e);
      expect((refused as Error).name).to.equal('InvalidParameterException');
    } finally {
      client.destroy();
      await sns.close();
    }
  });
});
