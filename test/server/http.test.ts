/** The HTTP side of a server: status, static files without traversal, the bundle, origins. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ServerNode } from '../../src/server/index.js';
import { browserBundleDir } from '../../src/server/package-dir.js';
import { within } from '../helpers/wait.js';
import { server, stopAll, tempDir } from './helpers.js';

/** A GET with the path sent exactly as written (fetch would normalise "/../"). */
function get(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(base);
  return within(
    new Promise((resolve, reject) => {
      const req = httpRequest({ hostname, port, path, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    }),
    3_000,
    `GET ${path}`,
  );
}

/** Tries a WebSocket to `url` with `origin`; resolves 'open' or the HTTP status of the refusal. */
function tryWebSocket(url: string, origin?: string): Promise<'open' | number> {
  return within(
    new Promise((resolve) => {
      const ws = new WebSocket(url, origin ? { origin } : {});
      ws.on('open', () => (ws.close(), resolve('open')));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('error', () => undefined);
    }),
    3_000,
    'websocket attempt',
  );
}

describe('HTTP endpoints', { timeout: 30_000 }, () => {
  let withStatic: ServerNode;
  let plain: ServerNode;
  let site: Awaited<ReturnType<typeof tempDir>>;
  const http = (n: ServerNode) => n.url!.replace(/^ws/, 'http').replace(/\/mesh$/, '');

  before(async () => {
    site = await tempDir('site');
    await mkdir(join(site.path, 'sub'));
    await writeFile(join(site.path, 'index.html'), '<h1>home</h1>');
    await writeFile(join(site.path, 'sub', 'style.css'), 'body {}');
    await writeFile(join(site.path, 'sub', 'index.html'), 'sub index');
    await writeFile(join(site.path, '.env'), 'SECRET=1');
    withStatic = await server({ static: site.path, allowOrigins: ['https://good.example'], allowAppOrigins: ['https://Chat.example/', 'http://127.0.0.1:8000'] });
    plain = await server();
  });
  after(async () => {
    await stopAll([withStatic, plain]);
    await site.remove();
  });

  it('serves the status as JSON', async () => {
    const r = await get(http(plain), '/meshwork/status');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    const s = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(s.id, plain.id);
    assert.equal(s.url, plain.url);
    assert.ok(Array.isArray(s.links));
    assert.equal(typeof s.knownPeers, 'number');
    assert.equal(typeof s.counters, 'object');
  });

  it('serves static files with their content types', async () => {
    const home = await get(http(withStatic), '/');
    assert.equal(home.status, 200);
    assert.equal(home.body, '<h1>home</h1>');
    assert.match(String(home.headers['content-type']), /^text\/html/);
    const css = await get(http(withStatic), '/sub/style.css');
    assert.match(String(css.headers['content-type']), /^text\/css/);
    const dir = await get(http(withStatic), '/sub');
    assert.equal(dir.status, 301);
    assert.equal(dir.headers.location, '/sub/');
    assert.equal((await get(http(withStatic), '/sub/')).body, 'sub index');
    assert.equal((await get(http(withStatic), '/missing.html')).status, 404);
  });

  it('never serves a file outside the static dir, or a hidden one', async () => {
    const attempts = ['/../package.json', '/%2e%2e/package.json', '/sub/..%2f..%2fpackage.json', '/%2e%2e%2f%2e%2e%2fetc/passwd', '/..%5cpackage.json', '/.env', '/sub/../.env', '/%00', '/%E0%A4%A'];
    for (const path of attempts) {
      const r = await get(http(withStatic), path);
      assert.ok(r.status === 404 || r.status === 400, `${path} answered ${r.status}`);
      assert.ok(!r.body.includes('SECRET') && !r.body.includes('"name"') && !r.body.includes('root:'), `${path} leaked a file`);
    }
    const redirect = await get(http(withStatic), '//evil.example');
    assert.notEqual(redirect.status, 301, 'no redirect to another host');
  });

  it('shows a built-in page when there is no static dir', async () => {
    const r = await get(http(plain), '/');
    assert.equal(r.status, 200);
    assert.match(r.body, /Meshwork/);
    assert.match(r.body, /\/meshwork\/status/);
  });

  it('serves the browser bundle from dist/browser when built, no-cache, and 404 otherwise', async () => {
    for (const name of ['client.js', 'worker.js']) {
      const r = await get(http(plain), `/meshwork/${name}`);
      if (existsSync(join(browserBundleDir(), name))) {
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^text\/javascript/);
        assert.equal(r.headers['cache-control'], 'no-cache');
      } else {
        assert.equal(r.status, 404);
      }
    }
    assert.equal((await get(http(plain), '/meshwork/nothing-here.js')).status, 404);
    assert.equal((await get(http(plain), '/meshwork/..%2fserver%2findex.js')).status, 404);
    assert.equal((await get(http(plain), '/meshwork/types/index.d.ts')).status, 404);
  });

  it('answers plain HTTP on /mesh with 426 and other methods with 405', async () => {
    assert.equal((await get(http(plain), '/mesh')).status, 426);
    const r = await fetch(`${http(plain)}/`, { method: 'POST', body: 'x' });
    assert.equal(r.status, 405);
    await r.arrayBuffer();
  });

  it('serves the hub page with the allowed app origins written in, normalised and escaped', async () => {
    const strict = await get(http(withStatic), '/meshwork/hub.html');
    assert.equal(strict.status, 200);
    assert.match(String(strict.headers['content-type']), /^text\/html/);
    assert.match(strict.body, /<script type="module" src="\/meshwork\/hub.js"><\/script>/);
    const config = /<script type="application\/json" id="meshwork-hub-config">(.*)<\/script>/.exec(strict.body)?.[1];
    assert.deepEqual(JSON.parse(config!), { allow: ['https://chat.example', 'http://127.0.0.1:8000'] });
    const closed = await get(http(plain), '/meshwork/hub.html');
    assert.match(closed.body, /"allow":\[\]/, 'no list: no origin but the server\'s own');
    const anyone = await server({ allowAppOrigins: ['*'] });
    try {
      assert.match((await get(http(anyone), '/meshwork/hub.html')).body, /"allow":null/, "'*': any origin");
    } finally {
      await anyone.stop();
    }
    await assert.rejects(server({ allowAppOrigins: ['*', 'https://x.example'] }), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && /cannot be combined/.test(e.message));
    await assert.rejects(server({ allowAppOrigins: ['https://x.example/path'] }), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && /allowed origin "https:\/\/x.example\/path"/.test(e.message));
    await assert.rejects(server({ allowAppOrigins: ['</script><script>alert(1)'] }), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT');
  });

  it('accepts any origin by default, and only allowed browser origins with allowOrigins', async () => {
    assert.equal(await tryWebSocket(plain.url!, 'https://anyone.example'), 'open');
    assert.equal(await tryWebSocket(withStatic.url!, 'https://good.example'), 'open');
    assert.equal(await tryWebSocket(withStatic.url!), 'open', 'non-browser clients send no Origin');
    assert.equal(await tryWebSocket(withStatic.url!, 'https://evil.example'), 403);
    const refusal = await get(http(withStatic), '/mesh', { Connection: 'Upgrade', Upgrade: 'websocket', Origin: 'https://evil.example', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' });
    assert.equal(refusal.status, 403);
    assert.match(refusal.body, /origin https:\/\/evil\.example is not allowed/);
    assert.equal(await tryWebSocket(http(plain).replace(/^http/, 'ws') + '/elsewhere'), 404);
  });
});
