/**
 * MeshNode: one mesh node, free of any platform. It owns its links (through sessions), its
 * routing table, its peer memory and its services, and all of that state is touched only by
 * tasks on its Actor. Transports hand it links; a Dialer lets it open links to peers it learns
 * of; a PeerStore keeps its memory; a Clock and a Random make it deterministic in simulation.
 *
 * Its parts, each behind a narrow host interface, are made and wired in node-parts.ts: links.ts
 * (handshakes, admission, link control), forwarding.ts (next hops, breadcrumbs, originating),
 * lookups.ts, maintenance.ts (dialling, rounds), liveness.ts (keepalives), services.ts
 * (datagrams, requests, signalling), pubsub.ts, e2e.ts, delivery.ts (which part a packet for us
 * goes to), peer-saver.ts (peer memory kept in the store) and node-status.ts (what status()
 * reports). What stays here is the node's own state, its start and stop, and the public API.
 */
import { Actor } from './actor.js';
import { checkApp } from './app-namespace.js';
import { Counters } from './counters.js';
import type { E2e, PeerPair } from './e2e.js';
import { Emitter } from './emitter.js';
import { MeshError } from './errors.js';
import { idFromText, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import type { IdleLinks } from './idle-links.js';
import type { KeyCards } from './key-cards.js';
import type { Link } from './link.js';
import type { Links } from './links.js';
import type { Lookups } from './lookups.js';
import type { Maintenance } from './maintenance.js';
import { wireNode } from './node-parts.js';
import type { NodeSettings } from './node-settings.js';
import { nodeStatus } from './node-status.js';
import type { LinkOptions, Message, MeshNodeOptions, NodeEvents, NodeStatus, RequestHandler, SignalHandler, TakenAnswer, TopicMessage } from './node-types.js';
import type { AppData } from './payloads.js';
import type { PeerMemory } from './peer-memory.js';
import type { PeerSaver } from './peer-saver.js';
import type { PubSub } from './pubsub.js';
import type { WindowHandOver } from './reliable.js';
import type { RoutingTable } from './routing-table.js';
import type { Services } from './services.js';
import type { StreamHandler, StreamService } from './streams/service.js';
import type { CoreStream } from './streams/stream.js';

export type * from './node-types.js';

export class MeshNode {
  readonly identity: Identity;
  readonly id: string;
  readonly counters = new Counters();
  readonly events = new Emitter<NodeEvents>();
  readonly actor = new Actor();
  readonly memory: PeerMemory;

  private readonly table: RoutingTable;
  private readonly o: NodeSettings;
  private readonly e2e: E2e;
  private readonly pubsub: PubSub;
  private readonly links: Links;
  private readonly lookups: Lookups;
  private readonly maintenance: Maintenance;
  private readonly services: Services;
  private readonly streams: StreamService;
  private readonly idle: IdleLinks;
  private readonly cards: KeyCards;
  private readonly peers: PeerSaver;
  private started = false;
  private stopped = false;
  /** Dialled at start and whenever the node has no link; addBootstrap() adds to it. */
  private readonly bootstrap: string[];

  constructor(options: MeshNodeOptions) {
    this.identity = options.identity;
    this.id = options.identity.idText;
    const { identity, counters, events, actor } = this;
    const p = wireNode(options, {
      identity,
      counters,
      events,
      actor,
      isStopped: () => this.stopped,
      addLink: (link, o) => this.addLink(link, o),
      checkTarget: (to) => this.checkTarget(to),
      drop: (reason) => this.drop(reason),
    });
    this.o = p.settings;
    this.table = p.table;
    this.memory = p.memory;
    this.bootstrap = p.bootstrap;
    this.peers = p.peers;
    this.e2e = p.e2e;
    this.cards = p.cards;
    this.services = p.services;
    this.streams = p.streams;
    this.pubsub = p.pubsub;
    this.idle = p.idle;
    this.lookups = p.lookups;
    this.maintenance = p.maintenance;
    this.links = p.links;
  }

  get addrs(): string[] { return this.o.addrs; }

  /** Changes the advertised addresses (for example once a server knows its port). Call before start. */
  setAddrs(addrs: string[]): void { this.o.addrs = addrs; }

  /** Restores memory, dials bootstrap and remembered peers, and starts maintenance. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // On the actor, so a simulator's clock waits for the key pair rather than running past it.
    await this.actor.run(() => this.e2e.ready());
    // Before the card's signature and the read of peer memory (2-19 ms in a browser's worker): its
    // link comes long after that read, already under way; our proof waits for the card.
    const early = this.o.dialBootstrapFirst;
    if (early) await this.actor.run(() => this.maintenance.dialBootstrap());
    void this.cards.mine();
    await this.peers.restore();
    await this.actor.run(() => {
      this.maintenance.warmStart(!early);
      this.maintenance.schedule(0);
    });
  }

  /** A bootstrap address more (a later tab's, host.ts): dialled now, and whenever the node has no link. */
  addBootstrap(addr: string): Promise<void> {
    return this.actor.run(() => {
      if (this.bootstrap.includes(addr)) return;
      this.bootstrap.push(addr);
      this.maintenance.dialBootstrap([addr]);
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    // While the links are still up: the other ends of our streams hear why they end.
    await this.streams.resetAll('the node stopped');
    if (this.stopped) return;
    await this.actor.run(() => {
      this.stopped = true;
      this.maintenance.stop();
      this.idle.stop();
      this.pubsub.stop();
      this.peers.cancel();
      this.links.closeAll('node stopped');
      this.services.failAll(MeshError.stopped());
      this.streams.stopAll(MeshError.stopped());
      this.lookups.failAll(MeshError.stopped());
      this.e2e.failAll(MeshError.stopped());
    });
    await this.save();
  }

  /**
   * Hands the node a freshly opened link (dialled or accepted). Resolves with the peer's id
   * once the handshake is done and the link admitted; rejects with the reason otherwise.
   */
  addLink(link: Link, options: LinkOptions): Promise<string> {
    if (this.stopped) {
      link.close('node stopped');
      return Promise.reject(MeshError.stopped());
    }
    // Inside the actor, so the handshake's first frames are ordered with everything else the node does.
    // The task returns the handshake's promise boxed: the actor must not wait for the handshake.
    return this.actor
      .run(() => ({ done: this.links.startSession(link, options) }))
      .then((box) => box.done)
      .then((s) => s.peer!.idText);
  }

  private drop(reason: string): void {
    this.counters.drop(reason);
    this.events.emit('drop', { reason });
  }

  /** Writes peer memory to the store now (if it changed). */
  save(): Promise<void> {
    return this.peers.save();
  }

  // ---------------------------------------------------------------- services (services.ts, pubsub.ts)

  /** Sends a datagram to `to` on `port` of `app`; with `reliable`, resolves once acknowledged, else TIMEOUT (services.ts send). */
  send(to: string, data: AppData, options: { app?: string; port?: number; reliable?: boolean; deadlineMs?: number; messageId?: number } = {}): Promise<void> {
    return this.services.send(to, data, options);
  }

  /** Listens to datagrams on every port of `app` (default: the default app). Returns a function that stops listening. */
  onMessage(fn: (m: Message) => void, options: { app?: string } = {}): () => void {
    return this.services.onMessage(fn, options.app);
  }

  /** Answers requests on `port` of `app` with `fn`'s return value (or its error). Returns an unregister function. */
  handle(port: number, fn: RequestHandler, options: { app?: string } = {}): () => void {
    return this.services.handle(port, fn, options.app);
  }

  /** Sends a request and resolves with the reply; rejects with MeshError TIMEOUT when none comes, REFUSED when `to` has no handler on the port. */
  request(to: string, data: AppData, options: { app?: string; port?: number; timeoutMs?: number } = {}): Promise<AppData> {
    return this.services.request(to, data, options);
  }

  /** Receives every publication on `topic` of `app` from now on. Returns an unsubscribe function. */
  subscribe(topic: string, fn: (m: TopicMessage) => void, options: { app?: string } = {}): () => void {
    return this.pubsub.subscribe(topic, fn, checkApp(options.app));
  }

  /** Publishes to every subscriber of `topic` of `app`. */
  publish(topic: string, data: AppData, options: { app?: string } = {}): Promise<void> {
    return this.pubsub.publish(topic, data, checkApp(options.app));
  }

  /** Opens a stream to `to` on `port`: ordered, reliable and flow-controlled end to end (docs/STREAMS.md). */
  openStream(to: string, options: { port?: number; timeoutMs?: number; app?: string } = {}): CoreStream {
    this.checkTarget(to);
    return this.streams.open(to, options.port ?? 0, options);
  }

  /** Calls `fn` with every stream another node opens to `port` of `app`. Returns a function that stops accepting. */
  handleStreams(port: number, fn: StreamHandler, options: { app?: string } = {}): () => void {
    return this.streams.handle(port, fn, options.app);
  }

  /** Receives WebRTC signalling (or any small control text) sent to this node over the mesh. */
  onSignal(fn: SignalHandler): void {
    this.services.onSignal(fn);
  }

  sendSignal(to: string, body: string): Promise<void> {
    return this.services.sendSignal(to, body);
  }

  // ---------------------------------------------------------------- the data plane in a host tab

  /** The keys a host tab needs to seal to and open from `peer` itself, when our unsigned sealed packets may go to it (e2e.ts pairFor). */
  fastPair(peer: string): PeerPair | undefined {
    return this.e2e.pairFor(peer);
  }

  /**
   * Whether our open link to `peer` is `link` and its handshake bound the channel (session.ts):
   * the tab hosting that channel may then carry application packets to and from `peer` in the clear.
   */
  boundOn(peer: string, link: Link): boolean {
    const s = this.table.get(peer);
    return s !== undefined && s.link === link && s.channelBound;
  }

  /** Whether `link` is our link to `peer` now: its handshake done and the link admitted, not one still in its handshake. */
  linkedOn(peer: string, link: Link): boolean { return this.table.get(peer)?.link === link; }

  /** A host tab carried application packets to or from `peer` on their link: the link is not idle (idle-links.ts). */
  noteAppTraffic(peer: string): void { this.idle.carriedByTab(peer); }

  /** Answers `to`'s request `requestId`, which a tab's data plane took and cannot answer itself (services.ts answerTaken). */
  answerTaken(to: string, requestId: number, answer: TakenAnswer): Promise<boolean> {
    return this.services.answerTaken(to, requestId, answer);
  }

  /** Runs `to`'s request `requestId` as if it had come here: a tab took it and nothing ran (services.ts runTaken). */
  runTaken(to: string, requestId: number, request: { app?: string; port: number; data: AppData }): Promise<boolean> {
    return this.services.runTaken(to, requestId, request);
  }

  /** The node's window for a peer's reliable datagrams, handed to the host tab that takes them and back (reliable.ts WindowHandOver). */
  get reliableHandOver(): WindowHandOver {
    return this.services.handOver;
  }

  // ---------------------------------------------------------------- observation

  status(): NodeStatus {
    const { id, o: settings, table, memory, pubsub, counters, e2e, streams } = this;
    return nodeStatus({ id, settings, table, memory, pubsub, counters, e2e, streams });
  }

  /** Resolves once the node has a link (at once when it has one): a send is then routed, not UNREACHABLE. */
  linked(): Promise<void> {
    if (this.table.size > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.events.on('link-up', () => (off(), resolve()));
    });
  }

  /** Ids of the open links (for simulators and validators). */
  linkIds(): string[] {
    return [...this.table.all()].map((s) => s.peer!.idText);
  }

  private checkTarget(to: string): NodeId {
    if (this.stopped) throw MeshError.stopped();
    return idFromText(to);
  }
}
