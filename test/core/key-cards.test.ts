/**
 * Key cards (src/core/key-cards.ts): B, the last node before C, answers A's key request with C's
 * card, so A's first sealed packet leaves without waiting for C's answer. A takes only a card
 * that C signed and whose key hashes to the id A asked; B's forgeries are refused and counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame, encodeFrame, FrameType, type PacketFrame } from '../../src/core/codec.js';
import { fromHex, toHex } from '../../src/core/bytes.js';
import { cardBytes } from '../../src/core/key-cards.js';
import { looksSealed, Payload, type KeyCardPayload } from '../../src/core/payloads.js';
import { createPacket, PacketKind } from '../../src/core/packets.js';
import { seededIdentity, TestNet } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';
import { chain, contains, MARKER, marker, packets } from '../helpers/e2e-chain.js';

const isKind = (frame: Uint8Array, kind: number, src?: string): boolean => {
  const d = decodeFrame(frame);
  return d.ok && d.value.type === FrameType.Packet && d.value.kind === kind && (src === undefined || toHex(d.value.src) === src);
};

describe('key cards', () => {
  it('B answers A’s key request with C’s card: A’s first request reaches C sealed before C’s answer is back, which is then no counted drop', async () => {
    const t = await chain();
    const reply = await drive(t.net.clock, t.a.request(t.c.id, `${MARKER} request`, { port: 5 }), 5000, 'request');
    assert.equal(reply, `reply to ${MARKER} request: ${MARKER}-reply`);
    await driveUntil(t.net.clock, () => t.a.fastPair(t.c.id) !== undefined, 1000, 'C’s KeyReply: it holds A’s key');
    const at = (kind: number, src: string) => t.forwarded.findIndex((f) => isKind(f, kind, src));
    // In the order B sent them: the card to A, A's request on to C, and only then C's KeyReply back to A.
    const card = at(PacketKind.KeyCard, t.b.id);
    const request = at(PacketKind.Request, t.a.id);
    const keyReply = at(PacketKind.KeyReply, t.c.id);
    assert.ok(card >= 0 && card < request && request < keyReply, `card ${card}, request ${request}, C's KeyReply ${keyReply}`);
    // The request went sealed, signed and naming A's key (C may not have had it yet).
    const [sent] = packets(t.forwarded, PacketKind.Request, t.a);
    assert.ok(sent && looksSealed(sent.payload) && sent.signature.length === 64, 'sealed and signed');
    assert.equal(t.forwarded.filter((f) => contains(f, marker)).length, 0, 'no frame B forwarded holds the plaintext');
    assert.equal(t.a.status().e2e.keyCards, 1);
    assert.equal(t.b.status().e2e.cardsGiven, 1);
    assert.equal(t.a.status().e2e.keyRequests, 1);
    assert.deepEqual(t.a.status().counters.dropped, {}, 'C’s KeyReply after the card: no late-key-reply');
    // What C's card said is C's key.
    assert.equal(toHex(t.a.fastPair(t.c.id)!.peerPublic), t.c.status().e2e.publicKey);
    await t.net.stopAll();
  });

  it('a node linked to the destination takes the card its proof gave: the first request leaves at once', async () => {
    const net = new TestNet({ latencyMs: 20, jitterMs: 0 });
    const s = (await net.addNode('cards/s')).node;
    const a = (await net.addNode('cards/a', { addrs: [], bootstrap: ['mem:cards/s'] })).node;
    let seenAt = 0;
    s.handle(1, (m) => ((seenAt = net.clock.now()), m.data));
    await drive(net.clock, Promise.all([s.start(), a.start()]), 1000, 'start');
    await driveUntil(net.clock, () => s.linkIds().length === 1, 5000, 'A linked to S');
    const sentAt = net.clock.now();
    assert.equal(await drive(net.clock, a.request(s.id, 'first', { port: 1 }), 5000, 'request'), 'first');
    // One link latency, as any later request: no key exchange before it (three latencies without the card).
    assert.equal(seenAt - sentAt, 20);
    await driveUntil(net.clock, () => a.fastPair(s.id) !== undefined, 1000, 'S’s KeyReply: it holds A’s key');
    assert.equal(a.status().e2e.keyCards, 1);
    assert.deepEqual(a.status().counters.dropped, {});
    assert.equal(toHex(a.fastPair(s.id)!.peerPublic), s.status().e2e.publicKey);
    await net.stopAll();
  });

  it('a forged card is refused and counted, and C’s own answer still gives A the right key', async () => {
    const bId = await seededIdentity('e2e/b');
    const cases: [string, string, (c: KeyCardPayload, b: { key: Uint8Array }) => Promise<KeyCardPayload>][] = [
      ['a bit of the signature flipped', 'key-card:bad-signature', async (c) => {
        const signature = c.signature.slice();
        signature[0]! ^= 1;
        return { ...c, signature };
      }],
      ['B’s X25519 key in C’s card', 'key-card:bad-signature', async (c, b) => ({ ...c, key: b.key })],
      ['B’s X25519 key, signed by B under C’s Ed25519 key', 'key-card:bad-signature', async (c, b) => ({ ...c, key: b.key, signature: await bId.sign(cardBytes(c.publicKey, b.key)) })],
      ['B’s own card, valid, for another id than asked', 'key-card:wrong-id', async (c, b) => ({ ...c, publicKey: bId.publicKey, key: b.key, signature: await bId.sign(cardBytes(bId.publicKey, b.key)) })],
      ['C’s X25519 key and signature under B’s Ed25519 key', 'key-card:wrong-id', async (c) => ({ ...c, publicKey: bId.publicKey })],
      ['C’s card for a request A never made', 'key-card:unasked', async (c) => ({ ...c, requestId: c.requestId + 1000 })],
    ];
    for (const [what, reason, forge] of cases) {
      const t = await chain();
      const b = { key: fromHex(t.b.status().e2e.publicKey)! };
      t.setTap(async (frame) => {
        const d = decodeFrame(frame);
        if (!d.ok || d.value.type !== FrameType.Packet || d.value.kind !== PacketKind.KeyCard) return frame;
        const p: PacketFrame = d.value;
        const forged = Payload.keyCard.encode(await forge(Payload.keyCard.decode(p.payload)!, b));
        const out = await createPacket(bId, p.dst, p.kind, forged, p.id, p.hops);
        return encodeFrame(out);
      });
      const reply = await drive(t.net.clock, t.a.request(t.c.id, 'hello', { port: 5 }), 5000, `request (${what})`);
      assert.equal(reply, `reply to hello: ${MARKER}-reply`, what);
      await advance(t.net.clock, 100);
      const e2e = t.a.status().e2e;
      assert.deepEqual(t.a.status().counters.dropped, { [reason]: 1 }, what);
      assert.equal(e2e.keyCards, 0, what);
      assert.equal(toHex(t.a.fastPair(t.c.id)!.peerPublic), t.c.status().e2e.publicKey, `${what}: C's key, from C's KeyReply`);
      await t.net.stopAll();
    }
  });
});
