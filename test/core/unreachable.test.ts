/**
 * Unreachable answers (src/core/unreachable.ts): the node that drops a signed Signal, Request or
 * KeyRequest as `no-route` tells its source, which fails what waited on it within a round trip,
 * with UNREACHABLE. Only a source that signed is answered (no reflection), within a budget per
 * source, and a source takes an answer only for a packet it sent.
 *
 * The mesh: real nodes over memory links on a virtual clock (5 ms a link), a -- b, plus a raw
 * peer linked to b that a test drives by hand. The node that is gone never existed: its id is
 * b's with the last bit flipped, so b is the closest node to it and the one that drops.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../../src/core/bytes.js';
import { FrameType, Want, type PacketFrame } from '../../src/core/codec.js';
import { isMeshError } from '../../src/core/errors.js';
import type { Identity } from '../../src/core/identity.js';
import { UNREACHABLE_MINOR } from '../../src/core/limits.js';
import type { NodeEvents } from '../../src/core/node.js';
import { createPacket, PacketKind, verifyPacket } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { hello, rawHandshake, seededIdentity, TestNet, type RawPeer, type TestNode } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

/** `from` dials `to` and both sides admit the link. */
async function link(net: TestNet, from: TestNode, to: TestNode): Promise<void> {
  const l = await drive(net.clock, net.network.dial(from.addr, to.addr, net.clock.scoped(900 + net.nodes.indexOf(from))), 1000, 'dial');
  await drive(net.clock, from.node.addLink(l, { outbound: true, expectedId: to.node.id }), 2000, 'handshake');
  await driveUntil(net.clock, () => to.node.linkIds().includes(from.node.id), 1000, 'admitted');
}

async function mesh(options: { plainA?: boolean } = {}) {
  const net = new TestNet();
  const a = await net.addNode('unreach/a', { encryption: !options.plainA });
  const b = await net.addNode('unreach/b');
  await link(net, a, b);
  const gone = b.node.identity.id.slice();
  gone[gone.length - 1]! ^= 1;
  const heard: NodeEvents['unreachable'][] = [];
  a.node.events.on('unreachable', (e) => heard.push(e));
  return { net, a: a.node, b: b.node, gone, heard };
}

/** A raw peer linked to b, whose hello says wire minor `minor`. */
async function rawPeer(net: TestNet, b: TestNode['node'], label: string, minor = UNREACHABLE_MINOR): Promise<{ me: Identity; raw: RawPeer }> {
  const me = await seededIdentity(label);
  const raw = await net.rawDial(`mem:${label}`, `mem:unreach/b`);
  await rawHandshake(net, raw, me, undefined, minor);
  await driveUntil(net.clock, () => b.linkIds().includes(me.idText), 1000, 'raw peer linked');
  return { me, raw };
}

const unreachables = (raw: RawPeer): PacketFrame[] => raw.frames().filter((f): f is PacketFrame => f.type === FrameType.Packet && f.kind === PacketKind.Unreachable);
const settle = <T>(p: Promise<T>) => p.then(() => undefined, (err: unknown) => err);
const signal = (me: Identity, dst: Uint8Array, id: number) => createPacket(me, dst, PacketKind.Signal, Payload.signal.encode({ body: `offer ${id}` }), id, 64);

