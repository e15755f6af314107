/** The data dir: a private key file, the same id after a restart, and corruption handled loudly. */
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isMeshError, startNode } from '../../src/server/index.js';
import { until } from '../helpers/wait.js';
import { server, tempDir } from './helpers.js';

describe('data dir', { timeout: 30_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });
  const dir = async () => {
    const d = await tempDir('data');
    cleanups.push(d.remove);
    return d.path;
  };

  it('creates a key file readable by the owner only, and keeps the id across restarts', async () => {
    const path = await dir();
    const peer = await server();
    const first = await server({ dataDir: path, peers: [peer.url!] });
    const id = first.id;
    const e2eKey = first.status().e2e.publicKey;
    assert.match(e2eKey, /^[0-9a-f]{64}$/, 'the node has an X25519 key');
    await until(() => first.status().links.length > 0, 5_000, 'a link to the peer');
    await first.stop();
    await peer.stop();
    const key = join(path, 'identity.key');
    assert.equal((await stat(key)).mode & 0o777, 0o600);
    assert.match(await readFile(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal((await stat(join(path, 'e2e.key'))).mode & 0o777, 0o600, 'the encryption key is the owner’s only too');
    const again = await server({ dataDir: path });
    assert.equal(again.id, id);
    assert.equal(again.status().e2e.publicKey, e2eKey, 'and so is its encryption key: peers that cached it can still seal to it');
    await again.stop();
    // Stop saved memory atomically: valid JSON, and no temp files or lock left behind.
    const files = await readdir(path);
    assert.deepEqual(files.sort(), ['e2e.key', 'identity.key', 'peers.json']);
    const saved = JSON.parse(await readFile(join(path, 'peers.json'), 'utf8')) as { format: string; peers: { addrs: string[] }[] };
    assert.equal(saved.format, 'meshwork-peers');
    assert.deepEqual(saved.peers.map((p) => p.addrs), [[peer.url]]);
  });

  it('refuses a corrupt key file with STORE_CORRUPT naming the file, and never replaces it', async () => {
    const path = await dir();
    const key = join(path, 'identity.key');
    for (const garbage of ['not a key at all\n', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', '']) {
      await writeFile(key, garbage, { mode: 0o600 });
      await assert.rejects(
        startNode({ dataDir: path }),
        (err: unknown) => isMeshError(err, 'STORE_CORRUPT') && err.message.includes(key),
        `garbage ${JSON.stringify(garbage)}`,
      );
      assert.equal(await readFile(key, 'utf8'), garbage, 'the file is left as it was');
    }
    assert.ok(!(await readdir(path)).includes('lock'), 'a failed start releases the data dir');
  });

  it('moves a corrupt peers file aside and starts with empty memory and the same id', async () => {
    const path = await dir();
    const first = await server({ dataDir: path });
    const id = first.id;
    await first.stop();
    await writeFile(join(path, 'peers.json'), '{"format": "meshwork-peers", "peers": [tru');
    const warnings: string[] = [];
    const again = await server({ dataDir: path, onWarning: (m) => warnings.push(m) });
    assert.equal(again.id, id);
    assert.equal(again.status().knownPeers, 0);
    await again.stop();
    const aside = (await readdir(path)).filter((f) => f.startsWith('peers.json.corrupt-'));
    assert.equal(aside.length, 1);
    assert.match(warnings.join('\n'), /peers\.json was corrupt: moved it to .*peers\.json\.corrupt-/);
  });

  it('lets one node at a time use a data dir', async () => {
    const path = await dir();
    const first = await server({ dataDir: path });
    await assert.rejects(server({ dataDir: path }), (err: unknown) => isMeshError(err, 'STORE_LOCKED'));
    await first.stop();
    const second = await server({ dataDir: path });
    await second.stop();
  });
});
