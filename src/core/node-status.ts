/**
 * What a node tells about itself (MeshNode.status()): its links as the routing table holds them,
 * what it knows and runs with, and each part's counters. Read only, and built fresh per call:
 * the server's status JSON, the browser's status() and the simulator's figures all start here.
 */
import type { Counters } from './counters.js';
import type { E2e } from './e2e.js';
import type { PeerMemory } from './peer-memory.js';
import type { PubSub } from './pubsub.js';
import type { RoutingTable } from './routing-table.js';
import type { NodeSettings } from './node-settings.js';
import type { NodeStatus } from './node-types.js';
import type { StreamService } from './streams/service.js';

/** The parts a status reads. */
export interface StatusSources {
  id: string;
  settings: NodeSettings;
  table: RoutingTable;
  memory: PeerMemory;
  pubsub: PubSub;
  counters: Counters;
  e2e: E2e;
  streams: StreamService;
}

export function nodeStatus(p: StatusSources): NodeStatus {
  const { table, settings: o } = p;
  return {
    id: p.id,
    addrs: o.addrs,
    links: [...table.all()].map((s) => ({
      id: s.peer!.idText,
      transport: s.link.transport,
      rttMs: s.rttMs ?? null,
      outbound: s.outbound,
      bucket: table.bucketOf(s.peer!.id),
      peerNeedsUs: s.peerNeedsUs,
      addrs: s.peer!.addrs,
      bufferedBytes: s.link.bufferedAmount,
      bound: s.channelBound,
    })),
    knownPeers: p.memory.size,
    linkBudget: o.linkBudget,
    topics: p.pubsub.topicCount,
    counters: p.counters.toJSON(),
    e2e: p.e2e.status(),
    streams: p.streams.status(),
    limits: { idleLinkMs: o.idleLinkMs, maxLinksPerAddress: o.maxLinksPerAddress },
  };
}
