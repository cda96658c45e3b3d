/**
 * FAULTS scoped to one DynamoDB table (`dynamodb@HistoryTable:throttle:1`): the history dead-letter spec throttles
 * the history table while the fan-out's own lookups go through. Parsing, which requests a rule applies to, and the
 * proxy's answer for each.
 */
import { createServer } from 'node:http';
import { expect } from 'chai';
import { FaultSpecError, createFaultInjector, describeFaults, parseFaults, requestTables, ruleApplies, startDynamoFaultProxy } from '../../../local/stack/faults.js';

describe('local stack FAULTS: a DynamoDB fault limited to one table', () => {
  it('parses dynamodb@Table entries beside the unscoped ones, and describes them', () => {
    const rules = parseFaults('dynamodb@HistoryTable:throttle:1,dynamodb:500:0');
    expect(rules).to.deep.equal([
      { target: 'dynamodb', fault: 'throttle', probability: 1, table: 'HistoryTable' },
      { target: 'dynamodb', fault: '500', probability: 0 },
    ]);
    expect(describeFaults(rules)).to.equal('dynamodb@HistoryTable throttle 100%, dynamodb 500 0%');
  });

  it('refuses a table on another target, a table twice, and a table whose probabilities with the unscoped ones pass 1', () => {
    expect(() => parseFaults('post@X:429:0.1')).to.throw(FaultSpecError, /only dynamodb takes a table/);
    expect(() => parseFaults('dynamodb@X:throttle:0.1,dynamodb@X:throttle:0.2')).to.throw(FaultSpecError, /given twice/);
    expect(() => parseFaults('dynamodb@X:throttle:0.8,dynamodb:500:0.3')).to.throw(FaultSpecError, /dynamodb@X probabilities add up to 1.1/);
    expect(parseFaults('dynamodb@X:throttle:0.8,dynamodb@Y:throttle:0.8')).to.have.length(2);
  });

  it('reads the tables of single-item, batch and transaction requests', () => {
    const body = (input: unknown) => Buffer.from(JSON.stringify(input));
    expect(requestTables(body({ TableName: 'HistoryTable', Key: {} }))).to.deep.equal(['HistoryTable']);
    expect(requestTables(body({ RequestItems: { A: [], B: [] } }))).to.deep.equal(['A', 'B']);
    expect(requestTables(body({ TransactItems: [{ Put: { TableName: 'A' } }, { Update: { TableName: 'C' } }] }))).to.deep.equal(['A', 'C']);
    expect(requestTables(Buffer.from('not json'))).to.deep.equal([]);
  });

  it("matches the table's logical id or its name, also as a stack's <stack>-<LogicalId>", () => {
    const [rule] = parseFaults('dynamodb@HistoryTable:throttle:1');
    expect(ruleApplies(rule!, ['HistoryTable'])).to.equal(true);
    expect(ruleApplies(rule!, ['Connections', 'my-stack-HistoryTable'])).to.equal(true);
    expect(ruleApplies(rule!, ['HistoryTableOld', 'Connections'])).to.equal(false);
    expect(ruleApplies(rule!, undefined)).to.equal(false);
  });

  it('throttles every request to that table through the proxy, and lets the others through', async () => {
    const upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const injector = createFaultInjector({ rules: parseFaults('dynamodb@HistoryTable:throttle:1'), seed: 1 });
    const proxy = await startDynamoFaultProxy({ upstream: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, injector });
    try {
      const call = async (input: unknown) => {
        const res = await fetch(proxy.endpoint, { method: 'POST', body: JSON.stringify(input), headers: { 'content-type': 'application/x-amz-json-1.0' } });
        return { status: res.status, body: await res.text() };
      };
      for (let i = 0; i < 5; i++) {
        const history = await call({ RequestItems: { HistoryTable: [] } });
        expect(history.status).to.equal(400);
        expect(history.body).to.match(/ProvisionedThroughputExceededException/);
        expect((await call({ TableName: 'Connections' })).status).to.equal(200);
      }
      expect(injector.stats()).to.deep.include({ dynamodb: 5, 'dynamodb:throttle': 5 });
    } finally {
      await proxy.close();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
