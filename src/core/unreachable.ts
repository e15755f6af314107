/**
 * Unreachable answers: what waits for a node that no longer exists fails within a round trip.
 *
 * A packet for a node that left goes, by greedy routing, to the node closest to its id, which
 * has no closer link and drops it (`no-route`, forwarding.ts). Its source used to hear nothing:
 * a WebRTC dial held its dial slot until its 15 s timeout (its offer went nowhere:
 * src/browser/broker.ts), a request waited for its timeout, a key exchange for the wait of what
 * needed the key. In the network lab a browser that kept dialling the departed nodes of earlier
 * trials took 48-64 s to get its links back after a neighbour's restart (docs/BENCHMARKS.md).
 *
 * So the node that drops a Signal, a Request or a KeyRequest as `no-route` tells its source, in
 * an Unreachable packet naming the dropped packet (destination, id, kind). The source fails what
 * waited on it with UNREACHABLE: the dial (the broker, through the node's `unreachable` event) and
 * the pending requests to that node at once, its key request at the second answer (e2e.ts: the
 * first may come from a link between two handshakes, and the key request is resent anyway). A
 * node whose link to the destination is in its handshake answers nothing: that node is arriving.
 *
 * Rules, so that nobody can use this to make a node send packets, or make a source give up on a
 * node that is there (docs/SECURITY.md):
 * - Only a packet whose signature verifies is answered, and only to the source that signed it:
 *   a forged or unsigned source gets nothing (no reflection). A sealed packet that travels
 *   unsigned (docs/ENCRYPTION.md) is not answered either; the forwarder cannot tell its source.
 * - Per source at most ANSWERS_PER_SEC (bursts of ANSWERS_BURST), and all sources together at
 *   most ALL_PER_SEC: checked before the signature, so a flood costs no crypto past that.
 * - A source linked to us that said an older wire minor (limits.ts) is not sent one.
 * - The source takes an answer only for a packet it sent within TRACK_MS whose id, destination
 *   and kind match, once, and never from the destination itself: else `unreachable:unmatched`.
 * - The answer repeats the first bytes of the dropped packet's signature, which only the nodes
 *   that carried the packet have seen: packet ids follow a sequence, so without it a node off the
 *   path that guessed whom we were dialling could fail our dials (and have maintenance forget the
 *   peer). An answer is then what a forwarder that drops the packet could do anyway, sooner.
 */
import { bytesEqual, toHex } from './bytes.js';
import type { PacketFrame } from './codec.js';
import { BoundedMap } from './dedupe.js';
import { MeshError } from './errors.js';
import type { Emitter } from './emitter.js';
import { shortId, type NodeId } from './id.js';
import { UNREACHABLE_MINOR } from './limits.js';
import type { NodeEvents } from './node-types.js';
import { isUnsigned, PacketKind, verifyPacket } from './packets.js';
import { Payload, UNREACHABLE_PROOF_BYTES as PROOF_BYTES } from './payloads.js';
import { TokenBucket } from './rate-limit.js';
import type { RoutingTable } from './routing-table.js';

/**
 * Answers one source may get from us. A browser dials at most a handful of peers at once (four,
 * eight at a warm start), each with one offer, and asks a key once per new peer: 20 at once and
 * 5 a second leave room for that and bound what a source can make us sign.
 */
const ANSWERS_PER_SEC = 5;
const ANSWERS_BURST = 20;
/** Answers to all sources together: each costs a verification and a signature. */
const ALL_PER_SEC = 100;
const ALL_BURST = 200;
/** Sources whose budget is kept (the oldest forgotten first). */
const SOURCES_TRACKED = 1_024;
/** Packets of ours that an answer may name: sent within TRACK_MS, the newest TRACKED. */
const TRACK_MS = 30_000;
const TRACKED = 1_024;

/** The kinds answered: each has something at its source that waits for its destination. */
const ANSWERED: ReadonlyMap<number, NodeEvents['unreachable']['kind']> = new Map([
  [PacketKind.Signal, 'signal'],
  [PacketKind.Request, 'request'],
  [PacketKind.KeyRequest, 'key'],
] as const);

/** What a source rejects with when `by` dropped its packet for `dst`. */
export function unreachableError(dst: string, by: string): MeshError {
  return new MeshError('UNREACHABLE', `${shortId(dst)} is unreachable: ${shortId(by)}, the closest node to it, has no route to it`);
}

