/**
 * Warm restart: a server that learned of another server through the mesh comes back with only
 * its data dir, while the peer it first joined through is down, and links to the one it learned.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ServerNode } from '../../src/server/index.js';
import { until } from '../helpers/wait.js';
import { server, stopAll, tempDir } from './helpers.js';

describe('warm restart from the data dir', { timeout: 30_000 }, () => {
  const nodes: (ServerNode | undefined)[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    await stopAll(nodes);
    for (const c of cleanups) await c();
  });

  it('reconnects to a server learned through the mesh, with the same id, without --peer', async () => {
    const dir = await tempDir('restart');
    cleanups.push(dir.remove);
    const a = await server();
    const b = await server({ peers: [a.url!] });
    nodes.push(a, b);
    // c only knows b; it hears of a through the mesh and links to it.
    let c = await server({ peers: [b.url!], dataDir: dir.path });
    nodes.push(c);
    const linkedTo = (n: ServerNode, id: string) => n.status().links.some((l) => l.id === id);
    await until(() => linkedTo(c, a.id), 10_000, 'c links to a, learned through b');
    const id = c.id;
    await c.stop();
    await b.stop(); // the peer c was told about is gone

    c = await server({ dataDir: dir.path });
    nodes.push(c);
    assert.equal(c.id, id, 'same identity from the data dir');
    await until(() => linkedTo(c, a.id), 10_000, 'restarted c links to a from memory alone');
    await until(() => linkedTo(a, id), 2_000, 'a sees the restarted c under its old id');
  });
});
