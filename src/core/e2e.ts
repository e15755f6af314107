/**
 * End-to-end encryption of application payloads (datagrams, reliable datagrams, requests and
 * replies): forwarding nodes carry them but can read none of them.
 *
 * Key binding: a node's X25519 public key is only ever learned from a packet that the node
 * signed with its Ed25519 identity (a KeyRequest, a KeyReply, or a signed sealed payload, which
 * names its sender's key), and a packet's source id is the hash of the key that signed it. So a
 * key learned from a packet of node X is X's key: no forwarder can substitute its own.
 *
 * No signature where the AEAD proves the source: once a sender knows that the destination holds
 * its key (the destination answered its KeyRequest, or sealed something to it), it sends sealed
 * payloads unsigned. Only the two ends can derive their pair key, so a payload that opens under
 * it, with source, destination, packet id and kind in the associated data, comes from the source
 * and was not altered. The destination opens an unsigned packet only with the key it already
 * holds for that source (the key named in the packet must be that one), and otherwise drops it
 * and tells the source its key, which makes the source sign again (after a restart, or once the
 * destination's cache forgot it).
 *
 * Exchange: the first time A sends to B, A routes a KeyRequest to B carrying A's key; B caches
 * it and answers with its own. From then on both seal to each other without asking. Every
 * sealed payload names its sender's key too, so a receiver never needs to ask before it can
 * open, and answers (replies, acks) go back sealed at once.
 *
 * Key cards (key-cards.ts): the last node before B, when it holds B's card (B's X25519 key that
 * B signed), answers A's KeyRequest with it and passes the request on. A takes the card only if
 * B's signature verifies and its key hashes to the id A asked, so no forwarder can forge one;
 * A then seals to B at once, its packets still signed and naming A's key (B may not hold it
 * yet), and B's own KeyReply, when it comes, only says that B now holds A's key.
 *
 * "Where both ends support it": a node with encryption off answers a KeyRequest with an empty
 * key, signed like any packet; only that answer, which no forwarder can forge, makes a sender
 * fall back to plaintext (never a lost or dropped KeyRequest: that is a TIMEOUT). With
 * `requireEncryption` a node refuses to send or accept plaintext application payloads.
 */
import { bytesEqual, toHex } from './bytes.js';
import type { PacketFrame } from './codec.js';
import { BoundedMap } from './dedupe.js';
import { associatedData, derivePairKey, E2E_KEY_BYTES, exportE2ePublicKey, generateE2eKeys, open, seal } from './e2e-crypto.js';
import { MeshError } from './errors.js';
import { idFromPublicKey, shortId, type NodeId } from './id.js';
import { cardOwner } from './key-cards.js';
import { PacketKind } from './packets.js';
import { looksSealed, Payload, RECIPIENT_TAG_BYTES, type KeyCardPayload } from './payloads.js';
import { PendingRequests } from './requests.js';
import type { CryptoKeyPairLike } from './webcrypto.js';

/** Peers whose keys (and derived AES keys) are kept: enough for every peer a busy node talks to. */
const PEER_CACHE = 4096;
/** How long a node that said "no key" is believed before it is asked again. */
const PLAINTEXT_PEER_MS = 10 * 60_000;
/** At most one unasked key correction per peer in this interval. */
const NOTICE_INTERVAL_MS = 1_000;

/**
 * When an unanswered key request is sent again: after 400 ms, then twice as long each time, up
 * to 3.2 s. A fixed interval turned a busy moment into a storm: with 150 nodes asking at once,
 * each answer took longer than 400 ms, so every node asked four or five times, each ask cost a
 * signature and a signed answer, and that work delayed the answers further (681 answers counted
 * late for 150 requests, one request in five timed out).
 */
const KEY_REQUEST_RESEND_MS = 400;
const KEY_REQUEST_RESEND_MAX_MS = 3_200;
/**
 * Unreachable answers (unreachable.ts) to one ask that fail it: the first may come from a node
 * whose link to the destination was between two handshakes (a crossing replaced it), so the
 * resend 400 ms later decides. A node that is gone fails the ask in about 0.4 s, not its wait.
 */
