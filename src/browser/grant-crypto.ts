/**
 * AES-GCM on the data plane (fast-path.ts): our packets sealed to a granted peer and the peer's
 * sealed packets opened, with the grant's pair key and by e2e.ts's rules, so the node opens what
 * the tab seals and the tab what the node would. A bound link needs none of it (its packets go
 * in the clear inside DTLS); this is for grants whose channel is not bound.
 */
import { bytesEqual } from '../core/bytes.js';
import { associatedData, open, seal } from '../core/e2e-crypto.js';
import { RECIPIENT_TAG_BYTES } from '../core/payloads.js';
import { type PacketHead, type SealedPacket, writeSealedPacket } from '../core/sealed-frame.js';
import { CryptoSlots } from './crypto-slots.js';
import type { Grant } from './tab-grant.js';

type PairKey = NonNullable<Grant['sealing']>;

/**
 * AES-GCM calls in flight at once, per direction (see crypto-slots.ts): seals and opens have a
 * bound each, so a burst of sends never holds up opening what arrives, nor the other way round.
 */
const CRYPTO_SLOTS = 4;
/** An opened frame the tab cannot take: it goes to the node whole. */
export const HAND_ON = Symbol('hand on');

export class GrantCrypto {
  private readonly sealSlots = new CryptoSlots(CRYPTO_SLOTS);
  private readonly openSlots = new CryptoSlots(CRYPTO_SLOTS);

  /** Our packet to the peer, sealed as soon as a slot is free: the frame's bytes. */
  seal(k: PairKey, head: PacketHead, plaintext: Uint8Array): Promise<Uint8Array> {
    const aad = associatedData(head.src, head.dst, head.kind, head.id, k.ownPublic, k.peerPublic);
    // One buffer, one copy of the ciphertext (sealed-frame.ts): the bytes encodeFrame would write.
    const frame = this.sealSlots.run(() => seal(k.aes, plaintext, aad)).then(({ nonce, ciphertext }) =>
      writeSealedPacket({ ...head, senderKey: k.ownPublic, recipientTag: k.peerPublic.subarray(0, RECIPIENT_TAG_BYTES), nonce, ciphertext }),
    );
    frame.catch(() => undefined);
    return frame;
  }

  /** The plaintext; HAND_ON for the node to deal with; or the reason to drop it. */
  async open(k: PairKey, p: SealedPacket): Promise<Uint8Array | typeof HAND_ON | string> {
    // Sealed to another key of ours, or under a key of the peer's the grant does not name: the
    // node knows what to do (tell the peer our key, learn its new one).
    if (!bytesEqual(p.recipientTag, k.ownPublic.subarray(0, RECIPIENT_TAG_BYTES)) || !bytesEqual(p.senderKey, k.peerPublic)) return HAND_ON;
    const aad = associatedData(p.src, p.dst, p.kind, p.id, p.senderKey, k.ownPublic);
    const plain = await this.openSlots.run(() => open(k.aes, p.nonce, p.ciphertext, aad));
    return plain ?? 'fast:bad-ciphertext';
  }
}
