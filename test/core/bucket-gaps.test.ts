/**
 * Empty buckets and the Ask/Tell exchange that fills them: which gaps a node reports, which
 * peers a linked node names for them (only from regions the asker shares), and how a live node
 * answers, rate-limits and ignores unasked answers.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { emptyBuckets, gapsBelow, helperFor, peersForAsk } from '../../src/core/bucket-gaps.js';
import { FrameType, type AskFrame, type TellFrame } from '../../src/core/codec.js';
import { commonPrefixLength, hashToId, idFromPublicKey, type NodeId } from '../../src/core/id.js';
import type { Identity } from '../../src/core/identity.js';
import { PeerMemory } from '../../src/core/peer-memory.js';
import { rawHandshake, seededIdentity, TestNet } from '../helpers/mesh.js';
import { sessionTo, tableWith } from '../helpers/tables.js';
import { driveUntil } from '../helpers/wait.js';

/** An id in bucket `b` of `self`: same first b bits, then the opposite bit, then `fill`. */
function idInBucket(self: NodeId, b: number, fill = 0x5a): NodeId {
  const id = new Uint8Array(32).fill(fill);
  for (let i = 0; i < b; i++) setBit(id, i, bit(self, i));
  setBit(id, b, 1 - bit(self, b));
  return id;
}
const bit = (id: NodeId, i: number) => (id[i >> 3]! >> (7 - (i & 7))) & 1;
function setBit(id: Uint8Array, i: number, v: number): void {
  id[i >> 3] = (id[i >> 3]! & ~(1 << (7 - (i & 7)))) | (v << (7 - (i & 7)));
}

let me: Identity;
const self = new Uint8Array(32).fill(0x33);
before(async () => {
  me = await seededIdentity('bucket gaps');
});

describe('emptyBuckets and gapsBelow', () => {
  it('names the buckets without a link, shallower than the deepest link', () => {
    const table = tableWith(me, self, [0, 2, 3, 7].map((b) => ({ id: idInBucket(self, b) })));
    assert.deepEqual(emptyBuckets(table), [1, 4, 5, 6]);
    const deep = table.get([...table.all()].find((s) => table.bucketOf(s.peer!.id) === 7)!.peer!.idText)!;
    const shallow = table.get([...table.all()].find((s) => table.bucketOf(s.peer!.id) === 3)!.peer!.idText)!;
    assert.deepEqual(gapsBelow(table, emptyBuckets(table), deep), [1, 4, 5, 6], 'a peer in bucket 7 shares our buckets 0-6');
    assert.deepEqual(gapsBelow(table, emptyBuckets(table), shallow), [1], 'a peer in bucket 3 shares only our buckets 0-2');
  });

  it('has no gaps when every bucket down to the deepest is covered', () => {
    assert.deepEqual(emptyBuckets(tableWith(me, self, [0, 1, 2].map((b) => ({ id: idInBucket(self, b) })))), []);
    assert.deepEqual(emptyBuckets(tableWith(me, self, [])), []);
  });

  it('asks only a link deeper than the shallowest gap', () => {
    const table = tableWith(me, self, [0, 2, 5].map((b) => ({ id: idInBucket(self, b) })));
    const gaps = emptyBuckets(table);
    assert.deepEqual(gaps, [1, 3, 4]);
    for (let k = 0; k < 3; k++) {
      const h = helperFor(table, gaps, (n) => k % n)!;
      assert.ok(table.bucketOf(h.peer!.id) > 1, 'the helper can know our bucket 1');
    }
    assert.equal(helperFor(table, [], () => 0), undefined);
  });
});

