/**
 * Delivery: what happens to a packet that routing brought to this node. It checks that the
 * packet is what it claims (a second copy, a signature, or for an unsigned packet the AEAD tag
 * that proves its source), opens a sealed payload, refuses replays past the dedupe window, and
 * hands the packet to the part that owns its kind: services (datagrams, requests, signalling),
 * streams, lookups, pub/sub or end-to-end keys.
 */
import { toHex } from './bytes.js';
import { decodeFrame, FrameType, type PacketFrame } from './codec.js';
import type { Counters } from './counters.js';
import { RecentSet } from './dedupe.js';
import type { E2e } from './e2e.js';
import { APP_KINDS, type IdleLinks } from './idle-links.js';
import { DEFAULT_HOP_LIMIT } from './limits.js';
import type { Lookups } from './lookups.js';
import { isUnsigned, PacketKind, SEALABLE_KINDS, verifyPacket } from './packets.js';
import { Payload } from './payloads.js';
import type { PubSub } from './pubsub.js';
import { ReplayGuard } from './replay-guard.js';
import type { Services } from './services.js';
import type { Session } from './session.js';
import type { StreamService } from './streams/service.js';
import type { Unreachables } from './unreachable.js';

/** Publishers whose publication window a node keeps, and ids per window (replay-guard.ts). */
const PUBLISHERS = 1024;
const PUBLICATION_WINDOW = 256;

/** The parts a delivered packet can go to, and the node's drop counter. */
export interface DeliveryHost {
  counters: Counters;
  e2e: E2e;
  services: Services;
  streams: StreamService;
  lookups: Lookups;
  pubsub: PubSub;
  idle: IdleLinks;
  unreachables: Pick<Unreachables, 'onUnreachable'>;
  drop(reason: string): void;
}

export class Delivery {
  /** Packets seen lately, by source, id and kind: a second copy is dropped as a duplicate. */
  private readonly seen = new RecentSet(8192);
  /** Packet ids per source and lane: replays past the dedupe window refused (replay-guard.ts). */
  private readonly replays: ReplayGuard;
  /**
   * Publications handed down the tree, by publisher: the PublishDown around one is checked
   * against its sender, but anyone may wrap a captured publication in a fresh PublishDown. A
   * wider window, as one publisher's publications on different topics take different trees.
   */
  private readonly publicationReplays: ReplayGuard;

  constructor(
    private readonly host: DeliveryHost,
    wall: () => number,
  ) {
    this.replays = new ReplayGuard(wall);
    this.publicationReplays = new ReplayGuard(wall, PUBLISHERS, PUBLICATION_WINDOW);
  }

  /** Delivers `p`, addressed to us, which came over `from` (undefined: we sent it to ourselves). */
  async deliver(p: PacketFrame, from: Session | undefined): Promise<void> {
    const { e2e, services, streams, lookups, pubsub, idle } = this.host;
    const src = toHex(p.src);
    // Unsigned: a sealed payload whose AEAD proves its source (e2e.ts), or an application payload
    // from the peer at the other end of a bound channel; nothing else may come so.
    const unsigned = from !== undefined && isUnsigned(p);
    if (from) {
      if (!this.seen.add(`${src}:${p.id}:${p.kind}`)) return this.host.drop('duplicate');
      if (unsigned) {
        // An Ack comes so only straight from its source over a channel bound to it (services.ts `onReliableData`).
        const directAck = p.kind === PacketKind.Ack && from.channelBound && from.peer?.idText === src;
        if (!SEALABLE_KINDS.has(p.kind) && !directAck) return this.host.drop('unsigned');
      } else {
        const bad = await verifyPacket(p);
        if (bad) return this.host.drop(bad);
      }
    }
    // Links crossed: the first link does not lower the hop limit, each forward does; 0 when local.
    const hops = from ? Math.max(1, DEFAULT_HOP_LIMIT - p.hops + 1) : 0;
    let sealed = false;
    if (SEALABLE_KINDS.has(p.kind)) {
      // Straight from its source over a channel bound to it (session.ts): the channel proves the source.
      const direct = unsigned && from!.channelBound && from!.peer?.idText === src;
      const opened = await e2e.open(p, from !== undefined, unsigned, direct);
      if (typeof opened === 'string') return this.host.drop(opened);
      sealed = opened.sealed;
      p = { ...p, payload: opened.payload };
    }
    // After the signature or the AEAD tag, so no forger can move another source's window.
    // A Found answer carries its lookup's id, from the asker's sequence, not its source's.
    if (from && p.kind !== PacketKind.Found) {
      const replay = this.replays.check(src, p.id);
      if (replay) return this.host.drop(replay);
    }
    this.host.counters.delivered++;
    if (from && APP_KINDS.has(p.kind)) idle.traffic(src);
    switch (p.kind) {
      case PacketKind.Data:
        return services.onData(src, p, hops);
      case PacketKind.Request:
        return services.onRequest(src, p, hops, sealed);
      case PacketKind.Stream:
        return streams.onPacket(src, p.payload);
      case PacketKind.ReliableData:
        return services.onReliableData(src, p, hops);
      case PacketKind.Ack:
        return services.onAck(src, p);
      case PacketKind.KeyRequest:
        return e2e.onKeyRequest(p);
      case PacketKind.KeyReply:
        return e2e.onKeyReply(p);
      case PacketKind.KeyCard:
        return e2e.onKeyCard(p);
      case PacketKind.Response:
        return services.onResponse(src, p);
      case PacketKind.Lookup:
        return lookups.onLookup(src, p);
      case PacketKind.Found:
        return lookups.onFound(src, p);
      case PacketKind.Subscribe:
        return pubsub.onSubscribe(src, p);
      case PacketKind.Publish: {
        // At its rendezvous: filed by publisher too, so a copy wrapped later is known here.
        const replay = from ? this.publicationReplays.check(src, p.id) : undefined;
        if (replay) return this.host.drop(replay === 'replay' ? 'duplicate-publication' : `publication:${replay}`);
        return pubsub.onPublish(p);
      }
      case PacketKind.PublishDown: {
        const d = Payload.publishDown.decode(p.payload);
        const inner = d && decodeFrame(d.inner);
        if (!inner || !inner.ok || inner.value.type !== FrameType.Packet || inner.value.kind !== PacketKind.Publish) return this.host.drop('bad-payload');
        const bad = await verifyPacket(inner.value);
        if (bad) return this.host.drop(`publication:${bad}`);
        // An id already accepted is a second copy (or a replay of one): counted as pub/sub does.
        const replay = this.publicationReplays.check(toHex(inner.value.src), inner.value.id);
        if (replay) return this.host.drop(replay === 'replay' ? 'duplicate-publication' : `publication:${replay}`);
        return pubsub.fanOut(inner.value);
      }
      case PacketKind.Signal:
        return services.onSignalPacket(src, p);
      case PacketKind.Unreachable:
        return this.host.unreachables.onUnreachable(p);
      default:
        this.host.drop('unknown-kind');
    }
  }
}
