/** Static files and the bundle in brotli or gzip, per Accept-Encoding, with validators per encoding. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { CompressedFiles, pickEncoding } from '../../src/server/compressed-files.js';
import type { ServerNode } from '../../src/server/index.js';
import { browserBundleDir } from '../../src/server/package-dir.js';
import { within } from '../helpers/wait.js';
import { server, stopAll, tempDir } from './helpers.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET (or HEAD) whose body comes back as sent on the wire, not decoded. */
function fetchRaw(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return within(
    new Promise((resolve, reject) => {
      const req = httpRequest({ hostname, port, path, headers, method }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    }),
    5_000,
    `${method} ${path}`,
  );
}

function decode(r: Reply): Buffer {
  const enc = r.headers['content-encoding'];
  if (enc === 'br') return brotliDecompressSync(r.body);
  if (enc === 'gzip') return gunzipSync(r.body);
  assert.equal(enc, undefined, `unexpected encoding ${String(enc)}`);
  return r.body;
}

describe('Accept-Encoding', () => {
  it('picks brotli, then gzip, honouring q-values and *', () => {
    assert.equal(pickEncoding(undefined), undefined);
    assert.equal(pickEncoding(''), undefined);
    assert.equal(pickEncoding('gzip, deflate, br, zstd'), 'br');
    assert.equal(pickEncoding('gzip'), 'gzip');
    assert.equal(pickEncoding('GZIP ; q=0.5'), 'gzip');
    assert.equal(pickEncoding('br;q=0, gzip;q=0.5'), 'gzip');
    assert.equal(pickEncoding('br;q=0.4, gzip;q=0.9'), 'gzip');
    assert.equal(pickEncoding('br;q=0.9, gzip;q=0.9'), 'br');
    assert.equal(pickEncoding('identity'), undefined);
    assert.equal(pickEncoding('*'), 'br');
    assert.equal(pickEncoding('*;q=0'), undefined);
    assert.equal(pickEncoding('br;q=0, *'), 'gzip');
    assert.equal(pickEncoding('br;q=nonsense'), undefined);
    assert.equal(pickEncoding(',,;q=1'), undefined);
  });
});

describe('compressed files over HTTP', { timeout: 30_000 }, () => {
  let node: ServerNode;
  let plainNode: ServerNode;
  let site: Awaited<ReturnType<typeof tempDir>>;
  const http = (n: ServerNode) => n.url!.replace(/^ws/, 'http').replace(/\/mesh$/, '');
  const script = `// a script\n${'export const line = "the same line again and again";\n'.repeat(400)}`;

  before(async () => {
    site = await tempDir('compress');
    await writeFile(join(site.path, 'app.js'), script);
    await writeFile(join(site.path, 'tiny.js'), 'export {};\n');
    await writeFile(join(site.path, 'photo.png'), randomBytes(8_000));
    node = await server({ static: site.path });
    plainNode = await server({ static: site.path, compress: false });
  });
  after(async () => {
    await stopAll([node, plainNode]);
    await site.remove();
  });

  it('sends brotli or gzip as asked, the same bytes once decoded, with a tag per encoding', async () => {
    const want = Buffer.from(script);
    const br = await fetchRaw(http(node), '/app.js', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(br.status, 200);
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.match(String(br.headers['content-type']), /^text\/javascript/);
    assert.equal(Number(br.headers['content-length']), br.body.length);
    assert.ok(br.body.length < want.length / 10, `brotli ${br.body.length} of ${want.length} bytes`);
    assert.deepEqual(decode(br), want);
    assert.match(String(br.headers.etag), /-br"$/);

    const gz = await fetchRaw(http(node), '/app.js', { 'accept-encoding': 'br;q=0, gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(decode(gz), want);
    assert.match(String(gz.headers.etag), /-gzip"$/);

    for (const accept of [undefined, 'identity']) {
      const plain = await fetchRaw(http(node), '/app.js', accept ? { 'accept-encoding': accept } : {});
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(plain.headers.vary, 'Accept-Encoding', 'caches must not give the plain copy to a brotli client');
      assert.deepEqual(plain.body, want);
      assert.equal(String(plain.headers.etag), String(br.headers.etag).replace(/-br"$/, '"'));
    }
  });

  it('revalidates per encoding: 304 only for the tag of the encoding asked for', async () => {
    const first = await fetchRaw(http(node), '/app.js', { 'accept-encoding': 'br' });
    const tag = String(first.headers.etag);
    const again = await fetchRaw(http(node), '/app.js', { 'accept-encoding': 'br', 'if-none-match': tag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const listed = await fetchRaw(http(node), '/app.js', { 'accept-encoding': 'br', 'if-none-match': `"other", W/${tag}` });
    assert.equal(listed.status, 304);
    const otherEncoding = await fetchRaw(http(node), '/app.js', { 'accept-encoding': 'gzip', 'if-none-match': tag });
    assert.equal(otherEncoding.status, 200, 'a brotli tag does not validate the gzip copy');
    assert.equal(otherEncoding.headers['content-encoding'], 'gzip');
  });

  it('answers HEAD with the compressed length and no body', async () => {
    const get = await fetchRaw(http(node), '/app.js', { 'accept-encoding': 'br' });
    const head = await fetchRaw(http(node), '/app.js', { 'accept-encoding': 'br' }, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-encoding'], 'br');
    assert.equal(Number(head.headers['content-length']), get.body.length);
    assert.equal(head.body.length, 0);
  });

  it('sends small files and images as they are', async () => {
    for (const path of ['/tiny.js', '/photo.png']) {
      const r = await fetchRaw(http(node), path, { 'accept-encoding': 'gzip, br' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], undefined, path);
      assert.equal(r.headers.vary, undefined, path);
      assert.deepEqual(r.body, await readFile(join(site.path, path.slice(1))));
    }
  });

  it('compresses a changed file again rather than sending the old copy', async () => {
    const file = join(site.path, 'changing.js');
    await writeFile(file, 'a'.repeat(5_000));
    const one = await fetchRaw(http(node), '/changing.js', { 'accept-encoding': 'br' });
    assert.equal(decode(one).toString(), 'a'.repeat(5_000));
    await writeFile(file, 'b'.repeat(6_000));
    const later = new Date(Date.now() + 5_000);
    await utimes(file, later, later);
    const two = await fetchRaw(http(node), '/changing.js', { 'accept-encoding': 'br' });
    assert.equal(decode(two).toString(), 'b'.repeat(6_000));
    assert.notEqual(two.headers.etag, one.headers.etag);
  });

  it('sends the browser bundle compressed when built', async (t) => {
    const file = join(browserBundleDir(), 'worker.js');
    if (!existsSync(file)) return t.skip('the browser bundle is not built');
    const r = await fetchRaw(http(node), '/meshwork/worker.js', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(r.headers['content-encoding'], 'br');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.deepEqual(decode(r), await readFile(file));
  });

  it('sends everything as it is with compress: false', async () => {
    const r = await fetchRaw(http(plainNode), '/app.js', { 'accept-encoding': 'gzip, br' });
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers.vary, undefined);
    assert.deepEqual(r.body, Buffer.from(script));
  });
});

describe('CompressedFiles', () => {
  it('keeps copies within its byte budget, dropping the least recently sent first', async () => {
    const dir = await tempDir('compress-budget');
    try {
      const files: string[] = [];
      for (let i = 0; i < 6; i++) {
        const f = join(dir.path, `f${i}.txt`);
        // Random hex compresses to about half: each copy is a few KB.
        await writeFile(f, randomBytes(4_000).toString('hex'));
        files.push(f);
      }
      const cache = new CompressedFiles(12_000);
      const sizes: number[] = [];
      for (const f of files) {
        const b = await cache.get(f, 'v1', 'gzip');
        assert.ok(b);
        sizes.push(b.length);
        assert.deepEqual(gunzipSync(b), await readFile(f));
      }
      assert.ok(sizes.reduce((a, b) => a + b, 0) > 12_000, 'the copies exceed the budget together');
      assert.ok(cache.heldBytes <= 12_000, `held ${cache.heldBytes}`);
      assert.ok(cache.heldBytes >= sizes.at(-1)!, 'the newest copy is kept');
      assert.equal(await cache.get(join(dir.path, 'missing.txt'), 'v1', 'br'), undefined, 'a file that cannot be read gives no copy');
    } finally {
      await dir.remove();
    }
  });
});
