/**
 * Lookups: a Lookup packet is routed to the node closest to a target id, which answers with
 * the nodes it knows closest to it (Found, back along the lookup's breadcrumbs). A node finds
 * its neighbours and fills its buckets this way; what it learns goes to peer memory.
 */
import type { Clock } from './clock.js';
import type { PacketFrame, PeerInfo } from './codec.js';
import { compareDistance, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import type { NodeSettings } from './node-settings.js';
import { PacketKind } from './packets.js';
import { MAX_FOUND, Payload } from './payloads.js';
import { mayName, type PeerMemory, type PeerRecord } from './peer-memory.js';
import { PendingRequests } from './requests.js';
import type { RoutingTable } from './routing-table.js';

/** How long a lookup waits for its answer. */
const LOOKUP_TIMEOUT_MS = 10_000;
/** How long a node still settling waits before looking itself up again, when a Found named someone closer. */
const SELF_LOOKUP_AGAIN_MS = 500;

/** What lookups need of their node. */
export interface LookupsHost {
  identity: Identity;
  clock: Clock;
  table: RoutingTable;
  memory: PeerMemory;
  settings: NodeSettings;
  run<T>(task: () => T | Promise<T>): Promise<T>;
  /** Signs and routes a packet of ours (call inside the actor). */
  originate(dst: NodeId, kind: number, payload: Uint8Array, packetId?: number): Promise<void>;
  /** Puts a peer into memory. */
  learn(info: PeerInfo): PeerRecord | undefined;
  /** Dials what the routing invariant needs, soon. */
  repairSoon(): void;
  /** Whether maintenance still runs faster than its settled pace (just started, or lost a needed link). */
  settling(): boolean;
  drop(reason: string): void;
}

export class Lookups {
  private readonly pending: PendingRequests;
  private selfLookupQueued = false;
  private readonly id: string;

  constructor(private readonly host: LookupsHost) {
    this.id = host.identity.idText;
    this.pending = new PendingRequests(host.clock, (fn) => void host.run(fn));
  }

  /**
   * Routes a lookup to the node closest to `target`. Resolves once it has left this node (the
   * answer, a Found packet, is learned from whenever it comes).
   */
  async lookup(target: NodeId): Promise<void> {
    // The answer comes from whichever node turns out closest: any sender may answer.
    const { requestId, reply } = this.pending.open(undefined, LOOKUP_TIMEOUT_MS, 'lookup');
    reply.catch(() => undefined);
    await this.host.originate(target, PacketKind.Lookup, Payload.lookup.encode({ requestId })).catch((err) => this.pending.fail(requestId, err as Error));
  }

  /** A lookup ended here: we are the closest node we know to its target. */
  onLookup(src: string, p: PacketFrame): void | Promise<void> {
    const l = Payload.lookup.decode(p.payload);
    if (!l) return this.host.drop('bad-payload');
    if (src === this.id) return void this.pending.answer(src, l.requestId, true, new Uint8Array(0)); // we are the closest
    const peers = this.closestKnown(p.dst, MAX_FOUND, true);
    // The answer reuses the lookup's packet id: that is how it finds the breadcrumbs.
    return this.host.originate(p.src, PacketKind.Found, Payload.found.encode({ requestId: l.requestId, peers }), p.id).catch(() => {});
  }

  /** The answer to one of our lookups. */
  onFound(src: string, p: PacketFrame): void {
    const f = Payload.found.decode(p.payload);
    if (!f) return this.host.drop('bad-payload');
    const { table, identity } = this.host;
    let learned = false;
    const closest = table.closest(identity.id, 1)[0]?.peer?.id;
    let closer = false;
    for (const peer of f.peers) {
      const rec = this.host.learn(peer);
      if (!rec) continue;
      learned = true;
      if (closest && !table.has(rec.id) && compareDistance(rec.idBytes, closest, identity.id) < 0) closer = true;
    }
    this.pending.answer(src, f.requestId, true, new Uint8Array(0));
    if (learned) this.host.repairSoon();
    // Someone closer to us than any link: we have not found our neighbours yet, so ask again.
    if (closer && !this.selfLookupQueued && this.host.settling()) {
      this.selfLookupQueued = true;
      this.host.clock.setTimeout(() => void this.host.run(async () => ((this.selfLookupQueued = false), await this.lookup(identity.id))), SELF_LOOKUP_AGAIN_MS);
    }
  }

  failAll(err: Error): void {
    this.pending.failAll(err);
  }

  /** Peer infos closest to `target` from our links and memory, plus ourselves and, for lookups, one link per bucket. */
  closestKnown(target: NodeId, max: number, forLookup: boolean): PeerInfo[] {
    const { table, memory } = this.host;
    const infos = new Map<string, { text: string; id: NodeId; info: PeerInfo }>();
    for (const s of table.all()) infos.set(s.peer!.idText, { text: s.peer!.idText, id: s.peer!.id, info: s.peer! });
    for (const r of memory.all()) if (!infos.has(r.id) && mayName(r)) infos.set(r.id, { text: r.id, id: r.idBytes, info: r });
    const sorted = [...infos.values()].sort((a, b) => compareDistance(a.id, b.id, target));
    const out: PeerInfo[] = [];
    const picked = new Set<string>();
    const pick = (id: string, info: PeerInfo) => {
      if (out.length >= max || picked.has(id)) return;
      picked.add(id);
      out.push({ publicKey: info.publicKey, addrs: info.addrs, caps: info.caps });
    };
    if (forLookup) {
      pick(this.id, { publicKey: this.host.identity.publicKey, addrs: this.host.settings.addrs, caps: this.host.settings.caps });
      for (const x of sorted.slice(0, 8)) pick(x.text, x.info);
      // The requester shares our prefix, so our links in each bucket sit in its buckets too.
      const perBucket = new Set<number>();
      for (const s of table.all()) {
        const b = table.bucketOf(s.peer!.id);
        if (perBucket.has(b)) continue;
        perBucket.add(b);
        pick(s.peer!.idText, s.peer!);
      }
    }
    for (const x of sorted) {
      if (out.length >= max) break;
      pick(x.text, x.info);
    }
    return out;
  }
}
