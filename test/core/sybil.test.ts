/**
 * Sybil and eclipse basics: ids cannot be chosen (hash of the key), keys can be made to carry
 * proof of work, and a node caps its links per network address.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { networkAddressOf } from '../../src/core/address-limit.js';
import { FrameType, type ErrorFrame } from '../../src/core/codec.js';
import { isMeshError } from '../../src/core/errors.js';
import { idFromPublicKey } from '../../src/core/id.js';
import { MeshNode } from '../../src/core/node.js';
import type { Identity } from '../../src/core/identity.js';
import { generateWithWork, hasWork, workBits } from '../../src/core/pow.js';
import { rawHandshake, seededIdentity, TestNet } from '../helpers/mesh.js';
import { advance, driveUntil } from '../helpers/wait.js';

/** The first seeded identity (by label) with at least `bits` of work: deterministic grinding. */
async function grind(label: string, bits: number): Promise<Identity> {
  for (let i = 0; ; i++) {
    const id = await seededIdentity(`${label} ${i}`);
    if (hasWork(id.publicKey, bits)) return id;
  }
}

async function without(label: string, bits: number): Promise<Identity> {
  for (let i = 0; ; i++) {
    const id = await seededIdentity(`${label} ${i}`);
    if (!hasWork(id.publicKey, bits)) return id;
  }
}

describe('proof of work on identities', () => {
  it('counts leading zero bits of a hash of the key that is not the id', async () => {
    const me = await grind('pow unit', 8);
    assert.ok(workBits(me.publicKey) >= 8);
    assert.equal(hasWork(me.publicKey, 0), true);
    // The work hash is not the id: ids stay spread over the whole space.
    assert.notDeepEqual(idFromPublicKey(me.publicKey).subarray(0, 1), Uint8Array.of(0));
    const made = await generateWithWork(6);
    assert.ok(workBits(made.publicKey) >= 6);
    await assert.rejects(generateWithWork(33), (e) => isMeshError(e, 'INVALID_ARGUMENT'));
  });

  it('a node asking for work refuses a key without it with INSUFFICIENT_WORK, before signing anything', async () => {
    const net = new TestNet();
    const b = await net.addNode('b', { powBits: 8, identity: await grind('pow b', 8) });
    const lazy = await without('pow lazy', 8);
    const raw = await net.rawDial('mem:lazy', b.addr);
    await rawHandshake(net, raw, lazy).catch(() => undefined);
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'refused');
    const errors = raw.frames().filter((f): f is ErrorFrame => f.type === FrameType.Error);
    assert.deepEqual(errors.map((e) => e.code), ['INSUFFICIENT_WORK']);
    assert.equal(raw.frames().filter((f) => f.type === FrameType.Proof).length, 0, 'no signature spent on it');
    assert.equal(b.node.status().counters.dropped['handshake:INSUFFICIENT_WORK'], 1);

    const worker = await grind('pow worker', 8);
    const ok = await net.rawDial('mem:worker', b.addr);
    await rawHandshake(net, ok, worker);
    await driveUntil(net.clock, () => b.node.linkIds().includes(worker.idText), 1000, 'a key with work links');
    await net.stopAll();
  });

  it('a node whose own key lacks the work it asks of others refuses to start: INVALID_ARGUMENT', async () => {
    const net = new TestNet();
    await assert.rejects(net.addNode('c', { powBits: 8, identity: await without('pow self', 8) }), (e) => isMeshError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(net.addNode('d', { powBits: 40 }), (e) => isMeshError(e, 'INVALID_ARGUMENT'));
  });
});

describe('links per network address', () => {
  it('names the address a link counts under', () => {
    const cases: [string | undefined, string | undefined][] = [
      ['203.0.113.7', '203.0.113.7'],
      ['::ffff:203.0.113.7', '203.0.113.7'],
      ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
      ['2001:db8:1:2::99', '2001:db8:1:2::/64'],
      ['ws://[2001:db8:1:2::1]:8080/mesh', '2001:db8:1:2::/64'],
      ['wss://mesh.example.org/mesh', 'mesh.example.org'],
      ['mem:host', 'mem:host'],
      ['127.0.0.1', undefined],
      ['::1', undefined],
      ['ws://localhost:8080/mesh', undefined],
      [undefined, undefined],
    ];
    for (const [remote, expected] of cases) assert.equal(networkAddressOf(remote), expected, String(remote));
  });

  it('refuses a cap that is not a positive integer with INVALID_ARGUMENT (a page can set it: connect({ maxLinksPerAddress }))', async () => {
    const identity = await seededIdentity('cap options');
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new MeshNode({ identity, maxLinksPerAddress: bad }), (e: unknown) => isMeshError(e, 'INVALID_ARGUMENT'), String(bad));
    }
    for (const good of [1, 16, Infinity]) assert.ok(new MeshNode({ identity, maxLinksPerAddress: good }), String(good));
  });

  it('refuses links from one address past the cap with ADDRESS_LIMIT, and still takes others', async () => {
    const net = new TestNet();
    const b = await net.addNode('b', { maxLinksPerAddress: 3 });
    const sybils = await Promise.all(Array.from({ length: 5 }, (_, i) => seededIdentity(`sybil ${i}`)));
    const raws = [];
    for (const s of sybils) {
      const raw = await net.rawDial('mem:one-host', b.addr);
      await rawHandshake(net, raw, s).catch(() => undefined);
      await advance(net.clock, 50);
      raws.push(raw);
    }
    const linked = sybils.filter((s) => b.node.linkIds().includes(s.idText));
    assert.equal(linked.length, 3, 'three links from mem:one-host');
    assert.equal(b.node.status().counters.dropped['handshake:ADDRESS_LIMIT'], 2);
    const refusedCodes = raws.flatMap((r) => r.frames().filter((f): f is ErrorFrame => f.type === FrameType.Error).map((e) => e.code));
    assert.deepEqual(refusedCodes, ['ADDRESS_LIMIT', 'ADDRESS_LIMIT']);
    const honest = await seededIdentity('other host');
    const raw = await net.rawDial('mem:other-host', b.addr);
    await rawHandshake(net, raw, honest);
    await driveUntil(net.clock, () => b.node.linkIds().includes(honest.idText), 1000, 'a link from another address');
    await net.stopAll();
  });
});