const UNREACHABLE_ANSWERS_TO_FAIL = 2;

import type { E2eOptions, E2eStatus, Opened, PeerKey, PeerPair, Sealing } from './e2e-types.js';
export type { E2eOptions, E2eStatus, Opened, PeerPair, Sealing } from './e2e-types.js';

export class E2e {
  private readonly own: Promise<{ keys: CryptoKeyPairLike; publicKey: Uint8Array }> | undefined;
  private ownPublic?: Uint8Array;
  private readonly peers = new BoundedMap<string, PeerKey>(PEER_CACHE);
  private readonly plaintextPeers = new BoundedMap<string, number>(PEER_CACHE);
  private readonly asking = new Map<string, Promise<Sealing>>();
  /** Unreachable answers heard for each destination being asked (hex), while its ask lasts. */
  private readonly unreachableSaid = new Map<string, number>();
  private readonly notices = new BoundedMap<string, number>(PEER_CACHE);
  /** Peers known to hold our current key: sealed payloads to them go unsigned. */
  private readonly holdOurKey = new BoundedMap<string, true>(PEER_CACHE);
  /** Peers whose card answered our key request, by request id: their own KeyReply to it is expected, not late. */
  private readonly carded = new BoundedMap<string, number>(PEER_CACHE);
  private readonly requests: PendingRequests;
  private readonly stats = { sealed: 0, opened: 0, plaintextSent: 0, keyRequests: 0, unsignedSent: 0, unsignedOpened: 0, directSent: 0, directOpened: 0, keyCards: 0, cardsGiven: 0 };
  private on: boolean;

  constructor(private readonly o: E2eOptions) {
    if (o.require && !o.enabled) throw MeshError.invalid('requireEncryption needs encryption on');
    this.on = o.enabled;
    if (o.enabled) {
      this.own = (async () => {
        const keys = o.keys ?? (await generateE2eKeys());
        const publicKey = await exportE2ePublicKey(keys);
        this.ownPublic = publicKey;
        return { keys, publicKey };
      })();
      this.own.catch(() => undefined);
    }
    this.requests = new PendingRequests(o.clock, (fn) => void o.run(fn));
  }

  get enabled(): boolean {
    return this.on;
  }

  /** Our X25519 public key, once ready, when we encrypt (key-cards.ts signs it into our card). */
  get publicKey(): Uint8Array | undefined {
    return this.on ? this.ownPublic : undefined;
  }

  /**
   * Settles once the key pair is ready. A runtime without X25519 turns encryption off (peers
   * then get plaintext, as from any node that does not encrypt), unless it is required.
   */
  async ready(): Promise<void> {
    try {
      await this.own;
    } catch (err) {
      if (this.o.require) throw new MeshError('ENCRYPTION_UNAVAILABLE', `no X25519 key pair: ${(err as Error).message}`, { cause: err });
      this.on = false;
    }
  }

  failAll(err: Error): void {
    this.requests.failAll(err);
  }

  /**
   * A node dropped our key request to `dst` (hex) sent at `sentAt` as `no-route` (unreachable.ts):
   * at the second such answer to one ask, what waits for the key fails.
   */
  unreachable(dst: string, sentAt: number, err: Error): void {
    if (!this.asking.has(dst)) return;
    const said = (this.unreachableSaid.get(dst) ?? 0) + 1;
    this.unreachableSaid.set(dst, said);
    if (said >= UNREACHABLE_ANSWERS_TO_FAIL) this.requests.failTo(dst, sentAt, err);
  }

