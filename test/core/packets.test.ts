/**
 * Routed packets: the source signs everything but the hop limit, the source id must be the
 * hash of the signing key, and the destination's check refuses any change to a signed field.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { decodeFrame, encodeFrame, type PacketFrame } from '../../src/core/codec.js';
import { Identity } from '../../src/core/identity.js';
import { createPacket, isUnsigned, PacketKind, signedBytes, verifyPacket } from '../../src/core/packets.js';
import { seededIdentity } from '../helpers/mesh.js';

describe('packet signatures', () => {
  let alice: Identity;
  let mallory: Identity;
  let bob: Identity;
  let packet: PacketFrame;

  before(async () => {
    alice = await seededIdentity('alice');
    mallory = await seededIdentity('mallory');
    bob = await seededIdentity('bob');
    packet = await createPacket(alice, bob.id, PacketKind.Data, Uint8Array.of(1, 2, 3, 4), 4242, 64);
  });

  it('a packet as created verifies, and names its source and key', async () => {
    assert.equal(await verifyPacket(packet), undefined);
    assert.deepEqual(packet.src, alice.id);
    assert.deepEqual(packet.publicKey, alice.publicKey);
    assert.deepEqual(packet.dst, bob.id);
    assert.equal(packet.hops, 64);
  });

  it('still verifies after a trip through the codec', async () => {
    const decoded = decodeFrame(encodeFrame(packet));
    assert.ok(decoded.ok && decoded.value.type === packet.type);
    assert.equal(await verifyPacket(decoded.value as PacketFrame), undefined);
  });

  it('a changed hop limit still verifies: forwarders may lower it', async () => {
    for (const hops of [0, 1, 63, 255]) assert.equal(await verifyPacket({ ...packet, hops }), undefined, `hops ${hops}`);
  });

  it('a damaged signature is a bad signature', async () => {
    for (const at of [0, 31, 63]) {
      const signature = packet.signature.slice();
      signature[at]! ^= 0x01;
      assert.equal(await verifyPacket({ ...packet, signature }), 'bad-signature', `bit flipped in byte ${at}`);
    }
    assert.equal(await verifyPacket({ ...packet, signature: new Uint8Array(64) }), 'bad-signature', 'all zeros');
  });

  it('every signed field is covered: payload, destination, kind and id', async () => {
    const changed: [string, Partial<PacketFrame>][] = [
      ['payload', { payload: Uint8Array.of(1, 2, 3, 5) }],
      ['payload (longer)', { payload: Uint8Array.of(1, 2, 3, 4, 0) }],
      ['destination', { dst: mallory.id }],
      ['kind', { kind: PacketKind.Request }],
      ['id', { id: 4243 }],
    ];
    for (const [what, change] of changed) {
      assert.equal(await verifyPacket({ ...packet, ...change }), 'bad-signature', what);
    }
  });

  it('a source id that is not the hash of the key is a forged source', async () => {
    // Mallory signs a packet claiming to come from Alice: a valid signature, by the wrong key.
    const fields = { src: alice.id, dst: bob.id, id: 1, kind: PacketKind.Data, payload: Uint8Array.of(9) };
    const forged: PacketFrame = { ...packet, ...fields, publicKey: mallory.publicKey, signature: await mallory.sign(signedBytes(fields)) };
    assert.equal(await verifyPacket(forged), 'forged-source');
    // Swapping in Alice's key (so the id matches) leaves Mallory's signature, which fails.
    assert.equal(await verifyPacket({ ...forged, publicKey: alice.publicKey }), 'bad-signature');
    // Relabelling Alice's genuine packet as Mallory's is also caught.
    assert.equal(await verifyPacket({ ...packet, src: mallory.id }), 'forged-source');
  });

  it('the signed bytes depend on each signed field and not on the hop limit', () => {
    const base = signedBytes(packet);
    assert.deepEqual(signedBytes({ ...packet, hops: 1 } as PacketFrame), base);
    for (const change of [{ src: bob.id }, { dst: alice.id }, { id: 1 }, { kind: 9 }, { payload: new Uint8Array(0) }]) {
      assert.notDeepEqual(signedBytes({ ...packet, ...change }), base, JSON.stringify(Object.keys(change)));
    }
  });

  it('an unsigned packet carries neither key nor signature, survives the codec, and never verifies as signed', async () => {
    const unsigned = await createPacket(alice, bob.id, PacketKind.Data, Uint8Array.of(9), 7, 64, true);
    assert.equal(unsigned.publicKey.length, 0);
    assert.equal(unsigned.signature.length, 0);
    assert.ok(isUnsigned(unsigned));
    const wire = encodeFrame(unsigned);
    assert.ok(wire.length < encodeFrame(packet).length - 90, 'the key and the signature are off the wire');
    const decoded = decodeFrame(wire);
    assert.ok(decoded.ok && decoded.value.type === unsigned.type);
    assert.equal(await verifyPacket(decoded.value as PacketFrame), 'unsigned', 'only the AEAD at the destination can accept it');
  });

  it('a packet with a key but no signature, or a signature but no key, is malformed', () => {
    for (const half of [{ signature: new Uint8Array(0) }, { publicKey: new Uint8Array(0) }, { signature: new Uint8Array(63) }]) {
      const d = decodeFrame(encodeFrame({ ...packet, ...half }));
      assert.ok(!d.ok && d.reason === 'bad-packet', JSON.stringify(Object.keys(half)));
    }
  });
});
