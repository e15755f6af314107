/**
 * A node with no link dialled each bootstrap address and also the remembered record of the same
 * server (peer memory, with the same address): two handshakes to one peer at each warm restart
 * and each no-link round, the second refused or given way as DUPLICATE (a signature and a socket
 * of the server's for nothing). Now a record none of whose addresses the node is not already
 * dialling by address is left alone (maintenance.ts dialPeer); one with another address is still
 * dialled beside it (its address may be the better one).
 *
 * Real nodes and maintenance over memory links on a virtual clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dialer } from '../../src/core/node.js';
import type { StoredPeer } from '../../src/core/peer-memory.js';
import { memoryDialer } from '../../src/transports/memory.js';
import { TestNet } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

async function restart(options: { dialBootstrapFirst?: boolean; bootstrap?: string } = {}) {
  const net = new TestNet();
  const s = await net.addNode('double/s', { dialer: undefined });
  let saved: StoredPeer[] = [];
  const store = { load: async () => saved, save: async (peers: StoredPeer[]) => void (saved = peers) };
  const a = await net.addNode('double/a', { bootstrap: [s.addr], store });
  await drive(net.clock, a.node.start(), 1000, 'a starts');
  await driveUntil(net.clock, () => s.node.linkIds().includes(a.node.id), 2000, 'a linked to s');
  await drive(net.clock, a.node.stop(), 5000, 'a stops');
  await driveUntil(net.clock, () => s.node.linkIds().length === 0, 5000, 's sees a go');
  assert.ok(saved.some((p) => p.addrs.includes(s.addr)), 'a remembers s by its address');
  // a again, with its memory: its bootstrap s is also its remembered peer s.
  const dials: string[] = [];
  const memory = memoryDialer(net.network, 'mem:double/a-again', net.clock.scoped(990));
  const dialer: Dialer = {
    ...memory,
    dialAddress: (addr, hello) => (dials.push(addr), memory.dialAddress(addr, hello)),
    dial: (rec, hello) => (dials.push(rec.addrs.join()), memory.dial(rec, hello)),
  };
  const again = await net.addNode('double/a-again', { identity: a.node.identity, bootstrap: [options.bootstrap ?? s.addr], store, dialer, dialBootstrapFirst: options.dialBootstrapFirst });
  const t0 = net.clock.now();
  await drive(net.clock, again.node.start(), 1000, 'the restart');
  await driveUntil(net.clock, () => again.node.linkIds().includes(s.node.id), 2000, 'linked again');
  const inAfter = net.clock.now() - t0;
  await advance(net.clock, 5_000);
  const duplicates = (n: typeof s) => {
    const d = n.node.status().counters.dropped;
    return (d['dial:DUPLICATE'] ?? 0) + (d['handshake:DUPLICATE'] ?? 0);
  };
  const dup = duplicates(s) + duplicates(again);
  console.log(`restart${options.dialBootstrapFirst ? ' (bootstrap first)' : ''}: dials ${JSON.stringify(dials)}, in after ${inAfter} ms, DUPLICATE ${dup}`);
  await net.stopAll();
  return { dials, inAfter, duplicates: dup, s };
}

describe('a restarted node whose bootstrap server is also its remembered peer', () => {
  for (const dialBootstrapFirst of [false, true]) {
    it(`dials it once, not twice${dialBootstrapFirst ? ' (bootstrap dialled before peer memory is read)' : ''}`, async () => {
      const { dials, inAfter, duplicates, s } = await restart({ dialBootstrapFirst });
      assert.deepEqual(dials, [s.addr]);
      assert.equal(duplicates, 0);
      // One handshake over 5 ms links: as fast as before (a first link is not slowed).
      assert.ok(inAfter <= 50, `in after ${inAfter} ms`);
    });
  }

  it('still dials the record beside a bootstrap address it does not have (the record may be the way in)', async () => {
    // The configured address no longer answers (the server moved); its record has the new one.
    const { dials, inAfter, duplicates, s } = await restart({ bootstrap: 'mem:double/moved' });
    assert.deepEqual(dials, ['mem:double/moved', s.addr]);
    assert.equal(duplicates, 0);
    assert.ok(inAfter <= 50, `in after ${inAfter} ms`);
  });
});
