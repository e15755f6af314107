/**
 * End-to-end encryption, seen from the node in the middle. A and C link only to B, so all their
 * traffic is forwarded by B; B's links are tapped at the Link level: the test reads every byte
 * B forwards and may alter it. B must see no application bytes, and what it alters must be
 * dropped (and counted) at the destination rather than delivered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame, encodeFrame, FrameType, type PacketFrame } from '../../src/core/codec.js';
import { isMeshError } from '../../src/core/errors.js';
import { createPacket, PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { exportE2ePublicKey, generateE2eKeys } from '../../src/core/e2e-crypto.js';
import { utf8 } from '../../src/core/bytes.js';
import { seededIdentity } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';
import { chain, contains, MARKER, marker, packets } from '../helpers/e2e-chain.js';

describe('end-to-end encryption through a forwarding node', () => {
  it('B forwards datagrams, requests and replies without ever seeing their bytes; C gets them intact', async () => {
    const t = await chain();
    await drive(t.net.clock, t.a.send(t.c.id, `${MARKER} as text`, { port: 3 }), 5000, 'send text');
    await drive(t.net.clock, t.a.send(t.c.id, utf8(`${MARKER} as bytes`), { port: 4 }), 5000, 'send bytes');
    const reply = await drive(t.net.clock, t.a.request(t.c.id, `${MARKER} request`, { port: 5 }), 5000, 'request');
    await drive(t.net.clock, t.a.send(t.c.id, `${MARKER} reliably`, { port: 6, reliable: true }), 5000, 'reliable send');
    await advance(t.net.clock, 200);
    assert.deepEqual(
      t.inbox.map((m) => [m.port, typeof m.data === 'string' ? m.data : Buffer.from(m.data).toString()]),
      [
        [3, `${MARKER} as text`],
        [4, `${MARKER} as bytes`],
        [6, `${MARKER} reliably`],
      ],
    );
    assert.equal(reply, `reply to ${MARKER} request: ${MARKER}-reply`);
    // B really forwarded each of them, one way or the other...
    for (const [kind, who] of [
      [PacketKind.Data, t.a],
      [PacketKind.Request, t.a],
      [PacketKind.Response, t.c],
      [PacketKind.ReliableData, t.a],
    ] as const) {
      assert.ok(packets(t.forwarded, kind, who).length >= 1, `B forwarded a packet of kind ${kind}`);
    }
    // ...and none of the bytes it sent holds the marker.
    assert.equal(t.forwarded.filter((f) => contains(f, marker)).length, 0, 'no frame B forwarded holds the plaintext');
    assert.ok(t.a.status().e2e.sealed >= 4 && t.c.status().e2e.opened >= 4, 'the payloads were sealed and opened');
    assert.equal(t.a.status().e2e.keyRequests, 1, 'one key exchange for the pair');
    assert.equal(t.c.status().e2e.keyRequests, 0, 'C learned A’s key from A’s request and answered without asking');
    await t.net.stopAll();
  });

  it('the same exchange with encryption off on A shows the marker to B (the check above can fail)', async () => {
    const t = await chain({ encryption: false });
    await drive(t.net.clock, t.a.send(t.c.id, `${MARKER} in the clear`, { port: 3 }), 5000, 'send');
    await advance(t.net.clock, 200);
    assert.deepEqual(
      t.inbox.map((m) => m.data),
      [`${MARKER} in the clear`],
    );
    assert.ok(t.forwarded.some((f) => contains(f, marker)), 'B saw the plaintext');
    await t.net.stopAll();
  });

  it('a payload B alters is dropped and counted by C, never delivered (unsigned: AES-GCM refuses it)', async () => {
    const t = await chain();
    await drive(t.net.clock, t.a.send(t.c.id, 'warm-up', { port: 3 }), 5000, 'warm-up (key exchange)');
    await advance(t.net.clock, 100);
    // B flips a bit in the last byte of every Data payload it forwards (inside the ciphertext).
    t.setTap((frame) => {
      const d = decodeFrame(frame);
      if (!d.ok || d.value.type !== FrameType.Packet || d.value.kind !== PacketKind.Data) return frame;
      const payload = d.value.payload.slice();
      payload[payload.length - 1]! ^= 0x01;
      return encodeFrame({ ...d.value, payload });
    });
    await drive(t.net.clock, t.a.send(t.c.id, 'altered on the way', { port: 3 }), 5000, 'send');
    await advance(t.net.clock, 200);
    assert.deepEqual(
      t.inbox.map((m) => m.data),
      ['warm-up'],
      'the altered datagram was not delivered',
    );
    assert.equal(t.c.status().counters.dropped['e2e:bad-ciphertext'], 1, 'C counted a ciphertext that does not authenticate');
    await t.net.stopAll();
  });

  it('a relay that dresses an unsigned packet up with A’s key and a signature of its own gets a bad signature', async () => {
    const t = await chain();
    await drive(t.net.clock, t.a.send(t.c.id, 'warm-up', { port: 3 }), 5000, 'warm-up');
    await advance(t.net.clock, 100);
    const mallory = await seededIdentity('e2e/mallory');
    t.setTap(async (frame) => {
      const d = decodeFrame(frame);
      if (!d.ok || d.value.type !== FrameType.Packet || d.value.kind !== PacketKind.Data) return frame;
      assert.equal(d.value.signature.length, 0, 'unsigned on the way');
      // Signed over the same fields, but by another key than A's.
      const p = d.value;
      const other = await createPacket(mallory, p.dst, p.kind, p.payload, p.id, p.hops);
      return encodeFrame({ ...p, publicKey: t.aId.publicKey, signature: other.signature });
    });
    await drive(t.net.clock, t.a.send(t.c.id, 'dressed up', { port: 3 }), 5000, 'send');
    await driveUntil(t.net.clock, () => (t.c.status().counters.dropped['bad-signature'] ?? 0) === 1, 2000, 'C dropped it as a bad signature');
    assert.deepEqual(t.inbox.map((m) => m.data), ['warm-up']);
    await t.net.stopAll();
  });

  it('once C holds A’s key, sealed payloads travel unsigned (no key, no signature) and arrive', async () => {
    const t = await chain();
    await drive(t.net.clock, t.a.send(t.c.id, 'one', { port: 3 }), 5000, 'first send');
    // B answered A's key request with C's card (key-cards.ts), so 'one' left before C could hold A's key: signed, naming it.
    await driveUntil(t.net.clock, () => t.a.fastPair(t.c.id) !== undefined, 1000, 'C’s KeyReply: it holds A’s key');
    const reply = await drive(t.net.clock, t.a.request(t.c.id, 'two', { port: 5 }), 5000, 'request');
    await drive(t.net.clock, t.a.send(t.c.id, 'three', { port: 6, reliable: true }), 5000, 'reliable send');
    await advance(t.net.clock, 200);
    assert.deepEqual(t.inbox.map((m) => m.data), ['one', 'three']);
    assert.match(String(reply), /^reply to two/);
    assert.deepEqual(packets(t.forwarded, PacketKind.Data, t.a).map((p) => p.signature.length), [64], 'the datagram sent on the card alone: signed');
    for (const [kind, who] of [
      [PacketKind.Request, t.a],
      [PacketKind.Response, t.c],
      [PacketKind.ReliableData, t.a],
      [PacketKind.Ack, t.c],
    ] as const) {
      const sent = packets(t.forwarded, kind, who);
      assert.ok(sent.length >= 1, `kind ${kind} forwarded`);
      const sealable = kind !== PacketKind.Ack;
      for (const p of sent) {
        assert.equal(p.signature.length, sealable ? 0 : 64, `kind ${kind}: ${sealable ? 'unsigned' : 'signed'}`);
        assert.equal(p.publicKey.length, sealable ? 0 : 32);
      }
    }
    // Key exchange and control stay signed.
    for (const kind of [PacketKind.KeyRequest, PacketKind.KeyReply]) for (const p of packets(t.forwarded, kind)) assert.equal(p.signature.length, 64);
    assert.equal(t.a.status().e2e.unsignedSent, 2);
    assert.equal(t.c.status().e2e.unsignedOpened, 2);
    await t.net.stopAll();
  });

  it('every field a relay must not change is authenticated in an unsigned packet; the hop limit is not', async () => {
    const t = await chain();
    await drive(t.net.clock, t.a.send(t.c.id, 'warm-up', { port: 3 }), 5000, 'warm-up');
    await advance(t.net.clock, 100);
    const bId = Buffer.from(t.b.id, 'hex');
    const changes: [string, (p: PacketFrame) => Partial<PacketFrame>, string | undefined][] = [
      ['packet id', (p) => ({ id: p.id ^ 1 }), 'e2e:bad-ciphertext'],
      ['kind (another sealable one)', () => ({ kind: PacketKind.ReliableData }), 'e2e:bad-ciphertext'],
      ['source (a node whose key C does not hold)', () => ({ src: new Uint8Array(bId) }), 'e2e:unsigned-unknown-key'],
      ['kind (one that must be signed)', () => ({ kind: PacketKind.Signal }), 'unsigned'],
      ['hop limit', (p) => ({ hops: p.hops - 7 }), undefined],
    ];
    for (const [what, change, reason] of changes) {
      t.setTap((frame) => {
        const d = decodeFrame(frame);
        if (!d.ok || d.value.type !== FrameType.Packet || d.value.kind !== PacketKind.Data) return frame;
        assert.equal(d.value.signature.length, 0, 'unsigned');
        return encodeFrame({ ...d.value, ...change(d.value) });
      });
      const dropped = reason ? t.c.status().counters.dropped[reason] ?? 0 : 0;
      const delivered = t.inbox.length;
      await drive(t.net.clock, t.a.send(t.c.id, `altered: ${what}`, { port: 3 }), 5000, `send (${what})`);
      if (reason) {
        await driveUntil(t.net.clock, () => (t.c.status().counters.dropped[reason] ?? 0) === dropped + 1, 2000, `${what}: dropped as ${reason}`);
        assert.equal(t.inbox.length, delivered, `${what}: not delivered`);
      } else {
        await driveUntil(t.net.clock, () => t.inbox.length === delivered + 1, 2000, `${what}: delivered`);
      }
    }
    await t.net.stopAll();
  });

  it('B cannot forge an unsigned packet from A: neither with A’s key named, nor with its own', async () => {
    const t = await chain();
    await drive(t.net.clock, t.a.send(t.c.id, 'warm-up', { port: 3 }), 5000, 'warm-up');
    await advance(t.net.clock, 100);
    const bKeys = await generateE2eKeys();
    const bPublic = await exportE2ePublicKey(bKeys);
    const forgeries: [string, (env: NonNullable<ReturnType<typeof Payload.sealed.decode>>) => Uint8Array, string][] = [
      // The sealed envelope names A's key, but B cannot derive the A–C pair key: AES-GCM fails.
      ['A’s key named, ciphertext of B’s making', (env) => Payload.sealed.encode({ ...env, ciphertext: new Uint8Array(env.ciphertext.length).fill(7) }), 'e2e:bad-ciphertext'],
      // B's own X25519 key: C would derive a pair key with B, but no signature binds that key to A.
      ['B’s key named', (env) => Payload.sealed.encode({ ...env, senderKey: bPublic }), 'e2e:unsigned-unknown-key'],
    ];
    for (const [what, forge, reason] of forgeries) {
      t.setTap((frame) => {
        const d = decodeFrame(frame);
        if (!d.ok || d.value.type !== FrameType.Packet || d.value.kind !== PacketKind.Data) return frame;
        return encodeFrame({ ...d.value, payload: forge(Payload.sealed.decode(d.value.payload)!) });
      });
      await drive(t.net.clock, t.a.send(t.c.id, `forged: ${what}`, { port: 3 }), 5000, `send (${what})`);
      await driveUntil(t.net.clock, () => (t.c.status().counters.dropped[reason] ?? 0) >= 1, 2000, `${what}: dropped as ${reason}`);
    }
    assert.deepEqual(t.inbox.map((m) => m.data), ['warm-up']);
    // A plaintext payload cannot travel unsigned either.
    t.setTap((frame) => {
      const d = decodeFrame(frame);
      if (!d.ok || d.value.type !== FrameType.Packet || d.value.kind !== PacketKind.Data) return frame;
      return encodeFrame({ ...d.value, payload: Payload.data.encode({ app: new Uint8Array(0), port: 3, data: 'in the clear, unsigned' }) });
    });
    await drive(t.net.clock, t.a.send(t.c.id, 'replaced', { port: 3 }), 5000, 'send');
    await driveUntil(t.net.clock, () => (t.c.status().counters.dropped['e2e:unsigned-plaintext'] ?? 0) === 1, 2000, 'plaintext unsigned dropped');
    assert.deepEqual(t.inbox.map((m) => m.data), ['warm-up']);
    await t.net.stopAll();
  });

  it('a destination that forgot A’s key (restarted, same keys) drops unsigned packets and tells A, which signs again', async () => {
    const cKeys = await generateE2eKeys();
    const t = await chain({}, { e2eKeys: cKeys });
    await drive(t.net.clock, t.a.send(t.c.id, 'before the restart', { port: 3 }), 5000, 'warm-up');
    await driveUntil(t.net.clock, () => t.a.fastPair(t.c.id) !== undefined, 1000, 'C holds A’s key');
    await drive(t.net.clock, t.a.send(t.c.id, 'unsigned now', { port: 3 }), 5000, 'second');
    assert.ok(t.a.status().e2e.unsignedSent >= 1);
    await drive(t.net.clock, t.c.stop(), 1000, 'stop c');
    await driveUntil(t.net.clock, () => t.b.linkIds().length === 1, 5000, 'B saw C go');
    const c2 = (await t.net.addNode('e2e/c-same-keys', { identity: t.c.identity, e2eKeys: cKeys, addrs: [], bootstrap: ['mem:e2e-b'] })).node;
    const inbox: string[] = [];
    c2.onMessage((m) => inbox.push(String(m.data)));
    await drive(t.net.clock, c2.start(), 1000, 'start c again');
    await driveUntil(t.net.clock, () => t.b.linkIds().length === 2, 5000, 'C back at B');
    await drive(t.net.clock, t.a.send(c2.id, 'after the restart', { port: 3, reliable: true, deadlineMs: 5000 }), 6000, 'reliable send');
    assert.deepEqual(inbox, ['after the restart']);
    assert.equal(c2.status().counters.dropped['e2e:unsigned-unknown-key'], 1, 'the unsigned copy was refused, once');
    await drive(t.net.clock, c2.stop(), 1000, 'stop c again');
    await t.net.stopAll();
  });

  it('even re-signed with the source’s own key, an altered ciphertext fails AES-GCM at C', async () => {
    // A signature forger (here: the test, which holds A's seed) still cannot alter a sealed
    // payload undetected: the AEAD is a second, independent check.
    const t = await chain();
    await drive(t.net.clock, t.a.send(t.c.id, 'warm-up', { port: 3 }), 5000, 'warm-up');
    await advance(t.net.clock, 100);
    t.setTap(async (frame) => {
      const d = decodeFrame(frame);
      if (!d.ok || d.value.type !== FrameType.Packet || d.value.kind !== PacketKind.Data) return frame;
      const env = Payload.sealed.decode(d.value.payload)!;
      assert.ok(env, 'the forwarded datagram is sealed');
      const ciphertext = env.ciphertext.slice();
      ciphertext[0]! ^= 0x80;
      const p = d.value;
      const forged = await createPacket(t.aId, p.dst, p.kind, Payload.sealed.encode({ ...env, ciphertext }), p.id, p.hops);
      return encodeFrame(forged);
    });
    await drive(t.net.clock, t.a.send(t.c.id, 'altered and re-signed', { port: 3 }), 5000, 'send');
    // The tap re-signs with real (not virtual) time: wait for the drop rather than a fixed span.
    await driveUntil(t.net.clock, () => Object.keys(t.c.status().counters.dropped).length > 0, 2000, 'C dropped something');
    await advance(t.net.clock, 200);
    assert.deepEqual(
      t.inbox.map((m) => m.data),
      ['warm-up'],
    );
    assert.equal(t.c.status().counters.dropped['e2e:bad-ciphertext'], 1, 'C counted a ciphertext that does not authenticate');
    await t.net.stopAll();
  });

  it('a destination with encryption off gets plaintext; one that requires it refuses plaintext', async () => {
    const off = await chain({}, { encryption: false });
    await drive(off.net.clock, off.a.send(off.c.id, `${MARKER} to a node that does not encrypt`, { port: 3 }), 5000, 'send');
    await advance(off.net.clock, 200);
    assert.equal(off.inbox.length, 1, 'delivered');
    assert.equal(off.a.status().e2e.plaintextSent, 1, 'A sent it in the clear, because C said it has no key');
    assert.ok(off.forwarded.some((f) => contains(f, marker)));
    await off.net.stopAll();

    const strict = await chain({ requireEncryption: true }, { encryption: false });
    await assert.rejects(drive(strict.net.clock, strict.a.send(strict.c.id, 'x', { port: 3 }), 5000, 'send'), (e: unknown) => isMeshError(e, 'ENCRYPTION_UNAVAILABLE'));
    await assert.rejects(drive(strict.net.clock, strict.a.request(strict.c.id, 'x', { port: 5 }), 5000, 'request'), (e: unknown) => isMeshError(e, 'ENCRYPTION_UNAVAILABLE'));
    assert.equal(strict.forwarded.filter((f) => contains(f, utf8('x')) && packets([f], PacketKind.Data).length > 0).length, 0);
    await strict.net.stopAll();

    const refusing = await chain({ encryption: false }, { requireEncryption: true });
    await drive(refusing.net.clock, refusing.a.send(refusing.c.id, 'in the clear', { port: 3 }), 5000, 'send');
    await advance(refusing.net.clock, 200);
    assert.equal(refusing.inbox.length, 0, 'not delivered');
    assert.equal(refusing.c.status().counters.dropped['e2e:plaintext-refused'], 1);
    await refusing.net.stopAll();
  });

  it('a destination that comes back with a new key tells the sender, and a reliable send gets through', async () => {
    const t = await chain();
    await drive(t.net.clock, t.a.send(t.c.id, 'before the restart', { port: 3 }), 5000, 'warm-up');
    await advance(t.net.clock, 100);
    // C restarts with the same identity and a fresh X25519 key (say, its key store was lost).
    await drive(t.net.clock, t.c.stop(), 1000, 'stop c');
    await driveUntil(t.net.clock, () => t.b.linkIds().length === 1, 5000, 'B saw C go');
    const c2 = (await t.net.addNode('e2e/c-again', { identity: t.c.identity, addrs: [], bootstrap: ['mem:e2e-b'] })).node;
    const inbox: string[] = [];
    c2.onMessage((m) => inbox.push(String(m.data)));
    await drive(t.net.clock, c2.start(), 1000, 'start c again');
    await driveUntil(t.net.clock, () => t.b.linkIds().length === 2, 5000, 'C back at B');
    assert.notEqual(c2.status().e2e.publicKey, t.c.status().e2e.publicKey, 'a new key');
    await drive(t.net.clock, t.a.send(c2.id, `${MARKER} after the restart`, { port: 3, reliable: true, deadlineMs: 5000 }), 6000, 'reliable send');
    assert.deepEqual(inbox, [`${MARKER} after the restart`]);
    assert.equal(c2.status().counters.dropped['e2e:stale-key'], 1, 'the copy sealed to the old key was refused, once');
    assert.equal(t.forwarded.filter((f) => contains(f, marker)).length, 0, 'and nothing went in the clear');
    await drive(t.net.clock, c2.stop(), 1000, 'stop c again');
    await t.net.stopAll();
  });

  it('an unanswered key request is asked again after 400 ms, then twice as long each time up to 3.2 s', async () => {
    const t = await chain();
    const seenAt: number[] = [];
    t.setTap((frame) => {
      const d = decodeFrame(frame);
      // B's own answer with C's card (key-cards.ts) is swallowed too: nobody answers.
      if (d.ok && d.value.type === FrameType.Packet && d.value.kind === PacketKind.KeyCard) return null;
      if (!(d.ok && d.value.type === FrameType.Packet && d.value.kind === PacketKind.KeyRequest)) return frame;
      seenAt.push(t.net.clock.now());
      return null;
    });
    await assert.rejects(drive(t.net.clock, t.a.request(t.c.id, MARKER, { port: 5, timeoutMs: 10_000 }), 20_000, 'request'), (e: unknown) => isMeshError(e, 'TIMEOUT'));
    const gaps = seenAt.slice(1).map((at, i) => at - seenAt[i]!);
    // A fixed 400 ms would be 24 asks in 10 s: under load, each answer later than that multiplied the work.
    const expected = [400, 800, 1600, 3200, 3200];
    assert.equal(gaps.length, expected.length, `asks at ${seenAt.map((x) => x - seenAt[0]!).join(', ')} ms`);
    gaps.forEach((g, i) => assert.ok(Math.abs(g - expected[i]!) <= 50, `gap ${i}: ${g} ms, expected ${expected[i]}`));
    await t.net.stopAll();
  });

  it('fastPair (what a host tab is granted: docs/DATA-PLANE.md) follows the key state, and every change is told as a peer-key event', async () => {
    const t = await chain();
    const told: string[] = [];
    t.a.events.on('peer-key', (e) => told.push(e.id));
    assert.equal(t.a.fastPair(t.c.id), undefined, 'no key exchanged yet: nothing to grant');
    await drive(t.net.clock, t.a.send(t.c.id, 'warm-up', { port: 3 }), 5000, 'warm-up');
    await advance(t.net.clock, 100);
    const before = t.a.fastPair(t.c.id);
    assert.ok(before, 'C answered our key request: it holds our key, so a tab may seal to it');
    assert.ok(t.c.fastPair(t.a.id), 'C opened a sealed packet of ours: it may seal to us too');
    assert.ok(told.includes(t.c.id), 'told when C came to hold our key');
    // C comes back with a new X25519 key: the old pair must go, and a new one come only once C holds our key again.
    await drive(t.net.clock, t.c.stop(), 1000, 'stop c');
    await driveUntil(t.net.clock, () => t.b.linkIds().length === 1, 5000, 'B saw C go');
    const c2 = (await t.net.addNode('e2e/c-rekeyed', { identity: t.c.identity, addrs: [], bootstrap: ['mem:e2e-b'] })).node;
    c2.onMessage(() => undefined);
    await drive(t.net.clock, c2.start(), 1000, 'start c again');
    await driveUntil(t.net.clock, () => t.b.linkIds().length === 2, 5000, 'C back at B');
    const toldBefore = told.length;
    await drive(t.net.clock, t.a.send(c2.id, 'after the restart', { port: 3, reliable: true, deadlineMs: 5000 }), 6000, 'reliable send');
    await advance(t.net.clock, 100);
    assert.ok(told.slice(toldBefore).includes(t.c.id), 'told when the key changed');
    assert.equal(t.a.fastPair(t.c.id), undefined, 'the old pair is gone, and C is not yet known to hold our key (its ack is not sealed)');
    // C seals something to A: A now knows C holds its key, under C's new key.
    t.a.onMessage(() => undefined);
    await drive(t.net.clock, c2.send(t.a.id, 'sealed to A', { port: 3 }), 5000, 'C sends to A');
    await advance(t.net.clock, 100);
    const after = t.a.fastPair(t.c.id);
    assert.ok(after, 'granted again once C is known to hold our key');
    assert.ok(told.slice(toldBefore).filter((id) => id === t.c.id).length >= 2, 'told again then');
    assert.notDeepEqual(after.peerPublic, before.peerPublic, "C's new key, never the old one");
    await drive(t.net.clock, c2.stop(), 1000, 'stop c again');
    await t.net.stopAll();
  });

  it('a key request that nobody answers fails the send with TIMEOUT, never falls back to plaintext', async () => {
    const t = await chain();
    // B swallows key requests, and answers none with C's card (key-cards.ts): a downgrade attempt.
    t.setTap((frame) => {
      const d = decodeFrame(frame);
      return d.ok && d.value.type === FrameType.Packet && (d.value.kind === PacketKind.KeyRequest || d.value.kind === PacketKind.KeyCard) ? null : frame;
    });
    await assert.rejects(drive(t.net.clock, t.a.send(t.c.id, MARKER, { port: 3 }), 10_000, 'send'), (e: unknown) => isMeshError(e, 'TIMEOUT'));
    await assert.rejects(drive(t.net.clock, t.a.request(t.c.id, MARKER, { port: 5, timeoutMs: 1000 }), 10_000, 'request'), (e: unknown) => isMeshError(e, 'TIMEOUT'));
    assert.equal(t.inbox.length, 0);
    assert.equal(t.forwarded.filter((f) => contains(f, marker)).length, 0, 'nothing went out in the clear');
    await t.net.stopAll();
  });
});
