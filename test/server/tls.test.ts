/**
 * TLS on the server's one port: https for pages and status, wss for the mesh, with a certificate
 * a throwaway CA signed (test/helpers/certs.ts). A Node node trusts that CA through the `ca`
 * option and joins over wss; without it the same dial fails, which shows the TLS is real. The CLI
 * takes the same certificate as --tls-cert/--tls-key files. The browser side: test/browser/tls.test.ts.
 */
import assert from 'node:assert/strict';
import { get as httpsGet } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MeshError } from '../../src/core/errors.js';
import type { ServerNode } from '../../src/server/index.js';
import { NodeWebSocketDialer } from '../../src/transports/websocket-node.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { startChild } from '../helpers/child.js';
import { within } from '../helpers/wait.js';
import { client, eventually, server, stopAll } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** GET over https with `ca` trusted (or, without it, Node's built-in list only). */
function fetchTls(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      httpsGet(url, ca === undefined ? {} : { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      }).on('error', reject);
    }),
    10_000,
    `GET ${url}`,
  );
}

describe('TLS', { timeout: 60_000 }, () => {
  let certs: TestCerts;
  const nodes: (ServerNode | undefined)[] = [];
  before(async () => {
    certs = await makeTestCerts();
  });
  after(async () => {
    await stopAll(nodes);
    await certs?.remove();
  });

  it('serves https and wss on one port; a node trusting the CA joins and gets answers', async () => {
    const tls = await server({ tls: { cert: certs.cert, key: certs.key } });
    nodes.push(tls);
    assert.match(tls.url!, /^wss:\/\/127\.0\.0\.1:\d+\/mesh$/);
    const base = tls.url!.replace(/^wss/, 'https').replace(/\/mesh$/, '');
    const status = await fetchTls(`${base}/meshwork/status`, certs.ca);
    assert.equal(status.status, 200);
    assert.equal((JSON.parse(status.body) as { id: string }).id, tls.id);
    await assert.rejects(fetchTls(`${base}/meshwork/status`), /self-signed|unable to verify|certificate/i, 'without the CA the certificate is not trusted');

    tls.handle(9, (m) => `echo ${String(m.data)}`);
    const joined = await client([tls.url!], { ca: certs.ca });
    nodes.push(joined);
    const reply = await eventually(() => joined.request(tls.id, 'over wss', { port: 9, timeoutMs: 2_000 }), 20_000, 'a request over wss');
    assert.equal(reply, 'echo over wss');
    assert.deepEqual(joined.status().links.map((l) => l.id), [tls.id]);
  });

  it('a dialler without the CA cannot open the wss endpoint; with it, it can', async () => {
    const tls = await server({ tls: { cert: certs.cert, key: certs.key } });
    nodes.push(tls);
    const stranger = new NodeWebSocketDialer({ timeoutMs: 10_000 });
    const trusting = new NodeWebSocketDialer({ timeoutMs: 10_000, ca: [certs.ca] });
    try {
      await assert.rejects(stranger.dialAddress(tls.url!), (err: unknown) => err instanceof MeshError && err.code === 'DIAL_FAILED');
      const link = await trusting.dialAddress(tls.url!);
      link.close('done');
    } finally {
      stranger.close();
      trusting.close();
    }
  });

  it('refuses half a certificate or one that is not PEM, with INVALID_ARGUMENT', async () => {
    await assert.rejects(server({ tls: { cert: certs.cert, key: '' } }), (e: unknown) => e instanceof MeshError && e.code === 'INVALID_ARGUMENT');
    await assert.rejects(server({ tls: { cert: certs.cert, key: certs.ca } }), (e: unknown) => e instanceof MeshError && e.code === 'INVALID_ARGUMENT' && /cannot be used/.test(e.message));
  });

  it('meshwork serve --tls-cert --tls-key prints wss and https URLs and serves them', async () => {
    const run = startChild(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'serve', '--port', '0', '--no-demo', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile], { cwd: ROOT });
    try {
      const http = (await within(run.line(/^meshwork: http (https:\/\/127\.0\.0\.1:\d+\/)$/), 30_000, 'the https line'))[1]!;
      assert.match(run.stdout(), /^meshwork: url wss:\/\/127\.0\.0\.1:\d+\/mesh$/m);
      const page = await fetchTls(http, certs.ca);
      assert.match(page.body, /<title>Meshwork server node<\/title>/);
    } finally {
      run.proc.kill('SIGKILL');
    }
    const half = startChild(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'serve', '--port', '0', '--tls-cert', certs.certFile], { cwd: ROOT });
    assert.notEqual(await within(half.closed, 30_000, 'exit without --tls-key'), 0);
    assert.match(half.stderr(), /^meshwork: --tls-cert and --tls-key go together/);
  });
});
