/** The dashboard's HTTP server: static files inside dashboard/dist only, a placeholder without a build, live /config.json. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { type WebServer, createWebServer, staticFilePath } from '../../../local/cloudfront/webServer.js';
import { httpGet } from '../../helpers/wsClient.js';

/** A GET with the path sent exactly as written (no URL normalisation by the client). */
const rawGet = (port: number, path: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

describe('local web server', () => {
  let dir: string;
  let server: WebServer | undefined;
  const start = async (root: string) => {
    server = createWebServer({ root, config: (req) => ({ host: req.headers.host }), onMqttSocket: (ws) => ws.close() });
    return server.listen(0, '127.0.0.1');
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'web-root-'));
    mkdirSync(join(dir, 'dist', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'index.html'), '<h1>dashboard</h1>');
    writeFileSync(join(dir, 'dist', 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'do not serve');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('maps URL paths inside the root and refuses every way out of it', () => {
    const root = '/srv/dist';
    expect(staticFilePath(root, '/assets/app.js')).to.equal('/srv/dist/assets/app.js');
    expect(staticFilePath(root, '/a/../b.js?x=1')).to.equal('/srv/dist/b.js');
    for (const evil of ['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/a/%2e%2e/%2e%2e/x', '/x%00.js', '/..\\secret.txt', '/%E0%A4%A']) {
      const file = staticFilePath(root, evil);
      expect(file === undefined || file.startsWith('/srv/dist/'), evil).to.equal(true);
    }
  });

  it('serves the build with content types, and never a file outside it', async () => {
    const port = await start(join(dir, 'dist'));
    const index = await httpGet(`http://127.0.0.1:${port}/`);
    const script = await httpGet(`http://127.0.0.1:${port}/assets/app.js`);
    const escapes = await Promise.all(['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt'].map((p) => rawGet(port, p)));
    expect(index).to.include({ status: 200, body: '<h1>dashboard</h1>' });
    expect(index.headers['content-type']).to.match(/text\/html/);
    expect(script.headers['content-type']).to.match(/javascript/);
    for (const escape of escapes) {
      expect(escape.body).not.to.include('do not serve');
      expect([403, 404]).to.include(escape.status);
    }
  });

  it('serves a page that says how to build the dashboard when dist is missing', async () => {
    const port = await start(join(dir, 'missing'));
    const page = await httpGet(`http://127.0.0.1:${port}/`);
    expect(page.status).to.equal(200);
    expect(page.body).to.include('npm run build:dashboard');
  });

  it('answers /config.json from the live config, and refuses other methods', async () => {
    const port = await start(join(dir, 'dist'));
    const config = await httpGet(`http://127.0.0.1:${port}/config.json`);
    expect(JSON.parse(config.body)).to.deep.equal({ host: `127.0.0.1:${port}` });
    expect(config.headers['cache-control']).to.equal('no-store');
    const post = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/config.json', method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('x');
    });
    expect(post).to.equal(405);
  });
});