  /**
   * How to send to `dst`: sealed when both ends encrypt. Asks `dst` for its key the first time,
   * waiting at most `waitMs`. Call outside the actor: the answer arrives through it.
   * `inKind` answers a plaintext packet in plaintext without asking (it came from a node that
   * has no key, or to which we said we have none).
   */
  async sealingFor(dst: NodeId, waitMs: number, inKind: 'plaintext' | undefined = undefined): Promise<Sealing> {
    if (!this.on) return { plaintext: true };
    const text = toHex(dst);
    if (bytesEqual(dst, this.o.id)) return { plaintext: true }; // delivered locally, never on a link
    const known = this.peers.get(text);
    if (known) return { peer: known };
    if (inKind === 'plaintext' && !this.o.require) return { plaintext: true };
    if (this.isPlaintextPeer(text)) return this.plaintextOr(text);
    let asking = this.asking.get(text);
    if (!asking) {
      asking = this.ask(dst, waitMs).finally(() => {
        this.asking.delete(text);
        this.unreachableSaid.delete(text);
      });
      this.asking.set(text, asking);
    }
    return asking;
  }

  /** Counts an application packet sent in the clear inside a channel bound to its destination (services.ts). */
  sentDirect(): void {
    this.stats.directSent++;
  }

  /**
   * Seals `plaintext` for `dst` as packet `id` (call inside the actor, just before the packet is
   * made). `unsigned`: the packet may go without a signature, since `dst` holds our key.
   */
  async seal(src: NodeId, dst: NodeId, kind: number, id: number, plaintext: Uint8Array, how: Sealing): Promise<{ payload: Uint8Array; unsigned: boolean }> {
    if ('plaintext' in how) {
      if (!bytesEqual(dst, this.o.id)) this.stats.plaintextSent++;
      return { payload: plaintext, unsigned: false };
    }
    const mine = await this.own!;
    const aad = associatedData(src, dst, kind, id, mine.publicKey, how.peer.publicKey);
    const { nonce, ciphertext } = await seal(await how.peer.aes, plaintext, aad);
    this.stats.sealed++;
    const unsigned = this.holdOurKey.get(toHex(dst)) === true;
    if (unsigned) this.stats.unsignedSent++;
    return { payload: Payload.sealed.encode({ senderKey: mine.publicKey, recipientTag: how.peer.publicKey.subarray(0, RECIPIENT_TAG_BYTES), nonce, ciphertext }), unsigned };
  }

  /**
   * The plaintext payload of a packet of a sealable kind (verified, or unsigned), or a reason to
   * drop it. `remote` is false for a packet this node sent itself (never sealed, never refused).
   */
  async open(p: PacketFrame, remote: boolean, unsigned = false, direct = false): Promise<Opened | string> {
    if (!looksSealed(p.payload)) {
      // From the peer at the other end of a channel bound to it (session.ts): DTLS kept it
      // confidential and proves its source, so it counts as sealed (a request is answered sealed).
      if (unsigned && direct && bytesEqual(p.dst, this.o.id)) {
        this.stats.directOpened++;
        return { payload: p.payload, sealed: true };
      }
      if (unsigned) return 'e2e:unsigned-plaintext';
      if (remote && this.o.require) return 'e2e:plaintext-refused';
      return { payload: p.payload, sealed: false };
    }
    if (!this.on) return 'e2e:off';
    const env = Payload.sealed.decode(p.payload);
    if (!env) return 'e2e:bad-envelope';
    const mine = await this.own!;
    if (!bytesEqual(env.recipientTag, mine.publicKey.subarray(0, RECIPIENT_TAG_BYTES))) {
      // Sealed to a key we no longer have (we restarted with a new one): tell the sender ours.
      this.notice(p.src);
      return 'e2e:stale-key';
    }
    const src = toHex(p.src);
    let peer: PeerKey;
    if (unsigned) {
      // Only the key a signed packet of this source taught us: no signature binds the one named here.
      const known = this.peers.get(src);
      if (!known || !bytesEqual(known.publicKey, env.senderKey)) {
        this.notice(p.src);
        return 'e2e:unsigned-unknown-key';
      }
      peer = known;
    } else {
      peer = this.learn(p.src, env.senderKey);
    }
    // A key that yields no pair key (a low-order point) is the sender's own doing: drop its packet.
    const aes = await peer.aes.catch(() => undefined);
    if (!aes) return 'e2e:bad-key';
    const plain = await open(aes, env.nonce, env.ciphertext, associatedData(p.src, p.dst, p.kind, p.id, env.senderKey, mine.publicKey));
    if (!plain) return 'e2e:bad-ciphertext';
    this.stats.opened++;
    if (unsigned) this.stats.unsignedOpened++;
    // It sealed to our current key, so it holds that key: from now on our packets to it go unsigned.
    this.holds(src, true);
    return { payload: plain, sealed: true };
  }