describe('peersForAsk', () => {
  it('names links and remembered nodes only in asked buckets below the asker, two per bucket', () => {
    const linkBuckets = [1, 1, 1, 2, 4, 6];
    const table = tableWith(me, self, linkBuckets.map((b, i) => ({ id: idInBucket(self, b, 0x10 + i) })));
    // Hand-built sessions carry no real key: mark each link's key so the answer can be read back.
    const bucketOfKey = new Map<string, number>();
    for (const s of table.all()) {
      s.peer!.publicKey = new Uint8Array(32).fill(bucketOfKey.size + 1);
      bucketOfKey.set(s.peer!.publicKey.join(), table.bucketOf(s.peer!.id));
    }
    const memory = new PeerMemory(self);
    // Remembered nodes in bucket 3 (no link there): found by trying keys until their ids land there.
    for (let k = 0, kept = 0; kept < 3; k++) {
      const publicKey = hashToId(Uint8Array.of(k & 0xff, k >> 8));
      if (commonPrefixLength(self, idFromPublicKey(publicKey)) !== 3) continue;
      memory.learn({ publicKey, addrs: [`mem:${k}`], caps: [] }, 1);
      kept++;
    }
    const asker = sessionTo(me, idInBucket(self, 5, 0x77));
    const named = peersForAsk(table, memory, asker, [1, 2, 3, 5, 6]);
    const buckets = named.map((p) => bucketOfKey.get(p.publicKey.join()) ?? commonPrefixLength(self, idFromPublicKey(p.publicKey)));
    assert.deepEqual(buckets.filter((b) => b === 1).length, 2, 'two of the three links in bucket 1');
    assert.deepEqual(buckets.filter((b) => b === 2).length, 1, 'the one link in bucket 2');
    assert.deepEqual(buckets.filter((b) => b === 3).length, 2, 'two remembered nodes in bucket 3');
    assert.ok(!buckets.includes(5) && !buckets.includes(6), 'nothing at or below the asker: those regions differ for it');
    assert.ok(!buckets.includes(4), 'nothing in a bucket it did not ask for');
  });
});

describe('Ask and Tell on a live link', () => {
  it('answers an Ask with its link in the asked bucket, once per interval, and ignores an unasked Tell', async () => {
    const net = new TestNet();
    const b = await net.addNode('gaps-b');
    const c = await net.addNode('gaps-c', { bootstrap: ['mem:gaps-b'] });
    await b.node.start();
    await c.node.start();
    await driveUntil(net.clock, () => b.node.linkIds().includes(c.node.id), 5000, 'b and c linked');
    const bucketOfC = commonPrefixLength(b.node.identity.id, c.node.identity.id);
    // A raw peer deeper in b's table than c, so that c's region is also its region.
    let raw: Identity | undefined;
    for (let k = 0; !raw; k++) {
      const candidate = await seededIdentity(`gaps raw ${k}`);
      if (commonPrefixLength(b.node.identity.id, candidate.id) > bucketOfC) raw = candidate;
    }
    const peer = await net.rawDial('mem:gaps-raw', b.addr);
    await rawHandshake(net, peer, raw);
    await driveUntil(net.clock, () => b.node.linkIds().includes(raw!.idText), 1000, 'raw peer linked');

    peer.send({ type: FrameType.Ask, buckets: [bucketOfC] } satisfies AskFrame);
    const tells = () => peer.frames().filter((f): f is TellFrame => f.type === FrameType.Tell);
    await driveUntil(net.clock, () => tells().length === 1, 1000, 'a Tell back');
    assert.deepEqual(tells()[0]!.peers.map((p) => idFromPublicKey(p.publicKey).join()), [c.node.identity.id.join()], 'b names c');

    peer.send({ type: FrameType.Ask, buckets: [bucketOfC] } satisfies AskFrame);
    await driveUntil(net.clock, () => (b.node.status().counters.dropped['ask-too-often'] ?? 0) === 1, 1000, 'the second Ask counted');
    assert.equal(tells().length, 1, 'and not answered');

    // b has gaps below the raw peer's bucket, so it asked the raw peer on linking: answer that
    // Ask (with nobody), and the next Tell is one b did not ask for.
    assert.ok(peer.frames().some((f) => f.type === FrameType.Ask), 'b asked its new, deeper link about its gaps');
    peer.send({ type: FrameType.Tell, peers: [] } satisfies TellFrame);
    const dropsBefore = b.node.status().counters.dropped['unasked-tell'] ?? 0;
    const known = b.node.memory.size;
    peer.send({ type: FrameType.Tell, peers: [{ publicKey: (await seededIdentity('gaps stranger')).publicKey, addrs: ['mem:x'], caps: [] }] });
    await driveUntil(net.clock, () => (b.node.status().counters.dropped['unasked-tell'] ?? 0) === dropsBefore + 1, 1000, 'unasked Tell counted');
    assert.equal(b.node.memory.size, known, 'an unasked Tell teaches nothing');
    await net.stopAll();
  });
});
