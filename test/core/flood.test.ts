/**
 * Flood control in the core: token buckets, and a live node under a flood from one link and
 * from one source id while an honest pair keeps exchanging requests through it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameType } from '../../src/core/codec.js';
import { isMeshError } from '../../src/core/errors.js';
import { createPacket, PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { FloodGuard, TokenBucket } from '../../src/core/rate-limit.js';
import type { MeshNodeOptions } from '../../src/core/node.js';
import { rawHandshake, seededIdentity, TestNet, type TestNode } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

describe('token buckets', () => {
  it('allow the burst at once, then the rate, and never more than the burst saved up', () => {
    const b = new TokenBucket(10, 5, 0);
    const taken = (now: number, n: number) => Array.from({ length: n }, () => b.take(now)).filter(Boolean).length;
    assert.equal(taken(0, 20), 5, 'the burst');
    assert.equal(taken(100, 20), 1, '10 a second: one in 100 ms');
    assert.equal(taken(10_000, 20), 5, 'a long pause saves up the burst, no more');
    assert.equal(b.take(10_000, 1), false);
  });

  it('refuse limits that are not positive numbers, with INVALID_ARGUMENT', () => {
    for (const bad of [0, -1, Number.NaN]) assert.throws(() => new FloodGuard({ sourcePacketsPerSec: bad }), (e) => isMeshError(e, 'INVALID_ARGUMENT'));
    assert.doesNotThrow(() => new FloodGuard({ linkFramesPerSec: Infinity, linkBurstFrames: Infinity }));
  });

  it('keep a bucket per link and per source', () => {
    const g = new FloodGuard({ linkBurstFrames: 2, sourceBurstPackets: 1 });
    const [x, y] = [{}, {}];
    assert.deepEqual([g.frame(x, 10, 0), g.frame(x, 10, 0), g.frame(x, 10, 0), g.frame(y, 10, 0)], [undefined, undefined, 'rate:link', undefined]);
    assert.deepEqual([g.packet('s1', 0), g.packet('s1', 0), g.packet('s2', 0)], [undefined, 'rate:source', undefined]);
    const bytes = new FloodGuard({ linkBurstBytes: 100 });
    assert.deepEqual([bytes.frame(x, 60, 0), bytes.frame(x, 60, 0)], [undefined, 'rate:link-bytes']);
  });
});

/** `from` dials `to` and both sides admit the link. */
async function link(net: TestNet, from: TestNode, to: TestNode): Promise<void> {
  const l = await drive(net.clock, net.network.dial(from.addr, to.addr, net.clock.scoped(900 + net.nodes.indexOf(from))), 1000, 'dial');
  await drive(net.clock, from.node.addLink(l, { outbound: true, expectedId: to.node.id }), 2000, 'handshake');
  await driveUntil(net.clock, () => to.node.linkIds().includes(from.node.id), 1000, 'admitted');
}

/** Honest a and c, both linked to hub b, and a raw flooder linked to b. */
async function star(limits: MeshNodeOptions['rateLimits']) {
  const net = new TestNet();
  const a = await net.addNode('a');
  const b = await net.addNode('b', { rateLimits: limits });
  const c = await net.addNode('c');
  await link(net, a, b);
  await link(net, c, b);
  c.node.handle(7, (m) => `echo ${String(m.data)}`);
  const me = await seededIdentity('flooder');
  const raw = await net.rawDial('mem:flooder', b.addr);
  await rawHandshake(net, raw, me);
  await driveUntil(net.clock, () => b.node.linkIds().includes(me.idText), 1000, 'flooder linked');
  return { net, a, b, c, me, raw };
}

/** Ten requests from a to c through b, one every 20 virtual ms: how many got their answer. */
async function honestRequests(net: TestNet, a: TestNode, c: TestNode): Promise<number> {
  const replies: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    replies.push(a.node.request(c.node.id, `r${i}`, { port: 7, timeoutMs: 2000 }));
    await advance(net.clock, 20);
  }
  const settled = await drive(net.clock, Promise.allSettled(replies), 5000, 'honest requests');
  return settled.filter((s, i) => s.status === 'fulfilled' && s.value === `echo r${i}`).length;
}

describe('a node under a flood', () => {
  it('drops frames past the per-link budget before decoding them, counted as rate:link', async () => {
    const { net, a, b, c, raw } = await star({ linkFramesPerSec: 1, linkBurstFrames: 50 });
    const flood = 500;
    for (let n = 0; n < flood; n++) raw.send({ type: FrameType.Ping, n });
    const honest = honestRequests(net, a, c);
    await advance(net.clock, 50);
    const pongs = raw.frames().filter((f) => f.type === FrameType.Pong).length;
    // The hello and the proof took two tokens of the 50; the pings arrived together.
    assert.equal(pongs, 48, 'pings answered within the burst');
    assert.equal(b.node.status().counters.dropped['rate:link'], flood - 48);
    assert.equal(await honest, 10, 'every honest request answered during the flood');
    await net.stopAll();
  });

  it('answers a flood of key requests with at most its per-asker budget of key cards (key-card:rate); others still get theirs', async () => {
    const { net, a, b, c, me, raw } = await star({});
    const flood = 60;
    for (let i = 0; i < flood; i++) {
      raw.send(await createPacket(me, c.node.identity.id, PacketKind.KeyRequest, Payload.keyRequest.encode({ requestId: i + 1, key: new Uint8Array(32).fill(i + 1) }), i, 64));
    }
    await advance(net.clock, 100);
    const cards = raw.frames().filter((f) => f.type === FrameType.Packet && f.kind === PacketKind.KeyCard).length;
    // The requests came together: the burst (40) was answered with C's card by B, the rest not; C answers every one itself.
    assert.equal(cards, 40, 'key cards from B');
    assert.equal(b.node.status().counters.dropped['key-card:rate'], flood - 40);
    // A's budget is its own: its first request to C still goes on B's card.
    assert.equal(await honestRequests(net, a, c), 10);
    assert.equal(a.node.status().e2e.keyCards, 1, 'A got C’s card from B');
    await net.stopAll();
  });

  it('drops packets past the per-source budget, whichever link brings them, counted as rate:source', async () => {
    const { net, a, b, c, me, raw } = await star({ sourceBurstPackets: 100, sourcePacketsPerSec: 50 });
    let got = 0;
    c.node.onMessage(() => got++);
    const flood = 300;
    for (let i = 0; i < flood; i++) {
      raw.send(await createPacket(me, c.node.identity.id, PacketKind.Data, Payload.data.encode({ app: new Uint8Array(0), port: 1, data: `spam ${i}` }), i, 64));
    }
    const honest = await honestRequests(net, a, c);
    await advance(net.clock, 100);
    const dropped = b.node.status().counters.dropped['rate:source'] ?? 0;
    // The packets arrived together: the burst passed, the rest did not.
    assert.equal(dropped, flood - 100, 'rate:source drops');
    assert.equal(got, flood - dropped, 'what passed the hub was delivered; nothing else');
    assert.equal(honest, 10, 'every honest request answered during the flood');
    await net.stopAll();
  });
});
