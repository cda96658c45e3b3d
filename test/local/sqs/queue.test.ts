/**
 * SQS standard-queue semantics of the in-process queue, on a manual clock:
 * visibility timeouts, receive counts, the redrive policy, retention, long
 * polls, batches and the errors SQS returns.
 */
import { expect } from 'chai';
import { type ManualClock, type Sqs, SqsError, createManualClock, createSqs, md5Hex, md5OfMessageAttributes } from '../../../local/sqs/queue.js';

const sqsError = (fn: () => unknown): SqsError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof SqsError) return error;
    throw error;
  }
  throw new Error('expected an SqsError');
};

describe('local SQS queue: standard-queue semantics on an injected clock', () => {
  let clock: ManualClock;
  let sqs: Sqs;
  let url: string;

  beforeEach(() => {
    clock = createManualClock();
    sqs = createSqs({ clock, endpoint: 'http://127.0.0.1:9324' });
    url = sqs.createQueue({ QueueName: 'work', Attributes: { VisibilityTimeout: '30' } }).QueueUrl;
  });
  afterEach(() => sqs.close());

  const receive = async (input: Partial<Parameters<Sqs['receiveMessage']>[0]> = {}) => (await sqs.receiveMessage({ QueueUrl: url, ...input })).Messages ?? [];

  it('names queues by endpoint, account and name, with an ARN in the region', () => {
    expect(url).to.equal('http://127.0.0.1:9324/000000000000/work');
    expect(sqs.getQueueAttributes({ QueueUrl: url, AttributeNames: ['QueueArn'] }).Attributes).to.deep.equal({ QueueArn: 'arn:aws:sqs:us-east-1:000000000000:work' });
    expect(sqs.getQueueUrl({ QueueName: 'work' }).QueueUrl).to.equal(url);
    expect(sqsError(() => sqs.getQueueUrl({ QueueName: 'nope' })).code).to.equal('QueueDoesNotExist');
  });

  it('returns the MD5 of the body on send and on receive', async () => {
    const sent = sqs.sendMessage({ QueueUrl: url, MessageBody: 'hello' });
    expect(sent.MD5OfMessageBody).to.equal(md5Hex('hello'));
    const [message] = await receive();
    expect(message?.MessageId).to.equal(sent.MessageId);
    expect(message?.MD5OfBody).to.equal('5d41402abc4b2a76b9719d911017c592');
  });

  it('hides a received message for the visibility timeout, then delivers it again with a higher receive count', async () => {
    sqs.sendMessage({ QueueUrl: url, MessageBody: 'a' });
    const [first] = await receive({ MessageSystemAttributeNames: ['ApproximateReceiveCount'] });
    expect(first?.Attributes).to.deep.equal({ ApproximateReceiveCount: '1' });
    expect(sqs.counts(url)).to.deep.equal({ visible: 0, inFlight: 1, delayed: 0 });
    clock.advance(29_999);
    expect(await receive()).to.have.length(0);
    clock.advance(1);
    const [second] = await receive({ MessageSystemAttributeNames: ['All'] });
    expect(second?.Attributes?.ApproximateReceiveCount).to.equal('2');
    expect(second?.ReceiptHandle).to.not.equal(first?.ReceiptHandle);
  });

  it('deletes only with the latest receipt handle; an older one succeeds and deletes nothing', async () => {
    sqs.sendMessage({ QueueUrl: url, MessageBody: 'a' });
    const [first] = await receive({ VisibilityTimeout: 0 });
    const [second] = await receive();
    sqs.deleteMessage({ QueueUrl: url, ReceiptHandle: first?.ReceiptHandle as string });
    expect(sqs.counts(url).inFlight).to.equal(1);
    sqs.deleteMessage({ QueueUrl: url, ReceiptHandle: second?.ReceiptHandle as string });
    expect(sqs.counts(url)).to.deep.equal({ visible: 0, inFlight: 0, delayed: 0 });
    expect(sqsError(() => sqs.deleteMessage({ QueueUrl: url, ReceiptHandle: 'not-a-handle' })).code).to.equal('ReceiptHandleIsInvalid');
  });

  it('returns at most 10 messages per receive, and rejects more', async () => {
    for (let i = 0; i < 15; i++) sqs.sendMessage({ QueueUrl: url, MessageBody: `m${i}` });
    const got = await receive({ MaxNumberOfMessages: 10 });
    expect(got.map((message) => message.Body)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `m${i}`));
    const refused = await sqs.receiveMessage({ QueueUrl: url, MaxNumberOfMessages: 11 }).catch((error: SqsError) => error);
    expect((refused as SqsError).code).to.equal('InvalidParameterValue');
    expect(sqs.getQueueAttributes({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }).Attributes).to.deep.equal({
      ApproximateNumberOfMessages: '5',
      ApproximateNumberOfMessagesNotVisible: '10',
    });
  });

  it('changes a message visibility: 0 makes it visible now, and a message not in flight is an error', async () => {
    sqs.sendMessage({ QueueUrl: url, MessageBody: 'a' });
    const [message] = await receive();
    sqs.changeMessageVisibility({ QueueUrl: url, ReceiptHandle: message?.ReceiptHandle as string, VisibilityTimeout: 0 });
    expect(sqs.counts(url).visible).to.equal(1);
    expect(sqsError(() => sqs.changeMessageVisibility({ QueueUrl: url, ReceiptHandle: message?.ReceiptHandle as string, VisibilityTimeout: 10 })).code).to.equal('MessageNotInflight');
  });

  it('caps a visibility change at 12 hours from the receive', async () => {
    sqs.sendMessage({ QueueUrl: url, MessageBody: 'a' });
    const [message] = await receive({ VisibilityTimeout: 43_200 });
    clock.advance(3_600_000);
    const handle = message?.ReceiptHandle as string;
    expect(sqsError(() => sqs.changeMessageVisibility({ QueueUrl: url, ReceiptHandle: handle, VisibilityTimeout: 43_200 })).code).to.equal('InvalidParameterValue');
    sqs.changeMessageVisibility({ QueueUrl: url, ReceiptHandle: handle, VisibilityTimeout: 39_600 });
  });

  it('delays delivery by DelaySeconds and counts the message as delayed meanwhile', async () => {
    sqs.sendMessage({ QueueUrl: url, MessageBody: 'later', DelaySeconds: 5 });
    expect(sqs.counts(url)).to.deep.equal({ visible: 0, inFlight: 0, delayed: 1 });
    expect(await receive()).to.have.length(0);
    clock.advance(5000);
    expect((await receive()).map((message) => message.Body)).to.deep.equal(['later']);
    expect(sqsError(() => sqs.sendMessage({ QueueUrl: url, MessageBody: 'x', DelaySeconds: 901 })).code).to.equal('InvalidParameterValue');
  });

  describe('redrive policy', () => {
    let dlqUrl: string;
    let dlqArn: string;
    beforeEach(() => {
      dlqUrl = sqs.createQueue({ QueueName: 'work-dlq', Attributes: { MessageRetentionPeriod: '1209600' } }).QueueUrl;
      dlqArn = sqs.getQueueAttributes({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }).Attributes?.QueueArn as string;
      sqs.setQueueAttributes({ QueueUrl: url, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) } });
    });

    it('moves a message received maxReceiveCount times to the dead-letter queue on the next receive, keeping id, body and enqueue time', async () => {
      const sent = sqs.sendMessage({ QueueUrl: url, MessageBody: 'poison', MessageAttributes: { kind: { DataType: 'String', StringValue: 'x' } } });
      const sentAt = clock.now();
      for (let i = 0; i < 2; i++) {
        expect(await receive({ VisibilityTimeout: 0 })).to.have.length(1);
      }
      expect(await receive()).to.have.length(0);
      expect(sqs.counts(url)).to.deep.equal({ visible: 0, inFlight: 0, delayed: 0 });
      const [dead] = (await sqs.receiveMessage({ QueueUrl: dlqUrl, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] })).Messages ?? [];
      expect(dead?.MessageId).to.equal(sent.MessageId);
      expect(dead?.Body).to.equal('poison');
      expect(dead?.MessageAttributes).to.deep.equal({ kind: { DataType: 'String', StringValue: 'x' } });
      expect(dead?.Attributes?.SentTimestamp).to.equal(String(sentAt));
      expect(dead?.Attributes?.DeadLetterQueueSourceArn).to.equal('arn:aws:sqs:us-east-1:000000000000:work');
    });

    it('refuses a redrive policy whose dead-letter target does not exist or whose maxReceiveCount is out of range', () => {
      const bad = (policy: object) => sqsError(() => sqs.setQueueAttributes({ QueueUrl: url, Attributes: { RedrivePolicy: JSON.stringify(policy) } })).code;
      expect(bad({ deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:missing', maxReceiveCount: 3 })).to.equal('InvalidAttributeValue');
      expect(bad({ deadLetterTargetArn: dlqArn, maxReceiveCount: 0 })).to.equal('InvalidAttributeValue');
    });
  });

  it('drops messages after the retention period, counted from the send', async () => {
    const short = sqs.createQueue({ QueueName: 'short', Attributes: { MessageRetentionPeriod: '60' } }).QueueUrl;
    sqs.sendMessage({ QueueUrl: short, MessageBody: 'a' });
    clock.advance(59_999);
    expect(sqs.counts(short).visible).to.equal(1);
    clock.advance(1);
    expect(sqs.counts(short).visible).to.equal(0);
    expect(sqsError(() => sqs.createQueue({ QueueName: 'x', Attributes: { MessageRetentionPeriod: '1209601' } })).code).to.equal('InvalidAttributeValue');
  });

  describe('long polling (WaitTimeSeconds)', () => {
    it('answers a waiting receive as soon as a message is sent', async () => {
      const poll = sqs.receiveMessage({ QueueUrl: url, WaitTimeSeconds: 20 });
      clock.advance(3000);
      sqs.sendMessage({ QueueUrl: url, MessageBody: 'now' });
      expect((await poll).Messages?.map((message) => message.Body)).to.deep.equal(['now']);
    });

    it('answers when an in-flight message becomes visible again within the wait', async () => {
      sqs.sendMessage({ QueueUrl: url, MessageBody: 'retry' });
      await receive({ VisibilityTimeout: 5 });
      const poll = sqs.receiveMessage({ QueueUrl: url, WaitTimeSeconds: 10 });
      clock.advance(5000);
      expect((await poll).Messages).to.have.length(1);
    });

    it('returns empty at the end of the wait, and on close', async () => {
      const timedOut = sqs.receiveMessage({ QueueUrl: url, WaitTimeSeconds: 2 });
      clock.advance(2000);
      expect(await timedOut).to.deep.equal({});
      const closed = sqs.receiveMessage({ QueueUrl: url, WaitTimeSeconds: 20 });
      sqs.close();
      expect(await closed).to.deep.equal({});
    });

    it('uses the queue ReceiveMessageWaitTimeSeconds when the receive names none', async () => {
      const polled = sqs.createQueue({ QueueName: 'polled', Attributes: { ReceiveMessageWaitTimeSeconds: '20' } }).QueueUrl;
      let done = false;
      const poll = sqs.receiveMessage({ QueueUrl: polled }).then((out) => {
        done = true;
        return out;
      });
      clock.advance(19_000);
      await Promise.resolve();
      expect(done).to.equal(false);
      clock.advance(1000);
      expect(await poll).to.deep.equal({});
    });
  });

  describe('batches', () => {
    it('sends a batch, reporting a bad entry in Failed and the rest in Successful', () => {
      const out = sqs.sendMessageBatch({
        QueueUrl: url,
        Entries: [
          { Id: 'a', MessageBody: 'one' },
          { Id: 'b', MessageBody: 'bad\u0000body' },
          { Id: 'c', MessageBody: 'three' },
        ],
      });
      expect(out.Successful.map((entry) => entry.Id)).to.deep.equal(['a', 'c']);
      expect(out.Failed).to.deep.equal([{ Id: 'b', SenderFault: true, Code: 'InvalidMessageContents', Message: out.Failed[0]?.Message }]);
      expect(sqs.counts(url).visible).to.equal(2);
    });

    it('rejects an empty batch, more than 10 entries and repeated ids', () => {
      expect(sqsError(() => sqs.sendMessageBatch({ QueueUrl: url, Entries: [] })).code).to.equal('EmptyBatchRequest');
      const eleven = Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x' }));
      expect(sqsError(() => sqs.sendMessageBatch({ QueueUrl: url, Entries: eleven })).code).to.equal('TooManyEntriesInBatchRequest');
      const repeated = [{ Id: 'same', MessageBody: 'x' }, { Id: 'same', MessageBody: 'y' }];
      expect(sqsError(() => sqs.sendMessageBatch({ QueueUrl: url, Entries: repeated })).code).to.equal('BatchEntryIdsNotDistinct');
    });

    it('deletes and changes visibility in batches, entry by entry', async () => {
      sqs.sendMessageBatch({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: '1' }, { Id: 'b', MessageBody: '2' }] });
      const [one, two] = await receive({ MaxNumberOfMessages: 10 });
      const changed = sqs.changeMessageVisibilityBatch({
        QueueUrl: url,
        Entries: [{ Id: 'x', ReceiptHandle: two?.ReceiptHandle as string, VisibilityTimeout: 0 }],
      });
      expect(changed.Successful).to.deep.equal([{ Id: 'x' }]);
      const deleted = sqs.deleteMessageBatch({
        QueueUrl: url,
        Entries: [
          { Id: 'ok', ReceiptHandle: one?.ReceiptHandle as string },
          { Id: 'bad', ReceiptHandle: 'garbage' },
        ],
      });
      expect(deleted.Successful).to.deep.equal([{ Id: 'ok' }]);
      expect(deleted.Failed.map((entry) => entry.Code)).to.deep.equal(['ReceiptHandleIsInvalid']);
      expect(sqs.counts(url)).to.deep.equal({ visible: 1, inFlight: 0, delayed: 0 });
    });
  });

  it('refuses a message larger than MaximumMessageSize', () => {
    const small = sqs.createQueue({ QueueName: 'small', Attributes: { MaximumMessageSize: '1024' } }).QueueUrl;
    expect(sqsError(() => sqs.sendMessage({ QueueUrl: small, MessageBody: 'x'.repeat(1025) })).code).to.equal('InvalidParameterValue');
    sqs.sendMessage({ QueueUrl: small, MessageBody: 'x'.repeat(1024) });
  });

  it('creates a queue idempotently with the same attributes and refuses different ones', () => {
    expect(sqs.createQueue({ QueueName: 'work', Attributes: { VisibilityTimeout: '30' } }).QueueUrl).to.equal(url);
    expect(sqsError(() => sqs.createQueue({ QueueName: 'work', Attributes: { VisibilityTimeout: '60' } })).code).to.equal('QueueNameExists');
    expect(sqsError(() => sqs.createQueue({ QueueName: 'jobs.fifo' })).code).to.equal('UnsupportedOperation');
  });

  it('purges a queue at most once a minute', () => {
    sqs.sendMessage({ QueueUrl: url, MessageBody: 'a' });
    sqs.purgeQueue({ QueueUrl: url });
    expect(sqs.counts(url).visible).to.equal(0);
    expect(sqsError(() => sqs.purgeQueue({ QueueUrl: url })).code).to.equal('PurgeQueueInProgress');
    clock.advance(60_000);
    sqs.purgeQueue({ QueueUrl: url });
  });

  it('hashes message attributes independently of their order and sensitive to each value', () => {
    // The same attributes in another order hash alike; a changed value does not.
    const a = md5OfMessageAttributes({ b: { DataType: 'Number', StringValue: '1' }, a: { DataType: 'String', StringValue: 'x' } });
    const b = md5OfMessageAttributes({ a: { DataType: 'String', StringValue: 'x' }, b: { DataType: 'Number', StringValue: '1' } });
    const c = md5OfMessageAttributes({ a: { DataType: 'String', StringValue: 'y' }, b: { DataType: 'Number', StringValue: '1' } });
    expect(a).to.equal(b);
    expect(a).to.not.equal(c);
    expect(a).to.match(/^[0-9a-f]{32}$/);
  });
});
