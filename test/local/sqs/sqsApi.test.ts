/**
 * The local SQS endpoint against the real SQSClient (AWS JSON 1.0): the
 * client's own MD5 checks, its error classes and a long poll over HTTP.
 */
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SQSClient,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { expect } from 'chai';
import { type SqsApi, startSqsApi } from '../../../local/sqs/sqsApi.js';

describe('local SQS endpoint: the real SQSClient over AWS JSON 1.0', () => {
  let api: SqsApi;
  let client: SQSClient;

  beforeEach(async () => {
    api = await startSqsApi();
    client = new SQSClient({ endpoint: api.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  });
  afterEach(async () => {
    client.destroy();
    await api.close();
  });

  it('listens on an ephemeral 127.0.0.1 port and hands out queue URLs on it', async () => {
    expect(api.endpoint).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'telemetry-dlq' }));
    expect(QueueUrl).to.equal(`${api.endpoint}/000000000000/telemetry-dlq`);
    expect((await client.send(new GetQueueUrlCommand({ QueueName: 'telemetry-dlq' }))).QueueUrl).to.equal(QueueUrl);
  });

  it('sends, receives (with attributes) and deletes, passing the client MD5 checks', async () => {
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'q' }));
    const sent = await client.send(
      new SendMessageCommand({ QueueUrl, MessageBody: '{"reading":1}', MessageAttributes: { source: { DataType: 'String', StringValue: 'test' }, raw: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) } } }),
    );
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl, MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'], MessageAttributeNames: ['All'] }));
    expect(Messages).to.have.length(1);
    const [message] = Messages;
    expect(message?.MessageId).to.equal(sent.MessageId);
    expect(message?.Body).to.equal('{"reading":1}');
    expect(message?.Attributes?.ApproximateReceiveCount).to.equal('1');
    expect(message?.MessageAttributes?.source?.StringValue).to.equal('test');
    expect([...(message?.MessageAttributes?.raw?.BinaryValue ?? [])]).to.deep.equal([1, 2, 3]);
    expect(message?.MD5OfMessageAttributes).to.equal(sent.MD5OfMessageAttributes);
    await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message?.ReceiptHandle }));
    const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(Attributes).to.deep.equal({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  });

  it('maps errors to the client error classes', async () => {
    const error = await client.send(new SendMessageCommand({ QueueUrl: `${api.endpoint}/000000000000/missing`, MessageBody: 'x' })).catch((caught: Error) => caught);
    expect(error).to.be.instanceOf(QueueDoesNotExist);
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'q' }));
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' }));
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl }));
    await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: Messages[0]?.ReceiptHandle }));
    const notInFlight = await client.send(new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: Messages[0]?.ReceiptHandle, VisibilityTimeout: 5 })).catch((caught: Error) => caught);
    expect((notInFlight as Error).name).to.equal('MessageNotInflight');
  });

  it('sends and deletes in batches', async () => {
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'q' }));
    const sent = await client.send(new SendMessageBatchCommand({ QueueUrl, Entries: [1, 2, 3].map((n) => ({ Id: `m${n}`, MessageBody: `body ${n}` })) }));
    expect(sent.Successful?.map((entry) => entry.Id)).to.deep.equal(['m1', 'm2', 'm3']);
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
    expect(Messages.map((message) => message.Body)).to.deep.equal(['body 1', 'body 2', 'body 3']);
    const deleted = await client.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: Messages.map((message, i) => ({ Id: `d${i}`, ReceiptHandle: message.ReceiptHandle })) }));
    expect(deleted.Successful).to.have.length(3);
  });

  it('answers a long poll over HTTP when a message arrives', async () => {
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'q' }));
    const started = Date.now();
    // SQS's longest wait (20 s): an answer well inside it came when the message did, however slow the machine.
    const poll = client.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }));
    setTimeout(() => void api.sqs.sendMessage({ QueueUrl: QueueUrl as string, MessageBody: 'late' }), 200);
    const { Messages = [] } = await poll;
    expect(Messages.map((message) => message.Body)).to.deep.equal(['late']);
    expect(Date.now() - started).to.be.below(15_000);
  });

  it('answers a request in the query protocol with a clear error', async () => {
    const response = await fetch(api.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=ListQueues' });
    expect(response.status).to.equal(400);
    expect(((await response.json()) as { message: string }).message).to.match(/JSON protocol/);
  });
});
