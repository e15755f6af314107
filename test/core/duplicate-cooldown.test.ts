/**
 * A dial that gave way to another link between the two nodes (DUPLICATE: in a browser, the
 * peer's crossing WebRTC dial, which the broker keeps instead) cools the peer down for 1.6 s
 * (maintenance.ts DUPLICATE_COOLDOWN_MS), not 30 s: should the link kept instead fail, this side
 * dials again then. It used to wait 30 s, while the other side, whose kept dial had failed,
 * waited out its own cooldown (the lab's 48-64 s warm-restart stalls, docs/BENCHMARKS.md).
 *
 * Real nodes and maintenance on a virtual clock. b's dialer is the memory network's, except
 * that it refuses b's first dials to a as the broker refuses a dial that crossed the peer's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MeshError } from '../../src/core/errors.js';
import type { Dialer } from '../../src/core/node.js';
import { COOLDOWN_MS, DUPLICATE_COOLDOWN_MS } from '../../src/core/maintenance.js';
import { memoryDialer } from '../../src/transports/memory.js';
import { TestNet, type TestNode } from '../helpers/mesh.js';
import { drive, driveUntil } from '../helpers/wait.js';

async function link(net: TestNet, from: TestNode, to: TestNode): Promise<void> {
  const l = await drive(net.clock, net.network.dial(from.addr, to.addr, net.clock.scoped(900 + net.nodes.indexOf(from))), 1000, 'dial');
  await drive(net.clock, from.node.addLink(l, { outbound: true, expectedId: to.node.id }), 2000, 'handshake');
  await driveUntil(net.clock, () => to.node.linkIds().includes(from.node.id), 1000, 'admitted');
}

describe('a DUPLICATE dial', () => {
  it('cools the peer down for 1.6 s, not 30: b dials a again once the link kept instead has not come, and no sooner', async () => {
    const net = new TestNet();
    // Only b dials: a and s have no dialer, so a link between b and a is b's doing.
    const s = await net.addNode('dupcool/s', { dialer: undefined });
    const a = await net.addNode('dupcool/a', { dialer: undefined });
    const memory = memoryDialer(net.network, 'mem:dupcool/b', net.clock.scoped(990));
    const dials: number[] = [];
    let refuse = 2;
    const dialer: Dialer = {
      ...memory,
      dial: (rec, hello) => {
        if (rec.id !== a.node.id) return memory.dial(rec, hello);
        dials.push(net.clock.now());
        if (refuse-- > 0) return Promise.reject(new MeshError('DUPLICATE', "crossed the peer's dial to us, which is kept"));
        return memory.dial(rec, hello);
      },
    };
    const b = await net.addNode('dupcool/b', { dialer });
    // b has a link (so a round does not dial every remembered peer regardless), and remembers a as a peer that worked.
    await link(net, b, s);
    b.node.memory.learn({ publicKey: a.node.identity.publicKey, addrs: [a.addr], caps: [] }, net.clock.now());
    b.node.memory.succeeded(a.node.id, net.clock.now());
    await drive(net.clock, b.node.start(), 1000, 'b starts');
    await driveUntil(net.clock, () => b.node.linkIds().includes(a.node.id), COOLDOWN_MS, 'b linked to a');
    assert.equal(dials.length, 3, `two dials refused, the third made the link: ${JSON.stringify(dials)}`);
    const gaps = dials.slice(1).map((t, i) => t - dials[i]!);
    for (const gap of gaps) {
      assert.ok(gap >= DUPLICATE_COOLDOWN_MS, `no dial within the short cooldown: ${gap} ms`);
      assert.ok(gap < DUPLICATE_COOLDOWN_MS + 500, `dialled again as it ended, not at the next round (or 30 s later): ${gap} ms`);
    }
    assert.equal(b.node.status().counters.dropped['dial:DUPLICATE'], 2);
    assert.equal(b.node.memory.get(a.node.id)?.failures, 0, 'a DUPLICATE is no failure of the peer');
    await net.stopAll();
  });
});
