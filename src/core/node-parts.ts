/**
 * How a MeshNode's parts are made and wired: the node's composition root. Each part sees its
 * neighbours only through the narrow host interface it declares; this function is the one place
 * that knows them all. node.ts keeps the node's state of its own (started, stopped), its public
 * API and its start and stop; what is wired here is what those call.
 *
 * Parts that need one another in both directions (forwarding and delivery, links and
 * maintenance) are reached through closures that run only once every part exists.
 */
import type { Actor } from './actor.js';
import { systemClock, systemRandom } from './clock.js';
import type { PeerInfo } from './codec.js';
import type { Counters } from './counters.js';
import { Delivery } from './delivery.js';
import { E2e } from './e2e.js';
import type { Emitter } from './emitter.js';
import { Forwarding } from './forwarding.js';
import { idFromText, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import { IdleLinks } from './idle-links.js';
import { KeyCards } from './key-cards.js';
import type { Link } from './link.js';
import { Links } from './links.js';
import { MAX_REFERRALS } from './limits.js';
import { Lookups } from './lookups.js';
import { Maintenance } from './maintenance.js';
import { nodeSettings, type NodeSettings } from './node-settings.js';
import type { LinkOptions, MeshNodeOptions, NodeEvents } from './node-types.js';
import { PacketIds } from './packet-ids.js';
import { PacketKind } from './packets.js';
import { PeerMemory } from './peer-memory.js';
import { PeerSaver } from './peer-saver.js';
import { PubSub } from './pubsub.js';
import { FloodGuard } from './rate-limit.js';
import { LEAF_CAP, RoutingTable } from './routing-table.js';
import { Services } from './services.js';
import { StreamService } from './streams/service.js';
import { Unreachables } from './unreachable.js';

/** What the parts need of the node itself. */
export interface NodeShell {
  identity: Identity;
  counters: Counters;
  events: Emitter<NodeEvents>;
  actor: Actor;
  isStopped(): boolean;
  addLink(link: Link, options: LinkOptions): Promise<string>;
  checkTarget(to: string): NodeId;
  drop(reason: string): void;
}

/** The parts the node's API and its start and stop call. */
export interface NodeParts {
  settings: NodeSettings;
  table: RoutingTable;
  memory: PeerMemory;
  /** Dialled at start and whenever the node has no link; MeshNode.addBootstrap() adds to it. */
  bootstrap: string[];
  peers: PeerSaver;
  e2e: E2e;
  cards: KeyCards;
  services: Services;
  streams: StreamService;
  pubsub: PubSub;
  idle: IdleLinks;
  lookups: Lookups;
  maintenance: Maintenance;
  links: Links;
}

export function wireNode(options: MeshNodeOptions, shell: NodeShell): NodeParts {
  const { identity, counters, events } = shell;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const wall = options.wallClock ?? (() => Date.now());
  const packetIds: PacketIds = new PacketIds(random, wall);
  // Hardening (docs/SECURITY.md): flood limits per link and source.
  const guard: FloodGuard = new FloodGuard(options.rateLimits);
  const settings = nodeSettings(options, identity);
  const bootstrap = [...(options.bootstrap ?? [])];
  const table: RoutingTable = new RoutingTable(identity.id, settings.caps.includes(LEAF_CAP));
  const memory: PeerMemory = new PeerMemory(identity.id);
  const run = <T>(task: () => T | Promise<T>): Promise<T> => shell.actor.run(task);
  const isStopped = () => shell.isStopped();
  const drop = (reason: string) => shell.drop(reason);
  const originate = (dst: NodeId, kind: number, payload: Uint8Array, packetId?: number, unsigned?: boolean): Promise<void> =>
    forwarding.originate(dst, kind, payload, packetId, unsigned);
  const nextPacketId = () => packetIds.next();
  const peers: PeerSaver = new PeerSaver({
    memory,
    store: options.store,
    clock,
    wall,
    saveDelayMs: settings.saveDelayMs,
    isStopped,
    learned: (id) => events.emit('peer-learned', { id }),
  });
  const learn = (info: PeerInfo) => peers.learn(info);
  const e2e: E2e = new E2e({
    id: identity.id,
    enabled: options.encryption ?? true,
    require: options.requireEncryption ?? false,
    keys: options.e2eKeys,
    clock,
    run,
    originate,
    drop,
    keyState: (peer) => events.emit('peer-key', { id: peer }),
    cardOf: (peer) => cards.of(peer),
  });
  const cards: KeyCards = new KeyCards({ identity, now: () => clock.now(), table, e2e, originate, drop });
  const services: Services = new Services({
    identity,
    clock,
    random,
    settings,
    e2e,
    run,
    originate,
    nextPacketId,
    unicastHop: (p) => forwarding.unicastHop(p),
    checkTarget: (to) => shell.checkTarget(to),
    counters,
    drop,
    foreignResponse: options.onForeignResponse, foreignAck: options.onForeignAck,
  });
  const unreachables: Unreachables = new Unreachables({ now: () => clock.now(), table, originate, drop, handshaking: (id) => links.hasSession(id), services, e2e, events, counters });
  // A bound link carries packets to its peer without sealing (services.ts), so nothing asks for
  // the peer's key; it is fetched anyway, in the background, so that when the link goes, what
  // then goes through a relay is sealed at once rather than a key exchange later.
  events.on('link-up', (e) => {
    if (e2e.enabled && table.get(e.id)?.channelBound) void e2e.sealingFor(idFromText(e.id), settings.requestTimeoutMs).catch(() => undefined);
  });
  const streams: StreamService = new StreamService({
    clock,
    random,
    // Sealed and routed like a datagram, waiting as a datagram does for a full first link.
    send: (to, payload) => services.originateSealed(idFromText(to), PacketKind.Stream, payload, settings.requestTimeoutMs),
    drop,
  });
  const pubsub: PubSub = new PubSub({ identity, clock, table, subscribeRefreshMs: settings.subscribeRefreshMs, run, originate, nextPacketId, drop });
  const idle: IdleLinks = new IdleLinks({
    clock,
    id: identity.idText,
    table,
    idleMs: settings.idleLinkMs,
    run: (task) => void run(task),
    dial: (peer) => maintenance.dialNow(peer),
    repairSoon: () => maintenance.repairSoon(),
  });
  const forwarding: Forwarding = new Forwarding({
    identity,
    clock,
    table,
    counters,
    guard,
    isStopped,
    nextPacketId,
    deliver: (p, from) => delivery.deliver(p, from),
    drop,
    appTraffic: (dst) => idle.traffic(dst),
    trimmed: () => idle.restingCount > 0,
    cards,
    unreachables,
  });
  const lookups: Lookups = new Lookups({
    identity,
    clock,
    table,
    memory,
    settings,
    run,
    originate,
    learn,
    repairSoon: () => maintenance.repairSoon(),
    settling: () => maintenance.settling,
    drop,
  });
  const maintenance: Maintenance = new Maintenance({
    identity,
    clock,
    random,
    table,
    memory,
    counters,
    settings,
    dialer: options.dialer,
    bootstrap,
    run,
    isStopped,
    addLink: (link, o) => shell.addLink(link, o),
    sessionOptions: (o) => links.sessionOptions(o),
    hasSession: (id) => links.hasSession(id),
    lookup: (target) => lookups.lookup(target),
    expireTopics: () => pubsub.expire(),
    askFor: (gaps, link) => links.askFor(gaps, link),
    resting: (id) => idle.isResting(id),
  });
  const links: Links = new Links({
    identity,
    clock,
    random,
    table,
    memory,
    counters,
    events,
    guard,
    settings,
    maintenance,
    idle,
    wall,
    run,
    drop,
    learn,
    scheduleSave: () => peers.scheduleSave(),
    onPacket: (from, p) => forwarding.onPacket(from, p),
    drained: (s) => services.wakeDrainWaiters(s),
    resubscribeSoon: () => pubsub.resubscribeSoon(),
    referralsFor: (target) => lookups.closestKnown(target, MAX_REFERRALS, false),
    card: () => cards.mine(),
  });
  const delivery: Delivery = new Delivery(
    { counters, e2e, services, streams, lookups, pubsub, idle, unreachables, drop },
    wall,
  );
  return { settings, table, memory, bootstrap, peers, e2e, cards, services, streams, pubsub, idle, lookups, maintenance, links };
}
