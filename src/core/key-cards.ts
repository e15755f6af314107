/**
 * Key cards: the first sealed message without a round trip to its destination.
 *
 * A node's card is its X25519 key signed by its Ed25519 identity under its own label (so no
 * other signature of the node can pass for a card), bound to no destination. A node gives its
 * card to each direct peer with its link proof (session.ts; only to peers of wire minor 2, older
 * ones get the bare proof), and keeps the cards of its direct peers on their sessions: bounded by
 * its links, gone with the link.
 *
 * When A first sends to B it routes a KeyRequest to B (e2e.ts). The last node before B, if it
 * holds B's card, answers A at once with the card (a KeyCard packet, which retraces the
 * request's path like a KeyReply) and still passes the request on, since B must learn A's key.
 * A takes the card only if B's signature verifies and the card's Ed25519 key hashes to the id A
 * asked: no forwarder can forge one. A then seals to B at once; its packets stay signed and name
 * A's key until B is known to hold it (B's own KeyReply, which arrives next, says so), so B can
 * open them before or after the KeyRequest. Over the server in the middle of two browsers this
 * replaces B's signed answer (B -> server -> A) with one hop back from the server.
 *
 * A card holds a key B had when the link came up. Should it be stale (a replayed card), A's
 * first packets are sealed to a key B no longer has: B drops them and tells A its current key
 * (e2e.ts `notice`), and B's KeyReply carries it too; a stale card costs what a forwarder that
 * drops packets costs, never confidentiality beyond what B's old key already allowed.
 */
import { encode } from 'cborg';
import { toHex } from './bytes.js';
import { BoundedMap } from './dedupe.js';
import type { KeyCard, PacketFrame } from './codec.js';
import type { E2e } from './e2e.js';
import { idFromPublicKey, type NodeId } from './id.js';
import { verifySignature, type Identity } from './identity.js';
import { PacketKind, verifyPacket } from './packets.js';
import { Payload, type KeyCardPayload } from './payloads.js';
import { TokenBucket } from './rate-limit.js';
import type { RoutingTable } from './routing-table.js';
import type { Session } from './session.js';

/** What a card's signature covers: its label, the owner's Ed25519 key, its X25519 key. */
export function cardBytes(publicKey: Uint8Array, key: Uint8Array): Uint8Array {
  return encode(['meshwork/1 key card', publicKey, key]);
}

/** The node whose card this is, when its signature verifies (the id is its key's hash). */
export async function cardOwner(c: Pick<KeyCardPayload, 'publicKey' | 'key' | 'signature'>): Promise<NodeId | undefined> {
  return (await verifySignature(c.publicKey, c.signature, cardBytes(c.publicKey, c.key))) ? idFromPublicKey(c.publicKey) : undefined;
}

/**
 * Card answers a forwarder gives one asking node: each costs it a verification and a signature,
 * so a node sending KeyRequests as fast as the per-source packet limit allows (5 000 a second)
 * would otherwise buy a core's worth of our crypto for a fifth of that of its own. A node asks
 * a key once per new peer (and again after 0.4 s, 0.8 s, ... while unanswered): 20 a second,
 * 40 at once, is far above that. Past it the request still goes on, and its destination answers.
 */
const CARD_ANSWERS_PER_SEC = 20;
const CARD_ANSWERS_BURST = 40;
/** Asking nodes whose card-answer budget is kept (the oldest forgotten first). */
const CARD_ASKERS_TRACKED = 1_024;

export interface KeyCardsHost {
  identity: Identity;
  /** ms, for the per-asker budget. */
  now(): number;
  table: RoutingTable;
  e2e: E2e;
  /** Signs and routes a packet of ours (call inside the actor). */
  originate(dst: NodeId, kind: number, payload: Uint8Array): Promise<void>;
  drop(reason: string): void;
}

export class KeyCards {
  /** Our card, once signed, for the X25519 key it covers. */
  private own?: { key: Uint8Array; card: Promise<KeyCard | undefined> };
  /** What each asking node (hex id) may still get answered from us. */
  private readonly budgets = new BoundedMap<string, TokenBucket>(CARD_ASKERS_TRACKED);

  constructor(private readonly host: KeyCardsHost) {}

  /**
   * Our card (undefined when we do not encrypt). Signed once; the node asks at its start, so
   * the first link's proof waits for nothing.
   */
  mine(): Promise<KeyCard | undefined> {
    const key = this.host.e2e.publicKey;
    if (!key) return Promise.resolve(undefined);
    if (this.own?.key !== key) {
      const id = this.host.identity;
      const card = id.sign(cardBytes(id.publicKey, key)).then((signature) => ({ key, signature }), () => undefined);
      this.own = { key, card };
    }
    return this.own.card;
  }

  /** The card of `peer`, when we link to it and its proof gave one (e2e.ts asks first here). */
  of(peer: NodeId): Pick<KeyCardPayload, 'publicKey' | 'key' | 'signature'> | undefined {
    const s = this.host.table.get(toHex(peer));
    return s?.card && s.peer ? { publicKey: s.peer.publicKey, key: s.card.key, signature: s.card.signature } : undefined;
  }

  /**
   * A KeyRequest we just passed on to `next`, our direct link to its destination: when we hold
   * that peer's card, the asker gets it from us now (call inside the actor).
   */
  async answer(p: PacketFrame, next: Session): Promise<void> {
    const card = next.card;
    if (!card || next.peer?.idText !== toHex(p.dst)) return;
    const r = Payload.keyRequest.decode(p.payload);
    if (!r || r.requestId === 0) return;
    if (!this.withinBudget(toHex(p.src))) return this.host.drop('key-card:rate');
    // Only a request its source signed: else anyone could make us sign answers to forged sources.
    if (await verifyPacket(p)) return;
    const payload = Payload.keyCard.encode({ requestId: r.requestId, publicKey: next.peer.publicKey, key: card.key, signature: card.signature });
    await this.host.originate(p.src, PacketKind.KeyCard, payload).then(
      () => this.host.e2e.cardGiven(),
      () => this.host.drop('key-card-unroutable'),
    );
  }

  /**
   * Takes one answer from `asker`'s budget. Checked before the signature, so a flood under a
   * forged source costs us no crypto; at worst it spends that source's budget, whose requests
   * then wait for their destination's own answer, as without cards.
   */
  private withinBudget(asker: string): boolean {
    const now = this.host.now();
    let b = this.budgets.get(asker);
    if (!b) {
      b = new TokenBucket(CARD_ANSWERS_PER_SEC, CARD_ANSWERS_BURST, now);
      this.budgets.set(asker, b);
    }
    return b.take(now);
  }
}