describe('unreachable answers', () => {
  it('a signal fails within a round trip, a key request at the answer to its first resend, UNREACHABLE, saying who dropped them', async () => {
    const { net, a, b, gone, heard } = await mesh();
    const goneHex = toHex(gone);
    // The first request to a node waits for its key: the KeyRequest is what b drops. One answer
    // may come from a link between two handshakes (e2e.ts): the resend 400 ms later decides.
    let at = net.clock.now();
    const err = await drive(net.clock, settle(a.request(goneHex, 'hello', { timeoutMs: 10_000 })), 1000, 'request');
    assert.ok(isMeshError(err, 'UNREACHABLE'), `UNREACHABLE: ${String(err)}`);
    assert.match((err as Error).message, new RegExp(`${goneHex.slice(0, 8)}.*unreachable.*${b.id.slice(0, 8)}`));
    const took = net.clock.now() - at;
    assert.ok(took >= 400 && took <= 420, `the resend's round trip (400 + 10 ms), not the 10 s timeout: ${took} ms`);
    assert.deepEqual(heard, [{ id: goneHex, by: b.id, kind: 'key' }, { id: goneHex, by: b.id, kind: 'key' }]);
    // A WebRTC offer: the broker fails its dial on this event (test/worker/broker-crossing.test.ts).
    at = net.clock.now();
    await drive(net.clock, a.sendSignal(goneHex, '{"t":"offer"}'), 100, 'signal sent');
    await driveUntil(net.clock, () => heard.length === 3, 100, 'the signal answered');
    assert.deepEqual(heard[2], { id: goneHex, by: b.id, kind: 'signal' });
    assert.ok(net.clock.now() - at <= 20, `one round trip: ${net.clock.now() - at} ms`);
    assert.equal(b.status().counters.unreachableSent, 3);
    assert.equal(b.status().counters.dropped['no-route'], 3);
    assert.equal(a.status().counters.unreachableHeard, 3);
    assert.deepEqual(a.status().counters.dropped, {}, 'all taken, nothing unmatched');
    await net.stopAll();
  });

  it('a plaintext request (signed: its source does not encrypt) fails the same way', async () => {
    const { net, a, b, gone, heard } = await mesh({ plainA: true });
    const err = await drive(net.clock, settle(a.request(toHex(gone), 'hello', { timeoutMs: 10_000 })), 100, 'request');
    assert.ok(isMeshError(err, 'UNREACHABLE'), String(err));
    assert.deepEqual(heard, [{ id: toHex(gone), by: b.id, kind: 'request' }]);
    await net.stopAll();
  });

  it('only a source that signed is answered: a forged source, a bad signature and an unsigned packet get nothing (no reflection)', async () => {
    const { net, a, b, gone } = await mesh();
    const { me, raw } = await rawPeer(net, b, 'unreach/raw');
    const honest = await signal(me, gone, 1);
    // Claims to come from a (which would get the answer), signed with the raw peer's key.
    raw.send({ ...honest, src: a.identity.id, id: 2 });
    const flipped = honest.signature.slice();
    flipped[0]! ^= 1;
    raw.send({ ...honest, id: 3, signature: flipped });
    raw.send({ ...honest, src: a.identity.id, id: 4, publicKey: new Uint8Array(0), signature: new Uint8Array(0) });
    await advance(net.clock, 100);
    assert.equal(unreachables(raw).length, 0, 'nothing to the raw peer');
    assert.equal(a.status().counters.unreachableHeard + (a.status().counters.dropped['unreachable:unmatched'] ?? 0), 0, 'nothing to a');
    const dropped = b.status().counters.dropped;
    assert.deepEqual(
      [dropped['no-route'], dropped['unreachable:forged-source'], dropped['unreachable:bad-signature'], dropped['unreachable:unsigned']],
      [3, 1, 1, 1],
      JSON.stringify(dropped),
    );
    assert.equal(b.status().counters.unreachableSent, 0);
    // The same packet, honestly signed: answered once, by b, naming it.
    raw.send(honest);
    await driveUntil(net.clock, () => unreachables(raw).length === 1, 100, 'the honest packet answered');
    const [answer] = unreachables(raw);
    assert.equal(await verifyPacket(answer!), undefined, 'signed by its sender');
    assert.equal(toHex(answer!.src), b.id);
    assert.deepEqual(Payload.unreachable.decode(answer!.payload), { dst: gone, packetId: 1, kind: PacketKind.Signal, proof: honest.signature.slice(0, 16) });
    await net.stopAll();
  });

  it('answers a source at most its budget (20 at once, then 5 a second), counted unreachable:rate', async () => {
    const { net, b, gone } = await mesh();
    const { me, raw } = await rawPeer(net, b, 'unreach/flood');
    for (let i = 1; i <= 30; i++) raw.send(await signal(me, gone, i));
    await advance(net.clock, 100);
    assert.equal(unreachables(raw).length, 20, 'the burst');
    assert.equal(b.status().counters.dropped['unreachable:rate'], 10);
    await advance(net.clock, 1000);
    for (let i = 31; i <= 40; i++) raw.send(await signal(me, gone, i));
    await advance(net.clock, 100);
    assert.equal(unreachables(raw).length, 25, '1.1 s later, five more');
    assert.equal(b.status().counters.dropped['unreachable:rate'], 15);
    assert.equal(b.status().counters.dropped['no-route'], 40, 'every packet still dropped');
    await net.stopAll();
  });

  it('answers all sources together at most 200 at once (unreachable:rate-all): many identities buy no more', async () => {
    const { net, b, gone } = await mesh();
    const { raw } = await rawPeer(net, b, 'unreach/many');
    // Eleven identities behind one link, each within its own budget of 20: 220 answers asked.
    for (let k = 0; k < 11; k++) {
      const id = await seededIdentity(`unreach/many/${k}`);
      for (let i = 1; i <= 20; i++) raw.send(await signal(id, gone, i));
    }
    await advance(net.clock, 100);
    assert.equal(unreachables(raw).length, 200);
    assert.equal(b.status().counters.dropped['unreachable:rate-all'], 20);
    assert.equal(b.status().counters.dropped['unreachable:rate'], undefined, 'no source over its own budget');
    await net.stopAll();
  });

  it('a peer linked to the dropping node that says an older wire minor is sent none', async () => {
    const { net, b, gone } = await mesh();
    const { me, raw } = await rawPeer(net, b, 'unreach/old', UNREACHABLE_MINOR - 1);
    raw.send(await signal(me, gone, 1));
    await advance(net.clock, 100);
    assert.equal(unreachables(raw).length, 0);
    assert.equal(b.status().counters.dropped['unreachable:old-peer'], 1);
    await net.stopAll();
  });

  it('a source takes an answer only for a packet it sent: anything else is unreachable:unmatched, and fails nothing', async () => {
    const { net, a, b, gone, heard } = await mesh();
    const { me, raw } = await rawPeer(net, b, 'unreach/liar');
    const pending = settle(a.request(b.id, 'x', { port: 9, timeoutMs: 500 }));
    // Names packets a never sent: a signal to `gone`, a request to b (while a request to b is pending).
    const lie = (packetId: number, dst: Uint8Array, kind: number, id: number) =>
      createPacket(me, a.identity.id, PacketKind.Unreachable, Payload.unreachable.encode({ dst, packetId, kind, proof: new Uint8Array(16) }), id, 64);
    raw.send(await lie(12345, gone, PacketKind.Signal, 1));
    raw.send(await lie(12346, b.identity.id, PacketKind.Request, 2));
    await advance(net.clock, 50);
    assert.equal(a.status().counters.dropped['unreachable:unmatched'], 2);
    assert.deepEqual(heard, []);
    // b has no handler on port 9: REFUSED from b itself, not UNREACHABLE.
    const err = await drive(net.clock, pending, 1000, 'request');
    assert.ok(isMeshError(err, 'REFUSED'), String(err));
    await net.stopAll();
  });

  it("an answer must repeat the start of the dropped packet's signature: a node that only guessed the packet's id is unmatched", async () => {
    const { net, a, b, heard } = await mesh();
    const { me, raw } = await rawPeer(net, b, 'unreach/path');
    // An id next to the raw peer's: b passes a's offer for it to the raw peer, which sees it all.
    const near = me.id.slice();
    near[near.length - 1]! ^= 1;
    await drive(net.clock, a.sendSignal(toHex(near), '{"t":"offer"}'), 100, 'signal sent');
    await driveUntil(net.clock, () => raw.frames().some((f) => f.type === FrameType.Packet && f.kind === PacketKind.Signal), 100, 'the offer at the raw peer');
    const offer = raw.frames().find((f): f is PacketFrame => f.type === FrameType.Packet && f.kind === PacketKind.Signal)!;
    const answer = (proof: Uint8Array, id: number) =>
      createPacket(me, a.identity.id, PacketKind.Unreachable, Payload.unreachable.encode({ dst: offer.dst, packetId: offer.id, kind: offer.kind, proof }), id, 64);
    // Its id, destination and kind are right (a sequence is easy to guess); the proof is not.
    const guessed = offer.signature.slice(0, 16);
    guessed[0]! ^= 1;
    raw.send(await answer(guessed, 1));
    await advance(net.clock, 50);
    assert.equal(a.status().counters.dropped['unreachable:unmatched'], 1);
    assert.deepEqual(heard, []);
    // A node that carried the packet can say so, as it could drop it.
    raw.send(await answer(offer.signature.slice(0, 16), 2));
    await driveUntil(net.clock, () => heard.length === 1, 100, 'the answer with the proof taken');
    assert.deepEqual(heard, [{ id: toHex(near), by: me.idText, kind: 'signal' }]);
    assert.equal(a.status().counters.unreachableHeard, 1);
    await net.stopAll();
  });

  it('no answer for a destination whose link to the dropping node is in its handshake: it is arriving, not gone', async () => {
    const { net, a, b, heard } = await mesh();
    const me = await seededIdentity('unreach/arriving');
    const raw = await net.rawDial('mem:unreach/arriving', 'mem:unreach/b');
    raw.send(hello(me, new Uint8Array(32).fill(3), Want.Join, UNREACHABLE_MINOR));
    await driveUntil(net.clock, () => raw.frames().some((f) => f.type === FrameType.Hello), 1000, "b's hello");
    // b knows from its hello who is dialling, and has not admitted it yet: a's offer to it is dropped.
    await drive(net.clock, a.sendSignal(me.idText, '{"t":"offer"}'), 100, 'signal sent');
    await advance(net.clock, 50);
    assert.equal(b.status().counters.dropped['no-route'], 1);
    assert.equal(b.status().counters.dropped['unreachable:arriving'], 1);
    assert.equal(b.status().counters.unreachableSent, 0);
    assert.deepEqual(heard, []);
    await net.stopAll();
  });
});