export interface UnreachablesHost {
  /** ms, for the budgets and the packets kept. */
  now(): number;
  table: RoutingTable;
  /** Signs and routes a packet of ours (call inside the actor). */
  originate(dst: NodeId, kind: number, payload: Uint8Array): Promise<void>;
  drop(reason: string): void;
  /** Whether a link to `id` (hex) is in its handshake here: the destination is arriving, not gone. */
  handshaking(id: string): boolean;
  /** The requests to `dst` (hex) sent by `sentAt` fail with `err` (services.ts). */
  services: { unreachable(dst: string, sentAt: number, err: MeshError): void };
  /** The key request to `dst` (hex) sent by `sentAt` fails with `err` (e2e.ts). */
  e2e: { unreachable(dst: string, sentAt: number, err: MeshError): void };
  events: Emitter<NodeEvents>;
  counters: { unreachableSent: number; unreachableHeard: number };
}

export class Unreachables {
  private readonly budgets = new BoundedMap<string, TokenBucket>(SOURCES_TRACKED);
  private readonly all: TokenBucket;
  /** Our answerable packets, by id: their destination, kind and when they left. */
  private readonly sent = new BoundedMap<number, { dst: string; kind: number; at: number; proof: Uint8Array }>(TRACKED);

  constructor(private readonly host: UnreachablesHost) {
    this.all = new TokenBucket(ALL_PER_SEC, ALL_BURST, host.now());
  }

  /** A signed packet of ours leaves (forwarding.ts originate): an answer may name it. */
  leaving(p: PacketFrame): void {
    if (ANSWERED.has(p.kind)) this.sent.set(p.id, { dst: toHex(p.dst), kind: p.kind, at: this.host.now(), proof: p.signature.slice(0, PROOF_BYTES) });
  }

  /** We dropped `p` as `no-route` (call inside the actor): its source hears so, within the rules above. */
  async answer(p: PacketFrame): Promise<void> {
    if (!ANSWERED.has(p.kind)) return;
    if (isUnsigned(p)) return this.host.drop('unreachable:unsigned');
    if (this.host.handshaking(toHex(p.dst))) return this.host.drop('unreachable:arriving');
    const src = toHex(p.src);
    const linked = this.host.table.get(src)?.peer;
    if (linked && linked.minor < UNREACHABLE_MINOR) return this.host.drop('unreachable:old-peer');
    const now = this.host.now();
    let b = this.budgets.get(src);
    if (!b) this.budgets.set(src, (b = new TokenBucket(ANSWERS_PER_SEC, ANSWERS_BURST, now)));
    if (!b.take(now)) return this.host.drop('unreachable:rate');
    if (!this.all.take(now)) return this.host.drop('unreachable:rate-all');
    // Only a source that signed: else anyone could make us send packets to a node of their choice.
    const bad = await verifyPacket(p);
    if (bad) return this.host.drop(`unreachable:${bad}`);
    const payload = Payload.unreachable.encode({ dst: p.dst, packetId: p.id, kind: p.kind, proof: p.signature.subarray(0, PROOF_BYTES) });
    await this.host.originate(p.src, PacketKind.Unreachable, payload).then(
      () => void this.host.counters.unreachableSent++,
      () => this.host.drop('unreachable-unroutable'),
    );
  }

  /** An Unreachable for us (delivery.ts, its signature verified): what waited on the packet it names fails. */
  onUnreachable(p: PacketFrame): void {
    const u = Payload.unreachable.decode(p.payload);
    if (!u) return this.host.drop('bad-payload');
    const by = toHex(p.src);
    const dst = toHex(u.dst);
    const mine = this.sent.get(u.packetId);
    const now = this.host.now();
    const kind = ANSWERED.get(u.kind);
    if (!mine || !kind || mine.dst !== dst || mine.kind !== u.kind || !bytesEqual(mine.proof, u.proof) || by === dst || now - mine.at > TRACK_MS) {
      return this.host.drop('unreachable:unmatched');
    }
    this.sent.take(u.packetId);
    this.host.counters.unreachableHeard++;
    const err = unreachableError(dst, by);
    if (kind === 'request') this.host.services.unreachable(dst, mine.at, err);
    if (kind === 'key') this.host.e2e.unreachable(dst, mine.at, err);
    this.host.events.emit('unreachable', { id: dst, by, kind });
  }
}