  /** A KeyRequest (inside the actor): remember the asker's key, answer with ours. */
  async onKeyRequest(p: PacketFrame): Promise<void> {
    const r = Payload.keyRequest.decode(p.payload);
    if (!r) return this.o.drop('bad-payload');
    if (this.on && r.key.length === E2E_KEY_BYTES) this.learn(p.src, r.key);
    const key = this.on ? (await this.own!).publicKey : new Uint8Array(0);
    await this.o.originate(p.src, PacketKind.KeyReply, Payload.keyReply.encode({ requestId: r.requestId, key })).catch(() => this.o.drop('key-reply-unroutable'));
  }

  /** A KeyReply (inside the actor): the answer to our KeyRequest, or an unasked correction. */
  onKeyReply(p: PacketFrame): void {
    const r = Payload.keyReply.decode(p.payload);
    if (!r) return this.o.drop('bad-payload');
    const src = toHex(p.src);
    if (r.key.length === E2E_KEY_BYTES) {
      this.plaintextPeers.take(src);
      if (this.on) this.learn(p.src, r.key);
    } else {
      if (this.peers.take(src)) this.o.keyState?.(src);
      this.plaintextPeers.set(src, this.o.clock.now() + PLAINTEXT_PEER_MS);
    }
    if (r.requestId === 0) {
      // An unasked correction: it could not open something of ours, so it may not hold our key.
      this.holds(src, false);
      return;
    }
    // Its answer to a request that its card answered first is expected: it says it holds our key now.
    if (!this.requests.answer(src, r.requestId, true, r.key) && this.carded.take(src) !== r.requestId) return this.o.drop('late-key-reply');
    // It answered our KeyRequest, which carried our key: it holds it now.
    if (r.key.length === E2E_KEY_BYTES) this.holds(src, true);
  }

  /**
   * A KeyCard (inside the actor): a forwarder answered our KeyRequest with the destination's
   * card. Its key is filed as the destination's, but the destination is not taken to hold ours
   * (it may not have our KeyRequest yet): our packets to it stay signed until its KeyReply.
   */
  async onKeyCard(p: PacketFrame): Promise<void> {
    const c = Payload.keyCard.decode(p.payload);
    if (!c) return this.o.drop('bad-payload');
    return this.takeCard(c);
  }

  /** A card answering our KeyRequest `c.requestId`: a forwarder's (onKeyCard), or the one our link to its owner gave (ask). */
  private async takeCard(c: KeyCardPayload): Promise<void> {
    const asked = this.requests.peerOf(c.requestId);
    if (!this.on || asked === undefined) return this.o.drop('key-card:unasked');
    if (asked !== toHex(idFromPublicKey(c.publicKey))) return this.o.drop('key-card:wrong-id');
    const owner = await cardOwner(c);
    if (!owner) return this.o.drop('key-card:bad-signature');
    this.learn(owner, c.key);
    if (!this.requests.answer(asked, c.requestId, true, c.key)) return; // its own KeyReply came first
    this.carded.set(asked, c.requestId);
    this.stats.keyCards++;
  }

  /** We answered a KeyRequest we forwarded with its destination's card (key-cards.ts). */
  cardGiven(): void {
    this.stats.cardsGiven++;
  }

  /**
   * The pair key and both X25519 keys for `peer` (hex), when its key is known and it is known to
   * hold ours: exactly when our sealed packets to it go unsigned, so a host tab may send them too.
   */
  pairFor(peer: string): PeerPair | undefined {
    const known = this.peers.get(peer);
    if (!this.on || !known || !this.ownPublic || this.holdOurKey.get(peer) !== true) return undefined;
    return { aes: known.aes, peerPublic: known.publicKey, ownPublic: this.ownPublic };
  }

