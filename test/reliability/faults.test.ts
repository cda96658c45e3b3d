/**
 * The fault injector itself (local/faults.ts): FAULTS and FAULTS_SEED are
 * validated with clear errors, draws are seeded and reproducible, and the
 * injected failures reach the real AWS SDK clients and our signed poster in
 * exactly the shapes AWS answers with. `npm start` says loudly that faults are on.
 */
import { crc32 } from 'node:zlib';
import { ApiGatewayManagementApiClient, GoneException, LimitExceededException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, GetItemCommand, InternalServerError, ProvisionedThroughputExceededException, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { expect } from 'chai';
import { classifyPostError } from '@serverless-iot-dashboard/shared';
import { createSignedPoster } from '@serverless-iot-dashboard/shared';
import {
  FaultSpecError,
  createFaultInjector,
  describeFaults,
  managementHook,
  parseFaultSeed,
  parseFaults,
  seededRandom,
  startDynamoFaultProxy,
} from '../../local/stack/faults.js';
import { type Gateway, createGateway } from '../../local/apigateway/gateway.js';
import { buildStackModel } from '../../local/template/stackModel.js';
import { runScript } from '../helpers/childProcess.js';
import { type TestDynamo, startDynamo } from '../helpers/dynamo.js';
import { type TestClient, connectClient } from '../helpers/wsClient.js';
import { waitFor } from '../helpers/waitFor.js';

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The error a promise rejects with; a success fails the test. */
const failure = <T>(promise: Promise<T>): Promise<Error & Record<string, any>> =>
  promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: Error & Record<string, any>) => error,
  );

