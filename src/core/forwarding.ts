/**
 * Forwarding: which link a packet leaves by. Greedy routing toward the destination id, plus
 * breadcrumbs, so answers can retrace the path of what they answer; and the originating of our
 * own packets (signed here, then routed the same way).
 */
import { toHex } from './bytes.js';
import type { Clock } from './clock.js';
import type { PacketFrame } from './codec.js';
import type { Counters } from './counters.js';
import { BoundedMap } from './dedupe.js';
import { MeshError } from './errors.js';
import { compareDistance, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import { DEFAULT_HOP_LIMIT, MAX_PAYLOAD_BYTES } from './limits.js';
import { looksSealed } from './payloads.js';
import { ANYCAST_KINDS, createPacket, HOP_BY_HOP_KINDS, PacketKind, SEALABLE_KINDS } from './packets.js';
import type { FloodGuard } from './rate-limit.js';
import type { RoutingTable } from './routing-table.js';
import type { Session } from './session.js';
import { APP_KINDS, IdleLinks } from './idle-links.js';
import type { KeyCards } from './key-cards.js';
import type { Unreachables } from './unreachable.js';

/** Bytes queued on a link past which our own packets wait for it to drain (and forwarded ones are dropped). */
export const CONGESTED_BYTES = 4 * 1024 * 1024;
/** Answers: they retrace the path of what they answer before trying greedy routing. */
const RETRACING_KINDS: ReadonlySet<number> = new Set([PacketKind.Response, PacketKind.Signal, PacketKind.KeyReply, PacketKind.KeyCard, PacketKind.Ack, PacketKind.Unreachable]);

/** What forwarding needs of its node. */
export interface ForwardingHost {
  identity: Identity;
  clock: Clock;
  table: RoutingTable;
  counters: Counters;
  guard: FloodGuard;
  isStopped(): boolean;
  nextPacketId(): number;
  /** Takes a packet that ends here (for us, hop by hop, or an anycast with no closer link). */
  deliver(p: PacketFrame, from: Session | undefined): Promise<void>;
  drop(reason: string): void;
  /** We originate an application packet for `dst` (idle-links.ts: traffic wakes a resting peer). */
  appTraffic(dst: string): void;
  /** Whether this node closed idle links, so its table lacks links by choice (idle-links.ts). */
  trimmed(): boolean;
  /** Answers a KeyRequest for a direct peer with its key card (key-cards.ts). */
  cards: Pick<KeyCards, 'answer'>;
  /** Tells the source of a packet dropped as `no-route` so, and notes our packets an answer may name (unreachable.ts). */
  unreachables: Pick<Unreachables, 'answer' | 'leaving'>;
}

export class Forwarding {
  /**
   * Breadcrumbs, keyed by a 64-bit prefix of an id: answers follow them within seconds, so a
   * short memory is enough, and in a large mesh a node forwards for thousands of sources.
   */
  private readonly crumbs = new BoundedMap<string, Session>(1024);
  private readonly id: string;

  constructor(private readonly host: ForwardingHost) {
    this.id = host.identity.idText;
  }

  /** A packet arrived on `from`: forwarded, delivered here, or dropped. */
  async onPacket(from: Session, p: PacketFrame): Promise<void> {
    const over = this.host.guard.packet(toHex(p.src), this.host.clock.now());
    if (over) return this.host.drop(over);
    const dstIsSelf = toHex(p.dst) === this.id;
    // A packet in our own name that we did not send: no route hands one back to its source, and
    // passing it on would write it into a channel bound to us as if we had (delivery.ts, `direct`).
    if (!dstIsSelf && toHex(p.src) === this.id) return this.host.drop('own-source');
    // Lookups leave breadcrumbs so their answer can retrace the path, even to a node that is
    // still joining and that greedy routing cannot reach yet.
    if (p.kind === PacketKind.Lookup) this.crumbs.set(crumbKey(p.src, p.id), from);
    // Every packet leaves a crumb per source, so what answers it (a reply, a WebRTC answer) can
    // retrace its path to a node that greedy routing alone cannot reach.
    this.crumbs.set(crumbKey(p.src), from);
    if (!dstIsSelf && !HOP_BY_HOP_KINDS.has(p.kind)) {
      const next = this.nextHopFor(p, from);
      if (next) {
        this.forward(p, next);
        // The last hop before a KeyRequest's destination may hold its card: the asker gets it now.
        if (p.kind === PacketKind.KeyRequest && next.card) await this.host.cards.answer(p, next);
        return;
      }
      if (!ANYCAST_KINDS.has(p.kind)) {
        this.host.drop('no-route');
        // Its source would otherwise wait out its timeout for a node that is most likely gone.
        return this.host.unreachables.answer(p);
      }
    }
    await this.host.deliver(p, from);
  }

  /** Greedy next hop; answers to lookups prefer the breadcrumb their lookup left. */
  nextHopFor(p: Pick<PacketFrame, 'src' | 'dst' | 'id' | 'kind'>, from?: Session): Session | undefined {
    if (p.kind === PacketKind.Found) {
      // Taken, not read: should the answer ever come back here, it goes on greedily, so
      // breadcrumbs and greedy steps cannot chase each other in a loop.
      const crumb = this.crumbs.take(crumbKey(p.dst, p.id));
      if (crumb && crumb.state === 'open') return crumb;
    }
    if (p.kind === PacketKind.Lookup) {
      // A lookup asks for the closest node *other than its source*: its source never answers it.
      const src = toHex(p.src);
      return this.host.table.nextHop(p.dst, src, src === this.id);
    }
    if (ANYCAST_KINDS.has(p.kind)) return this.host.table.nextHop(p.dst);
    return this.unicastHop(p, from);
  }

  /**
   * Next hop of a packet for one exact node. Greedy (a strictly closer link) whenever it can,
   * which keeps routes loop-free; but a node may have no closer link: two browsers that are each
   * other's closest known node signalling their first link, or a node that just joined and that
   * nobody near its id knows yet. Then the packet retraces the path by which the last packet
   * from its destination came (the `from:` crumb). Replies and signalling answers take that path
   * first, since it is known to reach a node that was asking. At its source only, a packet with
   * no other way out goes to the closest link with a dial address (a server, linked to many),
   * else to the closest link. Later hops never hand a packet back to its source; the hop limit
   * bounds the rare path that mixes crumbs and greedy steps. A node that closed idle links
   * (idle-links.ts) lacks links by choice, so a packet it cannot move on goes to one of its
   * server links, other than the one it came by: the server is linked to many, and both ends
   * of every idle link that closed keep one.
   */
  unicastHop(p: Pick<PacketFrame, 'src' | 'dst' | 'kind'>, from?: Session): Session | undefined {
    const table = this.host.table;
    const src = toHex(p.src);
    const dst = toHex(p.dst);
    if (dst === this.id) return undefined;
    const direct = table.get(dst);
    if (direct) return direct;
    const c = this.crumbs.get(crumbKey(p.dst));
    const crumb = c && c.state === 'open' && c.peer?.idText !== src ? c : undefined;
    if (crumb && RETRACING_KINDS.has(p.kind)) return crumb;
    const greedy = src === this.id ? table.nextHop(p.dst) : table.nextHop(p.dst, src);
    if (greedy) return greedy;
    if (crumb) return crumb;
    if (src !== this.id) return this.host.trimmed() ? this.serverHop(p.dst, src, from) : undefined;
    const links = [...table.all()].sort((a, b) => compareDistance(a.peer!.id, b.peer!.id, p.dst));
    return links.find((s) => s.peer!.addrs.length > 0) ?? links[0];
  }

  /** The server link (non-WebRTC, with a dial address) closest to `dst`, other than the way the packet came. */
  private serverHop(dst: NodeId, src: string, from: Session | undefined): Session | undefined {
    let best: Session | undefined;
    for (const s of this.host.table.all()) {
      if (s === from || s.peer!.idText === src || s.link.transport === 'webrtc' || s.peer!.addrs.length === 0) continue;
      if (!best || compareDistance(s.peer!.id, best.peer!.id, dst) < 0) best = s;
    }
    return best;
  }

  private forward(p: PacketFrame, next: Session): void {
    if (p.hops <= 1) return this.host.drop('hop-limit');
    if (next.link.bufferedAmount > CONGESTED_BYTES) return this.host.drop('congested');
    IdleLinks.carried(next, p.kind, this.host.clock.now());
    next.sendFrame({ ...p, hops: p.hops - 1 });
    this.host.counters.forwarded++;
  }

  /**
   * Signs and routes a packet of ours; delivers it locally when we are its destination.
   * `unsigned` only for a sealed payload to a node that holds our key (packets.ts), or for an
   * application payload to the peer at the other end of a bound channel (session.ts).
   */
  async originate(dst: NodeId, kind: number, payload: Uint8Array, packetId?: number, unsigned = false): Promise<void> {
    if (this.host.isStopped()) throw MeshError.stopped();
    if (payload.length > MAX_PAYLOAD_BYTES + 1024) throw MeshError.payloadTooLarge(payload.length, MAX_PAYLOAD_BYTES);
    const id = packetId ?? this.host.nextPacketId();
    const packet = await createPacket(this.host.identity, dst, kind, payload, id, DEFAULT_HOP_LIMIT, unsigned);
    this.host.counters.sent++;
    if (APP_KINDS.has(kind)) this.host.appTraffic(toHex(dst));
    const next = this.nextHopFor(packet);
    // An unsigned payload in the clear may only go straight into a channel bound to its
    // destination (services.ts decides so in this same turn): never to a relay.
    if (unsigned && !looksSealed(payload) && !(next?.channelBound && next.peer?.idText === toHex(dst))) {
      this.host.drop('direct-unbound');
      throw MeshError.unreachable(toHex(dst));
    }
    if (next) {
      // Application payloads wait for a full link (services.ts) and are refused here only as a
      // last guard; small control packets (signalling, keys, lookups, acks) still go out, or an
      // application filling the link would starve what keeps the mesh working: re-homing a
      // link is signalled over the mesh, often through the very link the data now fills.
      if (SEALABLE_KINDS.has(kind) && next.link.bufferedAmount > CONGESTED_BYTES) throw new MeshError('CONGESTED', 'the first link toward the destination is congested');
      IdleLinks.carried(next, kind, this.host.clock.now());
      if (!unsigned) this.host.unreachables.leaving(packet);
      next.sendFrame(packet);
      return;
    }
    if (toHex(dst) === this.id || ANYCAST_KINDS.has(kind)) return this.host.deliver(packet, undefined);
    this.host.drop('no-route');
    throw MeshError.unreachable(toHex(dst));
  }
}

/** A breadcrumb's key: the first 8 bytes of an id (plus a lookup's packet id), as hex. */
function crumbKey(id: NodeId, packetId?: number): string {
  const prefix = toHex(id.subarray(0, 8));
  return packetId === undefined ? prefix : `${prefix}:${packetId}`;
}
