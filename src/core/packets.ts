/**
 * Routed packets: created and signed by their source, forwarded hop by hop with only the hop
 * limit changing, verified by their destination. The signature covers everything except the
 * hop limit, and the source id must be the hash of the key that signed.
 *
 * One exception: a sealed application payload (SEALABLE_KINDS) to a node that already holds
 * the source's X25519 key travels unsigned, with an empty key and signature. AES-GCM under the
 * pair key, which only the two ends can derive, then proves the source, and its associated
 * data covers every field a relay must not change (source, destination, id, kind: e2e.ts).
 * The destination accepts an unsigned packet only when the sender key it names is the one it
 * already learned from a signed packet of that source; anything else is dropped. And an
 * application payload to the peer at the other end of a link whose handshake bound its DTLS
 * channel (session.ts) travels unsigned in the clear inside that channel, taken only from that
 * peer (e2e.ts, delivery.ts).
 */
import { encode } from 'cborg';
import { FrameType, type PacketFrame } from './codec.js';
import { keyMatchesId, verifySignature, type Identity } from './identity.js';
import type { NodeId } from './id.js';

export const PacketKind = {
  /** Datagram to (node, port). */
  Data: 1,
  Request: 2,
  Response: 3,
  /** Routed to the node closest to a target id, which answers with Found. */
  Lookup: 4,
  Found: 5,
  /** Hop-by-hop subscription toward a topic's rendezvous node. */
  Subscribe: 6,
  /** Publication routed to the topic's rendezvous node. */
  Publish: 7,
  /** A publication handed down the subscribers' tree, wrapped whole. */
  PublishDown: 8,
  /** WebRTC signalling (offer, answer, candidates) carried over the mesh. */
  Signal: 9,
  /** Asks the destination for its X25519 key (end-to-end encryption), carrying the sender's. */
  KeyRequest: 10,
  /** The answer to a KeyRequest, or an unasked correction when a sender used an old key. */
  KeyReply: 11,
  /** A datagram retried until acknowledged, delivered at most once. */
  ReliableData: 12,
  /** Acknowledges a ReliableData message by its message id. */
  Ack: 13,
  /** A segment of a stream (src/core/streams): sequenced, acknowledged and windowed end to end. */
  Stream: 14,
  /**
   * A forwarder's answer to a KeyRequest for its direct peer: that peer's key card, which its
   * own signature proves (key-cards.ts). The KeyRequest still goes on to the peer.
   */
  KeyCard: 15,
  /**
   * A node that dropped a signed Signal, Request or KeyRequest of ours as `no-route` says so
   * (unreachable.ts): what waited for the destination fails now, not at its timeout.
   */
  Unreachable: 16,
} as const;

/** Kinds whose payload carries application data and is sealed end to end. */
export const SEALABLE_KINDS: ReadonlySet<number> = new Set([PacketKind.Data, PacketKind.Request, PacketKind.Response, PacketKind.ReliableData, PacketKind.Stream]);

/** Kinds delivered to the node closest to `dst` rather than to `dst` exactly. */
export const ANYCAST_KINDS: ReadonlySet<number> = new Set([PacketKind.Lookup, PacketKind.Publish]);
/** Kinds every hop takes for itself (they build per-hop state). */
export const HOP_BY_HOP_KINDS: ReadonlySet<number> = new Set([PacketKind.Subscribe]);

export function signedBytes(p: Pick<PacketFrame, 'src' | 'dst' | 'id' | 'kind' | 'payload'>): Uint8Array {
  return encode(['meshwork/1 packet', p.src, p.dst, p.id, p.kind, p.payload]);
}

const NONE = new Uint8Array(0);

/** A packet from `identity`, signed unless `unsigned` (only for a sealed payload; see above). */
export async function createPacket(
  identity: Identity,
  dst: NodeId,
  kind: number,
  payload: Uint8Array,
  id: number,
  hops: number,
  unsigned = false,
): Promise<PacketFrame> {
  const fields = { src: identity.id, dst, id, kind, payload };
  if (unsigned) return { type: FrameType.Packet, ...fields, hops, publicKey: NONE, signature: NONE };
  const signature = await identity.sign(signedBytes(fields));
  return { type: FrameType.Packet, ...fields, hops, publicKey: identity.publicKey, signature };
}

/** Whether a packet travels without a signature (its AEAD proves its source). */
export function isUnsigned(p: Pick<PacketFrame, 'signature'>): boolean {
  return p.signature.length === 0;
}

/** Undefined when the packet is authentic, else the reason to drop it. An unsigned packet is 'unsigned' here: only e2e.ts can accept it. */
export async function verifyPacket(p: PacketFrame): Promise<string | undefined> {
  if (isUnsigned(p)) return 'unsigned';
  if (!keyMatchesId(p.publicKey, p.src)) return 'forged-source';
  if (!(await verifySignature(p.publicKey, p.signature, signedBytes(p)))) return 'bad-signature';
  return undefined;
}
