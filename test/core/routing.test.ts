/**
 * Routing: greedy next hops only move strictly closer (so routes cannot loop), the bucket
 * invariant makes them reach the closest node, the whole-network validator detects a missing
 * bucket link, the link policy keeps what the invariant needs, and simulated networks deliver.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { toHex } from '../../src/core/bytes.js';
import { SeededRandom } from '../../src/core/clock.js';
import { commonPrefixLength, compareDistance, hashToId, ID_BYTES, idFromPublicKey, type NodeId } from '../../src/core/id.js';
import type { Identity } from '../../src/core/identity.js';
import { dialWishes, NEIGHBOURS, neededByUs, neededLinks, pickEviction, RESERVE, wouldBeNeeded } from '../../src/core/link-policy.js';
import { PeerMemory, type PeerRecord } from '../../src/core/peer-memory.js';
import type { RoutingTable } from '../../src/core/routing-table.js';
import { Simulation } from '../../src/sim/simulation.js';
import { checkBucketInvariant } from '../../src/sim/validator.js';
import { seededIdentity } from '../helpers/mesh.js';
import { tableWith } from '../helpers/tables.js';

const id32 = fc.uint8Array({ minLength: ID_BYTES, maxLength: ID_BYTES });
const uniqueIds = (min: number, max: number) => fc.uniqueArray(id32, { minLength: min, maxLength: max, selector: toHex });
/** Ids with a shared random prefix of a few bytes, so that deep buckets get exercised too. */
const clusteredIds = (min: number, max: number) =>
  fc.tuple(fc.integer({ min: 0, max: 3 }), uniqueIds(min, max)).map(([prefixBytes, ids]) => {
    const first = ids[0]!;
    const out = ids.map((id) => {
      const c = id.slice();
      c.set(first.subarray(0, prefixBytes));
      return c;
    });
    return [...new Map(out.map((id) => [toHex(id), id])).values()];
  });

/** The XOR distance as a BigInt: a check of compareDistance that does not use it. */
const dist = (a: NodeId, b: NodeId) => BigInt('0x' + toHex(a.map((x, i) => x ^ b[i]!)));

let me: Identity;
before(async () => {
  me = await seededIdentity('routing tables');
});

/** A static network of routing tables: one per node, holding links to the given peers. */
function network(ids: NodeId[], links: (u: number) => number[]): Map<string, RoutingTable> {
  const tables = new Map<string, RoutingTable>();
  ids.forEach((id, u) => tables.set(toHex(id), tableWith(me, id, [...new Set(links(u))].filter((v) => v !== u).map((v) => ({ id: ids[v]! })))));
  return tables;
}

/** Links satisfying the bucket invariant: for each node, one random node of each non-empty bucket. */
function bucketLinks(ids: NodeId[], rng: SeededRandom): (u: number) => number[] {
  return (u) => {
    const byBucket = new Map<number, number[]>();
    ids.forEach((id, v) => {
      if (v === u) return;
      const b = commonPrefixLength(ids[u]!, id);
      byBucket.set(b, [...(byBucket.get(b) ?? []), v]);
    });
    return [...byBucket.values()].map((vs) => vs[rng.int(vs.length)]!);
  };
}

/** Follows nextHop from `start` toward `dst`; returns the path of node ids (hex). */
function walk(tables: Map<string, RoutingTable>, start: NodeId, dst: NodeId): NodeId[] {
  const path = [start];
  for (let cur = start; ; ) {
    const next = tables.get(toHex(cur))!.nextHop(dst);
    if (!next) return path;
    const nextId = next.peer!.id;
    assert.ok(compareDistance(nextId, cur, dst) < 0, `hop ${toHex(cur).slice(0, 8)} -> ${toHex(nextId).slice(0, 8)} is not closer to ${toHex(dst).slice(0, 8)}`);
    path.push(nextId);
    assert.ok(path.length <= tables.size, 'a route longer than the number of nodes has looped');
    cur = nextId;
  }
}