  private holds(peer: string, yes: boolean): void {
    const was = this.holdOurKey.get(peer) === true;
    if (yes) this.holdOurKey.set(peer, true);
    else this.holdOurKey.take(peer);
    if (was !== yes) this.o.keyState?.(peer);
  }

  status(): E2eStatus {
    return {
      enabled: this.on,
      required: this.o.require,
      publicKey: this.ownPublic ? toHex(this.ownPublic) : '',
      ...this.stats,
      peersCached: this.peers.size,
    };
  }

  private async ask(dst: NodeId, waitMs: number): Promise<Sealing> {
    const mine = await this.own!;
    const text = toHex(dst);
    this.stats.keyRequests++;
    const reply = await this.o.run(async () => {
      const { requestId, reply } = this.requests.open(text, waitMs, `encryption key request to ${shortId(text)}`);
      const payload = Payload.keyRequest.encode({ requestId, key: mine.publicKey });
      await this.o.originate(dst, PacketKind.KeyRequest, payload).catch((err) => this.requests.fail(requestId, err as Error));
      // Linked to it (not over a bound channel, which needs no key): the card its proof gave
      // answers at once, checked as a forwarder's would be (the proof's signature does not cover it).
      const card = this.o.cardOf?.(dst);
      if (card) void this.o.run(() => this.takeCard({ requestId, ...card }));
      // A lost request, or a lost reply, must not fail every send waiting on it: ask again
      // until the answer comes or the wait ends (a late second answer is dropped, counted).
      let settled = false;
      void reply.then(() => (settled = true), () => (settled = true));
      const again = (afterMs: number): void => {
        if (settled) return;
        this.o.clock.setTimeout(() => {
          if (settled) return;
          void this.o.run(() => this.o.originate(dst, PacketKind.KeyRequest, payload).catch(() => undefined));
          again(Math.min(afterMs * 2, KEY_REQUEST_RESEND_MAX_MS));
        }, afterMs);
      };
      again(KEY_REQUEST_RESEND_MS);
      return { reply };
    });
    await reply.reply;
    // onKeyReply filed the answer under one of the two maps.
    const peer = this.peers.get(text);
    return peer ? { peer } : this.plaintextOr(text);
  }

  private plaintextOr(text: string): Sealing {
    if (this.o.require) throw new MeshError('ENCRYPTION_UNAVAILABLE', `${shortId(text)} does not encrypt, and this node requires encryption`);
    return { plaintext: true };
  }

  private isPlaintextPeer(text: string): boolean {
    const until = this.plaintextPeers.get(text);
    if (until === undefined) return false;
    if (until > this.o.clock.now()) return true;
    this.plaintextPeers.take(text);
    return false;
  }

  /** Files `key` as `id`'s X25519 key (it came in a packet `id` signed), deriving the pair key once. */
  private learn(id: NodeId, key: Uint8Array): PeerKey {
    const text = toHex(id);
    const known = this.peers.get(text);
    if (known && bytesEqual(known.publicKey, key)) return known;
    // A new key: the peer restarted, and may have forgotten ours.
    if (known) this.holds(text, false);
    const publicKey = key.slice();
    const aes = this.own!.then((mine) => derivePairKey({ id: this.o.id, keys: mine.keys, publicKey: mine.publicKey }, { id, publicKey }));
    aes.catch(() => undefined);
    const peer = { publicKey, aes };
    this.peers.set(text, peer);
    this.plaintextPeers.take(text);
    if (known) this.o.keyState?.(text);
    return peer;
  }

  private notice(to: NodeId): void {
    const text = toHex(to);
    const now = this.o.clock.now();
    const last = this.notices.get(text);
    if (last !== undefined && now - last < NOTICE_INTERVAL_MS) return;
    this.notices.set(text, now);
    void this.own!.then((mine) =>
      this.o.run(() => this.o.originate(to, PacketKind.KeyReply, Payload.keyReply.encode({ requestId: 0, key: mine.publicKey })).catch(() => undefined)),
    );
  }
}
