/**
 * What a node's lookup answers (Found) name. A node answers with its links and with remembered
 * peers, but a remembered peer without an address (a browser) only where it is still linked:
 * nobody but its own links can tell whether it still exists, and a departed browser handed out
 * to a newcomer cost that newcomer a WebRTC dial that could only time out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNet } from '../helpers/mesh.js';
import { drive, driveUntil } from '../helpers/wait.js';

describe('lookup answers', () => {
  it('name a linked browser-like node, not one that left, and still name addressable remembered nodes', async () => {
    const net = new TestNet();
    const s = await net.addNode('lk/s');
    const t = await net.addNode('lk/t', { bootstrap: [s.addr] }); // addressable: may be remembered and named
    // Browser-like: no address anyone can dial (addrs empty), so only a live link reaches them.
    const gone = await net.addNode('lk/gone', { addrs: [], bootstrap: [s.addr] });
    const stays = await net.addNode('lk/stays', { addrs: [], bootstrap: [s.addr] });
    await drive(net.clock, Promise.all([s.node.start(), t.node.start(), gone.node.start(), stays.node.start()]), 1000, 'start');
    await driveUntil(net.clock, () => [t, gone, stays].every((x) => s.node.linkIds().includes(x.node.id)), 5000, 'all linked to s');
    await drive(net.clock, gone.node.stop(), 2000, 'stop');
    await drive(net.clock, t.node.stop(), 2000, 'stop');
    await driveUntil(net.clock, () => !s.node.linkIds().includes(gone.node.id) && !s.node.linkIds().includes(t.node.id), 5000, 'both gone from s');
    assert.ok(s.node.memory.get(gone.node.id), 's still remembers the browser-like node that left');

    const late = await net.addNode('lk/late', { addrs: [], bootstrap: [s.addr] });
    await drive(net.clock, late.node.start(), 1000, 'start');
    await driveUntil(net.clock, () => late.node.memory.get(stays.node.id) !== undefined, 10_000, 'the newcomer learned the linked browser-like node');
    await driveUntil(net.clock, () => late.node.memory.get(t.node.id) !== undefined, 10_000, 'the newcomer learned the remembered addressable node');
    assert.equal(late.node.memory.get(gone.node.id), undefined, 'the departed browser-like node was not handed out');
    await net.stopAll();
  });
});