describe('RoutingTable.nextHop', () => {
  it('returns the closest link, and only if it is strictly closer than this node', () => {
    fc.assert(
      fc.property(id32, uniqueIds(0, 20), id32, (self, peers, dst) => {
        const links = peers.filter((p) => toHex(p) !== toHex(self));
        const table = tableWith(me, self, links.map((id) => ({ id })));
        const closest = [...links].sort((a, b) => compareDistance(a, b, dst))[0];
        const got = table.nextHop(dst)?.peer!.id;
        if (closest && compareDistance(closest, self, dst) < 0) assert.deepEqual(got, closest);
        else assert.equal(got, undefined, 'no link is closer than we are');
        // anyDistance drops only the strictness.
        assert.deepEqual(table.nextHop(dst, undefined, true)?.peer!.id, closest);
      }),
      { numRuns: 300 },
    );
  });

  it('never returns the excluded peer', () => {
    fc.assert(
      fc.property(id32, uniqueIds(1, 12), id32, fc.nat(), (self, links, dst, pick) => {
        const table = tableWith(me, self, links.map((id) => ({ id })));
        const excluded = toHex(links[pick % links.length]!);
        const rest = links.filter((l) => toHex(l) !== excluded);
        const expected = rest.sort((a, b) => compareDistance(a, b, dst))[0];
        assert.deepEqual(table.nextHop(dst, excluded, true)?.peer!.id, expected);
        assert.notEqual(table.nextHop(dst, excluded)?.peer!.idText, excluded);
      }),
      { numRuns: 200 },
    );
  });

  it('is loop-free: on any static network, following it strictly approaches the target and ends', () => {
    fc.assert(
      fc.property(
        clusteredIds(2, 30),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 300 }),
        fc.nat(),
        id32,
        fc.boolean(),
        (ids, edges, startPick, randomDst, dstIsNode) => {
          const n = ids.length;
          const adj = new Map<number, number[]>();
          for (const [u, v] of edges) adj.set(u % n, [...(adj.get(u % n) ?? []), v % n]);
          const tables = network(ids, (u) => adj.get(u) ?? []);
          const start = ids[startPick % n]!;
          const dst = dstIsNode ? ids[(startPick * 7 + 3) % n]! : randomDst;
          const path = walk(tables, start, dst);
          // Each node appears once at most: distances strictly fall along the path.
          for (let i = 1; i < path.length; i++) assert.ok(dist(path[i]!, dst) < dist(path[i - 1]!, dst));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with one link per non-empty bucket, greedy routing reaches the node closest to any target', () => {
    fc.assert(
      fc.property(clusteredIds(2, 40), fc.integer(), fc.nat(), id32, (ids, seed, startPick, target) => {
        const tables = network(ids, bucketLinks(ids, new SeededRandom(seed)));
        const path = walk(tables, ids[startPick % ids.length]!, target);
        const closest = [...ids].sort((a, b) => compareDistance(a, b, target))[0]!;
        assert.equal(toHex(path.at(-1)!), toHex(closest));
      }),
      { numRuns: 200 },
    );
  });
});

describe('checkBucketInvariant', () => {
  const linkMap = (tables: Map<string, RoutingTable>) => {
    const m = new Map<string, string[]>();
    for (const [id, t] of tables) m.set(id, [...t.all()].map((s) => s.peer!.idText));
    return m;
  };

  it('passes a hand-built network that holds the invariant and flags a missing bucket link', () => {
    // Four nodes whose ids differ in the first two bits: 00…, 01…, 10…, 11….
    const id = (firstByte: number) => toHex(new Uint8Array(32).fill(0).map((_, i) => (i === 0 ? firstByte : 0)));
    const [a, b, c, d] = [id(0x00), id(0x40), id(0x80), id(0xc0)];
    const good = new Map([
      [a, [b, c]], // bucket 1 (01…) and bucket 0 (1x…)
      [b, [a, d]],
      [c, [d, b]],
      [d, [c, a]],
    ]);
    assert.deepEqual(checkBucketInvariant(good), { nodes: 4, violations: 0, missingBuckets: 0 });
    const bad = new Map(good);
    bad.set(a, [c]); // a lost its only link into bucket 1
    assert.deepEqual(checkBucketInvariant(bad), { nodes: 4, violations: 1, missingBuckets: 1 });
    bad.set(d, []); // d has no links at all: buckets 0 and 1 both missing
    assert.deepEqual(checkBucketInvariant(bad), { nodes: 4, violations: 2, missingBuckets: 3 });
  });

  it('passes every network built with one link per non-empty bucket', () => {
    fc.assert(
      fc.property(clusteredIds(1, 40), fc.integer(), (ids, seed) => {
        const report = checkBucketInvariant(linkMap(network(ids, bucketLinks(ids, new SeededRandom(seed)))));
        assert.deepEqual(report, { nodes: ids.length, violations: 0, missingBuckets: 0 });
      }),
      { numRuns: 100 },
    );
  });

  it('flags the node that loses the only link of a bucket', () => {
    fc.assert(
      fc.property(clusteredIds(2, 40), fc.integer(), fc.nat(), fc.nat(), (ids, seed, nodePick, linkPick) => {
        const map = linkMap(network(ids, bucketLinks(ids, new SeededRandom(seed))));
        const victim = toHex(ids[nodePick % ids.length]!);
        const links = map.get(victim)!;
        map.set(
          victim,
          links.filter((_, i) => i !== linkPick % links.length),
        );
        assert.deepEqual(checkBucketInvariant(map), { nodes: ids.length, violations: 1, missingBuckets: 1 });
      }),
      { numRuns: 100 },
    );
  });
});

describe('link policy', () => {
  /** Ids of known bucket relative to `self`: bucket b shares exactly b leading bits. */
  const inBucket = (self: NodeId, bucket: number, salt: number): NodeId => {
    const out = hashToId(Uint8Array.of(salt, bucket, 7));
    for (let bit = 0; bit <= bucket; bit++) {
      const byte = bit >> 3;
      const mask = 0x80 >> (bit & 7);
      const want = bit < bucket ? self[byte]! & mask : ~self[byte]! & mask;
      out[byte] = (out[byte]! & ~mask) | want;
    }
    assert.equal(commonPrefixLength(self, out), bucket);
    return out;
  };
  const self = new Uint8Array(32).fill(0x5a);

  it('never evicts a link the invariant needs: the sole link of a bucket or one of the closest', () => {
    fc.assert(
      fc.property(id32, uniqueIds(0, 30), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), fc.boolean(), (self, ids, needs, mayHurtPeer) => {
        const links = ids.filter((i) => toHex(i) !== toHex(self)).map((id, k) => ({ id, peerNeedsUs: needs[k]! }));
        const table = tableWith(me, self, links);
        const victim = pickEviction(table, mayHurtPeer);
        if (!victim) return;
        const vid = victim.peer!.id;
        const bucket = commonPrefixLength(self, vid);
        const others = links.filter((l) => toHex(l.id) !== victim.peer!.idText);
        assert.ok(
          others.some((l) => commonPrefixLength(self, l.id) === bucket),
          'the victim is not the only link of its bucket',
        );
        const closer = others.filter((l) => compareDistance(l.id, vid, self) < 0).length;
        assert.ok(closer >= NEIGHBOURS, `the victim has ${closer} closer links: it is one of the ${NEIGHBOURS} closest`);
        if (!mayHurtPeer) assert.equal(victim.peerNeedsUs, false, 'a link the peer needs goes only when we may hurt the peer');
        assert.equal(neededByUs(table, victim), false);
      }),
      { numRuns: 300 },
    );
  });

  it('neededLinks marks exactly the links neededByUs calls needed, leaves included', () => {
    fc.assert(
      fc.property(clusteredIds(1, 40), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (ids, leaves) => {
        const links = ids.filter((i) => toHex(i) !== toHex(self)).map((id, k) => ({ id, leaf: leaves[k]! }));
        const table = tableWith(me, self, links);
        const needed = neededLinks(table);
        for (const s of table.all()) assert.equal(needed.has(s), neededByUs(table, s), `link ${s.peer!.idText} (leaf ${links.find((l) => toHex(l.id) === s.peer!.idText)!.leaf})`);
      }),
      { numRuns: 300 },
    );
  });

  it('evicts nothing from a table of one link per bucket', () => {
    const table = tableWith(me, self, [0, 1, 2, 3, 4, 5, 6].map((b) => ({ id: inBucket(self, b, 1) })));
    assert.equal(pickEviction(table, true), undefined);
    for (const s of table.all()) assert.equal(neededByUs(table, s), true);
  });

  it('evicts from the most crowded bucket, and prefers links the peer does not need', () => {
    const links = [
      ...[0, 1, 2, 3].map((salt) => ({ id: inBucket(self, 0, salt), peerNeedsUs: false })), // crowded bucket 0
      ...[0, 1].map((salt) => ({ id: inBucket(self, 1, salt), peerNeedsUs: false })),
      ...[8, 9, 10, 11].map((b) => ({ id: inBucket(self, b, 0), peerNeedsUs: false })), // the closest ones
    ];
    const table = tableWith(me, self, links);
    const victim = pickEviction(table, false)!;
    assert.equal(commonPrefixLength(self, victim.peer!.id), 0);
    // Mark every bucket-0 link as needed by its peer: without leave to hurt peers, bucket 1 pays.
    const needy = tableWith(
      me,
      self,
      links.map((l) => ({ ...l, peerNeedsUs: commonPrefixLength(self, l.id) === 0 })),
    );
    assert.equal(commonPrefixLength(self, pickEviction(needy, false)!.peer!.id), 1);
    // With leave to hurt peers, a link the peer does not need still goes first.
    assert.equal(pickEviction(needy, true)!.peerNeedsUs, false);
  });

  it('wouldBeNeeded: a link into an empty bucket or among the closest', () => {
    const table = tableWith(me, self, [0, 1, 8, 9, 10].map((b) => ({ id: inBucket(self, b, 0) })));
    assert.equal(wouldBeNeeded(table, inBucket(self, 3, 0)), true, 'bucket 3 is empty');
    assert.equal(wouldBeNeeded(table, inBucket(self, 0, 5)), false, 'bucket 0 is covered and far');
    assert.equal(wouldBeNeeded(table, inBucket(self, 20, 0)), true, 'closer than every link');
  });

  describe('dialWishes', () => {
    /** Peer memory holding `perBucket` records in each listed bucket, with dial addresses. */
    function memoryWith(buckets: number[], perBucket = 2) {
      const memory = new PeerMemory(self);
      const byBucket = new Map<number, PeerRecord[]>();
      const seen = new Map<number, number>();
      for (let k = 0; [...buckets].some((b) => (seen.get(b) ?? 0) < perBucket); k++) {
        assert.ok(k < 100_000, 'test setup: enough keys found');
        const publicKey = hashToId(Uint8Array.of(k & 0xff, (k >> 8) & 0xff, (k >> 16) & 0xff));
        const b = commonPrefixLength(self, idFromPublicKey(publicKey));
        if (!buckets.includes(b) || (seen.get(b) ?? 0) >= perBucket) continue;
        seen.set(b, (seen.get(b) ?? 0) + 1);
        const rec = memory.learn({ publicKey, addrs: [`mem:${k}`], caps: [] }, 1000)!;
        byBucket.set(b, [...(byBucket.get(b) ?? []), rec]);
      }
      return { memory, byBucket };
    }
    const ctx = (table: RoutingTable, memory: PeerMemory, over: Partial<Parameters<typeof dialWishes>[0]> = {}) => ({
      table,
      memory,
      budget: 24,
      pending: new Set<string>(),
      coolingDown: () => false,
      canDial: () => true,
      spares: 24,
      ...over,
    });

    it('wants one needed link into every known bucket when it has none', () => {
      const { memory } = memoryWith([0, 1, 2, 3, 4]);
      const wishes = dialWishes(ctx(tableWith(me, self, []), memory));
      const neededBuckets = wishes.filter((w) => w.needed).map((w) => commonPrefixLength(self, w.rec.idBytes));
      for (const b of [0, 1, 2, 3, 4]) assert.ok(neededBuckets.includes(b), `a needed dial into bucket ${b}`);
      assert.equal(new Set(wishes.map((w) => w.rec.id)).size, wishes.length, 'no peer wished twice');
      // Deepest bucket first: those are the nodes closest to us.
      assert.equal(commonPrefixLength(self, wishes[0]!.rec.idBytes), 4);
    });

    it('skips linked, pending, cooling-down and undialable peers', () => {
      const { memory, byBucket } = memoryWith([0, 1, 2, 3], 1);
      const [r0, r1, r2, r3] = [0, 1, 2, 3].map((b) => byBucket.get(b)![0]!);
      const table = tableWith(me, self, [{ id: r0!.idBytes }]);
      const wishes = dialWishes(
        ctx(table, memory, {
          pending: new Set([r1!.id]),
          coolingDown: (id) => id === r2!.id,
          canDial: (rec) => rec.id !== r3!.id,
        }),
      );
      assert.deepEqual(wishes, []);
    });

    it('prefers the peer with fewer failed dials within a bucket', () => {
      const { memory, byBucket } = memoryWith([0], 2);
      const [flaky, solid] = byBucket.get(0)!;
      memory.failed(flaky!.id);
      const wishes = dialWishes(ctx(tableWith(me, self, []), memory));
      assert.equal(wishes[0]!.rec.id, solid!.id);
      // And the other way round once the failure is on the other record.
      const again = memoryWith([0], 2);
      const [first, second] = again.byBucket.get(0)!;
      again.memory.failed(second!.id);
      assert.equal(dialWishes(ctx(tableWith(me, self, []), again.memory))[0]!.rec.id, first!.id);
    });

    it('without an address of its own, dials a listener that knows nobody deeper on its side to dial (owed, not needed)', () => {
      const { memory, byBucket } = memoryWith([0, 3], 2);
      const [near, far] = [byBucket.get(3)!, byBucket.get(0)!];
      const table = tableWith(me, self, [{ id: near[0]!.idBytes }, { id: far[0]!.idBytes }]);
      // The listener in bucket 3 has nobody with an address deeper on our side: only we can fill its bucket.
      const owed = dialWishes(ctx(table, memory, { spares: 0, addressable: false })).filter((w) => !w.needed);
      assert.deepEqual(owed.map((w) => w.rec.id), [near[1]!.id]);
      // The one in bucket 0 has them (bucket 3's listeners are on our side of it); and a node with an address owes nothing.
      assert.deepEqual(dialWishes(ctx(table, memory, { spares: 0, addressable: true })).filter((w) => !w.needed), []);
    });

    it('adds spare links only within the budget less the reserve', () => {
      const { memory, byBucket } = memoryWith([0, 1, 2, 3], 4);
      // Covered buckets: nothing is needed, so any wish is a spare.
      const linked = [0, 1, 2, 3].map((b) => ({ id: byBucket.get(b)![0]!.idBytes }));
      for (const budget of [4 + RESERVE, 5 + RESERVE, 6 + RESERVE, 24]) {
        const table = tableWith(me, self, linked);
        const wishes = dialWishes(ctx(table, memory, { budget }));
        const needed = wishes.filter((w) => w.needed).length;
        const spares = wishes.filter((w) => !w.needed).length;
        assert.ok(spares <= Math.max(0, budget - RESERVE - table.size - needed), `budget ${budget}: ${spares} spares`);
        if (budget === 4 + RESERVE) assert.equal(spares, 0, 'no room for spares');
      }
      assert.ok(dialWishes(ctx(tableWith(me, self, linked), memory, { budget: 24 })).some((w) => !w.needed), 'with room, spares are wished');
    });
  });
});

describe('routing in simulated networks', () => {
  it('delivers every datagram once converged, within the link budget (random seeds and sizes 8..60)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 8, max: 60 }), fc.constantFrom(16, 24), async (seed, nodes, linkBudget) => {
        const r = await new Simulation({ nodes, seed, messages: 60, churn: 0, linkBudget, maxConvergeSeconds: 300 }).run();
        const where = `seed ${seed}, ${nodes} nodes, budget ${linkBudget}`;
        assert.equal(r.converged, true, `${where}: converged`);
        assert.equal(r.deliveryRate, 1, `${where}: delivered ${r.delivered}/${r.messages}`);
        assert.ok(r.linksMax <= linkBudget, `${where}: a node holds ${r.linksMax} links`);
        assert.ok(r.hopsP99 <= 2 * Math.ceil(Math.log2(nodes)), `${where}: p99 of ${r.hopsP99} hops`);
      }),
      { numRuns: 5, seed: 20240611, endOnFailure: true },
    );
  });
});
