/**
 * The local stack's /config.json (it hands out the development token) and
 * /mqtt (all telemetry, read and publish) answer pages of this machine only:
 * a foreign Origin or a DNS-rebinding Host gets 403.
 */
import { request } from 'node:http';
import { expect } from 'chai';
import WebSocket from 'ws';
import { type TestStack, startTestStack } from '../../helpers/localStack.js';

const get = (port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

/** The status of a WebSocket upgrade to /mqtt with the given headers (101 when it is accepted). */
const mqttUpgrade = (port: number, headers: Record<string, string>): Promise<number> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt', { headers, handshakeTimeout: 5000 });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });

describe('local stack: /config.json and /mqtt answer local pages only', function () {
  this.timeout(30_000);
  let stack: TestStack;
  let port: number;

  before(async () => {
    stack = await startTestStack({ auth: true });
    port = stack.ports.http;
  });
  after(() => stack?.stop());

  it('hands the development token to a local page, and 403 to a foreign Origin or a rebinding Host', async () => {
    const local = await get(port, '/config.json', { Host: `localhost:${port}`, Origin: `http://localhost:${port}` });
    const noOrigin = await get(port, '/config.json', { Host: `127.0.0.1:${port}` });
    const foreignOrigin = await get(port, '/config.json', { Host: `localhost:${port}`, Origin: 'https://evil.example' });
    const rebound = await get(port, '/config.json', { Host: `attacker.example:${port}` });

    expect(local.status).to.equal(200);
    expect(JSON.parse(local.body).token).to.equal(stack.devToken);
    expect(noOrigin.status).to.equal(200);
    expect(foreignOrigin.status).to.equal(403);
    expect(foreignOrigin.body).to.not.include(stack.devToken!);
    expect(rebound.status).to.equal(403);
    expect(rebound.body).to.not.include(stack.devToken!);
  });

  it('accepts MQTT over WebSocket from a local page, and refuses a foreign Origin or a rebinding Host with 403', async () => {
    const local = await mqttUpgrade(port, { Origin: `http://127.0.0.1:${port}` });
    const foreignOrigin = await mqttUpgrade(port, { Origin: 'https://evil.example' });
    const rebound = await mqttUpgrade(port, { Host: `attacker.example:${port}`, Origin: `http://attacker.example:${port}` });

    expect(local).to.equal(101);
    expect(foreignOrigin).to.equal(403);
    expect(rebound).to.equal(403);
  });
});