describe('reliability: fault injection (local/faults.ts)', function () {
  this.timeout(30_000);

  describe('FAULTS and FAULTS_SEED', () => {
    it('parses target:fault:probability entries, tolerating spaces and empty entries', () => {
      expect(parseFaults(' post:429:0.2, post:500:0.05,,dynamodb:throttle:0.1 ,dynamodb:500:0.05,invoke:crash:0.1,invoke:timeout:0 ')).to.deep.equal([
        { target: 'post', fault: '429', probability: 0.2 },
        { target: 'post', fault: '500', probability: 0.05 },
        { target: 'dynamodb', fault: 'throttle', probability: 0.1 },
        { target: 'dynamodb', fault: '500', probability: 0.05 },
        { target: 'invoke', fault: 'crash', probability: 0.1 },
        { target: 'invoke', fault: 'timeout', probability: 0 },
      ]);
      expect(parseFaults(undefined)).to.deep.equal([]);
      expect(parseFaults('')).to.deep.equal([]);
      expect(parseFaults('post:410:1')).to.deep.equal([{ target: 'post', fault: '410', probability: 1 }]);
    });

    for (const [spec, message] of [
      ['post:429', /"post:429" is not target:fault:probability/],
      ['post:429:0.1:x', /not target:fault:probability/],
      ['lambda:crash:0.1', /unknown target "lambda"; targets are post, dynamodb, invoke/],
      ['post:503:0.1', /unknown fault "503" for post; post faults are 429, 500, 410/],
      ['dynamodb:429:0.1', /unknown fault "429" for dynamodb; dynamodb faults are throttle, 500/],
      ['invoke:oom:0.1', /invoke faults are timeout, crash/],
      ['post:429:1.5', /probability "1.5" must be a number from 0 to 1/],
      ['post:429:-0.1', /probability "-0.1" must be a number from 0 to 1/],
      ['post:429:lots', /probability "lots" must be a number from 0 to 1/],
      ['post:429:', /probability "" must be a number from 0 to 1/],
      ['post:429:0.1,post:429:0.2', /post:429 is given twice/],
      ['post:429:0.6,post:500:0.3,post:410:0.2', /the post probabilities add up to 1.1/],
    ] as const) {
      it(`rejects "${spec}" with a clear error`, () => {
        expect(() => parseFaults(spec)).to.throw(FaultSpecError, message);
      });
    }

    it('takes a whole-number seed, and draws a random one (to print) when none is given', () => {
      expect(parseFaultSeed('42')).to.equal(42);
      expect(parseFaultSeed(' 4294967295 ')).to.equal(4294967295);
      expect(parseFaultSeed(undefined)).to.be.within(0, 2 ** 32 - 1);
      for (const bad of ['-1', '1.5', 'abc', '4294967296', '1e3']) expect(() => parseFaultSeed(bad), bad).to.throw(FaultSpecError, /FAULTS_SEED must be a whole number/);
    });

    it('describes the active faults for people', () => {
      expect(describeFaults(parseFaults('post:429:0.2,dynamodb:throttle:0.125'))).to.equal('post 429 20%, dynamodb throttle 12.5%');
      expect(describeFaults([])).to.equal('none');
    });
  });

  describe('seeded draws', () => {
    const rules = parseFaults('post:429:0.2,post:500:0.05,dynamodb:throttle:0.1,invoke:crash:0.3');
    const draws = (seed: number, target: 'post' | 'dynamodb' | 'invoke', n: number, interleave?: 'post') => {
      const injector = createFaultInjector({ rules, seed });
      return Array.from({ length: n }, () => {
        if (interleave) injector.draw(interleave);
        return injector.draw(target) ?? '-';
      }).join(',');
    };

    it('repeats the same faults for the same seed, and others for another seed', () => {
      expect(draws(7, 'post', 200)).to.equal(draws(7, 'post', 200));
      expect(draws(7, 'post', 200)).not.to.equal(draws(8, 'post', 200));
    });

    it('gives each target its own stream: the management API cannot shift the DynamoDB faults', () => {
      expect(draws(7, 'dynamodb', 200, 'post')).to.equal(draws(7, 'dynamodb', 200));
    });

    it('injects each fault at its probability, one fault per call at most', () => {
      const injector = createFaultInjector({ rules, seed: 123 });
      for (let i = 0; i < 20_000; i++) injector.draw('post');
      const stats = injector.stats();
      expect(stats.post).to.equal(20_000);
      expect(stats['post:429']! / 20_000).to.be.closeTo(0.2, 0.015);
      expect(stats['post:500']! / 20_000).to.be.closeTo(0.05, 0.008);
      expect(injector.draw('invoke' as never)).to.be.oneOf(['crash', undefined]);
    });

    it('uses a portable generator (mulberry32): the same numbers on every machine', () => {
      const next = seededRandom(1);
      expect([next(), next(), next()].map((x) => x.toFixed(6))).to.deep.equal(['0.627074', '0.002736', '0.527447']);
    });
  });

  describe('post: the @connections API answers as API Gateway does', () => {
    const model = buildStackModel();
    let gateway: Gateway;
    let endpoint: string;
    let sdk: ApiGatewayManagementApiClient;
    let client: TestClient | undefined;
    const calls: string[] = [];

    const start = async (spec: string) => {
      const injector = createFaultInjector({ rules: parseFaults(spec), seed: 1 });
      gateway = createGateway({
        api: model.api!,
        region: model.region,
        accountId: model.accountId,
        auth: false,
        log: () => undefined,
        hooks: { management: managementHook(injector) },
        invoke: async (functionId) => {
          calls.push(functionId);
          return { statusCode: 200 };
        },
      });
      const port = await gateway.listen(0, '127.0.0.1');
      endpoint = `http://127.0.0.1:${port}/${model.api!.stage}`;
      sdk = new ApiGatewayManagementApiClient({ endpoint, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
      client = await connectClient(`ws://127.0.0.1:${port}`);
      return gateway.connections()[0]!.connectionId;
    };

    afterEach(async () => {
      sdk?.destroy();
      await client?.close();
      client = undefined;
      await gateway?.close();
      calls.length = 0;
    });

    it('429: LimitExceededException to the SDK and to the signed poster, which the fan-out retries', async () => {
      const id = await start('post:429:1');
      const fromSdk = await failure(sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('{}') })));
      const poster = createSignedPoster({ endpoint, region: 'us-east-1', credentials: async () => CREDENTIALS });
      const fromPoster = await failure(poster(id, '{}'));
      poster.destroy();
      expect(fromSdk).to.be.instanceOf(LimitExceededException);
      expect(fromSdk.$metadata.httpStatusCode).to.equal(429);
      expect(fromPoster).to.include({ name: 'LimitExceededException' });
      expect(fromPoster.$metadata.httpStatusCode).to.equal(429);
      expect(classifyPostError(fromSdk)).to.equal('retry');
      expect(classifyPostError(fromPoster)).to.equal('retry');
    });

    it('500: InternalServerErrorException, a server fault the fan-out retries', async () => {
      const id = await start('post:500:1');
      const fromSdk = await failure(sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('{}') })));
      expect(fromSdk).to.include({ name: 'InternalServerErrorException', $fault: 'server' });
      expect(fromSdk.$metadata.httpStatusCode).to.equal(500);
      expect(classifyPostError(fromSdk)).to.equal('retry');
    });

    it('410: GoneException, and the connection really is gone: its socket drops, with no $disconnect', async () => {
      const id = await start('post:410:1');
      const fromSdk = await failure(sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('{}') })));
      const { code } = await client!.closed;
      // An absence check on events: the gateway has let the connection go, and every event it had in flight (a
      // $disconnect, if one were sent) has finished.
      await waitFor(() => gateway.connections().length === 0, { message: 'the gateway to drop the connection' });
      await gateway.settled();
      expect(fromSdk).to.be.instanceOf(GoneException);
      expect(classifyPostError(fromSdk)).to.equal('gone');
      expect(code).to.equal(1006);
      expect(gateway.connections()).to.deep.equal([]);
      expect(calls.filter((f) => f === 'DisconnectFunction')).to.deep.equal([]);
    });
  });

  describe('dynamodb: a proxy answers in DynamoDB JSON 1.0 error shapes', () => {
    let upstream: TestDynamo;
    before(async () => {
      upstream = await startDynamo();
    });
    after(async () => {
      await upstream?.stop();
    });

    const throughProxy = async (spec: string, act: (client: DynamoDBClient, endpoint: string) => Promise<void>, maxAttempts = 1) => {
      const injector = createFaultInjector({ rules: parseFaults(spec), seed: 1 });
      const proxy = await startDynamoFaultProxy({ upstream: upstream.endpoint, injector });
      const client = new DynamoDBClient({ endpoint: proxy.endpoint, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts });
      try {
        await act(client, proxy.endpoint);
        return injector.stats();
      } finally {
        client.destroy();
        await proxy.close();
      }
    };
    const item = (pk: string) => ({ TableName: upstream.tableName, Item: { pk: { S: pk }, sk: { S: 'meta' } } });
    const stored = async (pk: string) => (await upstream.client.send(new GetItemCommand({ TableName: upstream.tableName, Key: { pk: { S: pk }, sk: { S: 'meta' } }, ConsistentRead: true }))).Item;

    it('throttle: HTTP 400 ProvisionedThroughputExceededException, which the SDK retries, and nothing written', async () => {
      const stats = await throughProxy('dynamodb:throttle:1', async (client, endpoint) => {
        const error = await failure(client.send(new PutItemCommand(item('conn#throttled'))));
        const raw = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' }, body: '{}' });
        const body = await raw.text();
        expect(error).to.be.instanceOf(ProvisionedThroughputExceededException);
        expect(error.$metadata.httpStatusCode).to.equal(400);
        expect(raw.status).to.equal(400);
        expect(JSON.parse(body)).to.deep.include({ __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException' });
        expect(raw.headers.get('x-amz-crc32')).to.equal(String(crc32(body)));
        expect(raw.headers.get('x-amzn-requestid')).to.match(/^[0-9A-F]{32}$/);
      }, 2);
      expect(stats.dynamodb, 'requests: the put, the SDK\'s retry of it, and the raw one').to.equal(3);
      expect(await stored('conn#throttled')).to.equal(undefined);
    });

    it('500: HTTP 500 InternalServerError after the request took effect, so a retry must be harmless', async () => {
      await throughProxy('dynamodb:500:1', async (client) => {
        const error = await failure(client.send(new PutItemCommand(item('conn#applied'))));
        expect(error).to.be.instanceOf(InternalServerError);
        expect(error.$metadata.httpStatusCode).to.equal(500);
        expect(error.$fault).to.equal('server');
      });
      expect(await stored('conn#applied')).to.deep.include({ pk: { S: 'conn#applied' } });
    });

    it('passes every other request through untouched', async () => {
      await throughProxy('dynamodb:throttle:0', async (client) => {
        await client.send(new PutItemCommand(item('conn#passed')));
        const out = await client.send(new GetItemCommand({ TableName: upstream.tableName, Key: { pk: { S: 'conn#passed' }, sk: { S: 'meta' } } }));
        expect(out.Item?.pk).to.deep.equal({ S: 'conn#passed' });
      });
    });
  });

  describe('npm start (local/main.ts) with FAULTS', () => {
    it('prints the active faults and the seed loudly before anything else, and injects them', async () => {
      const start = runScript('local/main.ts', [], { PORT: '0', WS_PORT: '0', MQTT_PORT: '0', SIMULATED_DEVICES: '0', AUTH: 'off', FAULTS: 'post:429:0.2,dynamodb:throttle:0.05', FAULTS_SEED: '7' });
      try {
        await start.line(/^ready /, 30_000);
        const output = start.stdout.join('\n');
        const banner = start.stdout.slice(0, start.stdout.findIndex((line) => line.startsWith('starting the local stack')));
        expect(banner).to.include('!!! FAULTS injected: post 429 20%, dynamodb throttle 5% !!!');
        expect(banner.some((line) => /^!!! FAULTS_SEED=7 \(set it to draw the same faults again\)/.test(line))).to.equal(true);
        expect(output).to.match(/FAULTS injected \(seed 7\): post 429 20%, dynamodb throttle 5%/);
        expect(output).to.match(/functions reach DynamoDB through a fault proxy at http:\/\/127\.0\.0\.1:\d+/);
        start.child.kill('SIGINT');
        expect((await start.exited).code).to.equal(0);
      } finally {
        await start.kill();
      }
    });

    it('refuses a bad FAULTS with a one-line error and exit code 1', async () => {
      const start = runScript('local/main.ts', [], { PORT: '0', WS_PORT: '0', MQTT_PORT: '0', FAULTS: 'post:429:2' });
      const { code } = await start.exited;
      expect(code).to.equal(1);
      expect(start.stderr.filter(Boolean)).to.deep.equal(['error: FAULTS entry "post:429:2": probability "2" must be a number from 0 to 1']);
    });
  });
});
