/**
 * MeshNode: one mesh node, free of any platform. It owns its links (through sessions), its
 * routing table, its peer memory and its services, and all of that state is touched only by
 * tasks on its Actor. Transports hand it links; a Dialer lets it open links to peers it learns
 * of; a PeerStore keeps its memory; a Clock and a Random make it deterministic in simulation.
 */
import { toHex } from './bytes.js';
import { type Clock, type Random, systemClock, systemRandom, type TimerHandle } from './clock.js';
import { decodeFrame, FrameType, Want, type Frame, type PacketFrame, type PeerInfo, type WantLevel } from './codec.js';
import { Counters } from './counters.js';
import { BoundedMap, RecentSet } from './dedupe.js';
import { MeshError } from './errors.js';
import { Actor } from './actor.js';
import { Emitter } from './emitter.js';
import { compareDistance, idFromPublicKey, idFromText, randomIdInBucket, shortId, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import type { Link } from './link.js';
import { emptyBuckets, gapsBelow, helperFor, peersForAsk } from './bucket-gaps.js';
import { dialWishes, neededByUs, pickEviction, RESERVE, wouldBeNeeded } from './link-policy.js';
import { DEFAULT_HOP_LIMIT, MAX_PAYLOAD_BYTES, MAX_REFERRALS } from './limits.js';
import { DEFAULT_MAX_LINKS_PER_ADDRESS, linksFrom, networkAddressOf } from './address-limit.js';
import { checkPowBits, hasWork } from './pow.js';
import { FloodGuard } from './rate-limit.js';
import { ANYCAST_KINDS, createPacket, HOP_BY_HOP_KINDS, PacketKind, SEALABLE_KINDS, verifyPacket } from './packets.js';
import { E2e } from './e2e.js';
import { DEFAULT_DEADLINE_MS, MAX_DEADLINE_MS, ReliableSender, ReliableWindow } from './reliable.js';
import { type AppData, MAX_FOUND, Payload } from './payloads.js';
import { PeerMemory, type PeerRecord, type PeerStore } from './peer-memory.js';
import { PendingRequests } from './requests.js';
import { isLeaf, LEAF_CAP, RoutingTable } from './routing-table.js';
import { Session } from './session.js';
import { checkData, checkPort, safeCall } from './node-checks.js';
import type { Dialer, Message, MeshNodeOptions, NodeEvents, NodeStatus, RequestHandler, SignalHandler, TopicMessage } from './node-types.js';

export type * from './node-types.js';
import { PubSub } from './pubsub.js';

const MAX_BAD_FRAMES = 16;
/** Answers: they retrace the path of what they answer before trying greedy routing. */
const RETRACING_KINDS: ReadonlySet<number> = new Set([PacketKind.Response, PacketKind.Signal, PacketKind.KeyReply, PacketKind.Ack]);
/** How long one attempt of a reliable send waits for the destination's encryption key before the next attempt asks again. */
const RELIABLE_KEY_WAIT_MS = 2_000;
const COOLDOWN_MS = 30_000;
const FAST_MAINTAIN_MS = 2_000;
/** Bytes queued on a link past which our own packets wait for it to drain (and forwarded ones are dropped). */
const CONGESTED_BYTES = 4 * 1024 * 1024;
/** How often a sender waiting for a full link looks again when no drain event comes. */
const DRAIN_POLL_MS = 20;
/** How long repairSoon waits, gathering changes. */
const REPAIR_DELAY_MS = 50;
/** A peer's Asks are answered at most this often. */
const ASK_INTERVAL_MS = 1_000;
/** Spare links dialled per maintenance round at most (see DialContext.spares). */
const SPARES_PER_ROUND = 2;

export class MeshNode {
  readonly identity: Identity;
  readonly id: string;
  readonly counters = new Counters();
  readonly events = new Emitter<NodeEvents>();
  readonly actor = new Actor();
  readonly memory: PeerMemory;

  private readonly clock: Clock;
  private readonly random: Random;
  private readonly wall: () => number;
  private readonly table: RoutingTable;
  private readonly sessions = new Set<Session>();
  private readonly handshakes = new Map<Session, { resolve: (s: Session) => void; reject: (e: Error) => void; timer: TimerHandle }>();
  private readonly requests: PendingRequests;
  private readonly lookups: PendingRequests;
  private readonly e2e: E2e;
  private readonly reliableOut: ReliableSender;
  private readonly reliableIn: ReliableWindow;
  private readonly pubsub: PubSub;
  private readonly seen = new RecentSet(8192);
  /**
   * Breadcrumbs, keyed by a 64-bit prefix of an id: answers follow them within seconds, so a
   * short memory is enough, and in a large mesh a node forwards for thousands of sources.
   */
  private readonly crumbs = new BoundedMap<string, Session>(1024);
  private readonly messageListeners = new Set<(m: Message) => void>();
  private readonly handlers = new Map<number, RequestHandler>();
  private signalHandler?: SignalHandler;
  private readonly pendingDials = new Set<string>();
  private readonly cooldown = new Map<string, number>();
  private readonly bootstrapAddrs: string[];
  private readonly o: Required<Omit<MeshNodeOptions, 'dialer' | 'store' | 'identity' | 'clock' | 'random' | 'wallClock' | 'bootstrap' | 'encryption' | 'requireEncryption' | 'e2eKeys' | 'rateLimits'>>;
  /** Hardening (docs/SECURITY.md): flood limits per link and source. */
  private readonly guard: FloodGuard;
  private readonly dialer?: Dialer;
  private readonly store?: PeerStore;
  private timers: TimerHandle[] = [];
  private maintainTimer?: TimerHandle;
  private maintainInterval = FAST_MAINTAIN_MS;
  private saveTimer?: TimerHandle;
  private refreshCursor = 0;
  /** Empty buckets already looked into since the last full pass. */
  private readonly refreshedEmpty = new Set<number>();
  /** Senders waiting for a full link to drain (originateSealed). */
  private readonly drainWaiters = new Map<Session, (() => void)[]>();
  /** Maintenance rounds run so far. */
  private rounds = 0;
  /** Buckets in which a needed dial was refused as BUSY since the bucket last got a link: dialled with Want.Urgent. */
  private readonly refusedBuckets = new Set<number>();
  private selfLookupQueued = false;
  private started = false;
  private stopped = false;
  private pingCounter = 0;

  constructor(options: MeshNodeOptions) {
    this.identity = options.identity;
    this.id = options.identity.idText;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.wall = options.wallClock ?? (() => Date.now());
    this.dialer = options.dialer;
    this.store = options.store;
    this.bootstrapAddrs = options.bootstrap ?? [];
    this.o = {
      addrs: options.addrs ?? [],
      caps: options.caps ?? [],
      linkBudget: options.linkBudget ?? 24,
      maintainMs: options.maintainMs ?? 30_000,
      keepaliveMs: options.keepaliveMs ?? 15_000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
      saveDelayMs: options.saveDelayMs ?? 2_000,
      subscribeRefreshMs: options.subscribeRefreshMs ?? 20_000,
      maxPendingDials: options.maxPendingDials ?? 4,
      maxLinksPerAddress: options.maxLinksPerAddress ?? DEFAULT_MAX_LINKS_PER_ADDRESS,
      powBits: checkPowBits(options.powBits ?? 0),
    };
    this.guard = new FloodGuard(options.rateLimits);
    if (!hasWork(this.identity.publicKey, this.o.powBits)) throw MeshError.invalid(`the identity lacks the ${this.o.powBits} bits of work this node asks of every peer (see generateWithWork)`);
    if (!Number.isInteger(this.o.linkBudget) || this.o.linkBudget < 2) throw MeshError.invalid('linkBudget must be an integer of at least 2');
    this.table = new RoutingTable(this.identity.id, this.o.caps.includes(LEAF_CAP));
    this.memory = new PeerMemory(this.identity.id);
    const enqueue = (fn: () => void) => void this.actor.run(fn);
    this.requests = new PendingRequests(this.clock, enqueue);
    this.lookups = new PendingRequests(this.clock, enqueue);
    this.pubsub = new PubSub({
      identity: this.identity,
      clock: this.clock,
      table: this.table,
      subscribeRefreshMs: this.o.subscribeRefreshMs,
      run: (task) => this.actor.run(task),
      originate: (dst, kind, payload) => this.originate(dst, kind, payload),
      nextPacketId: () => this.nextPacketId(),
      drop: (reason) => this.drop(reason),
    });
    this.e2e = new E2e({
      id: this.identity.id,
      enabled: options.encryption ?? true,
      require: options.requireEncryption ?? false,
      keys: options.e2eKeys,
      clock: this.clock,
      run: (task) => this.actor.run(task),
      originate: (dst, kind, payload) => this.originate(dst, kind, payload),
      drop: (reason) => this.drop(reason),
    });
    this.reliableOut = new ReliableSender(this.clock, this.random, enqueue);
    this.reliableIn = new ReliableWindow(this.clock);
  }

  get addrs(): string[] {
    return this.o.addrs;
  }

  /** Changes the advertised addresses (for example once a server knows its port). Call before start. */
  setAddrs(addrs: string[]): void {
    this.o.addrs = addrs;
  }

  /** Restores memory, dials bootstrap and remembered peers, and starts maintenance. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // On the actor, so a simulator's clock waits for the key pair rather than running past it.
    await this.actor.run(() => this.e2e.ready());
    if (this.store) {
      const stored = await this.store.load();
      this.memory.restore(stored);
    }
    await this.actor.run(() => {
      for (const addr of this.bootstrapAddrs) this.dialAddress(addr);
      // Warm start: the peers that worked most recently, whatever bootstrap was configured.
      for (const rec of this.memory.mostRecentlyUseful(this.o.maxPendingDials * 2)) this.dialPeer(rec, Want.Join, true);
      this.scheduleMaintenance(0);
      if (this.o.keepaliveMs > 0) this.every(this.o.keepaliveMs, () => this.keepalive());
      this.every(this.o.subscribeRefreshMs, () => this.pubsub.refresh());
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.actor.run(() => {
      this.stopped = true;
      for (const t of this.timers) t.cancel();
      this.maintainTimer?.cancel();
      this.saveTimer?.cancel();
      for (const s of [...this.sessions]) s.close('node stopped');
      this.requests.failAll(MeshError.stopped());
      this.lookups.failAll(MeshError.stopped());
      this.e2e.failAll(MeshError.stopped());
      this.reliableOut.failAll(MeshError.stopped());
    });
    await this.save();
  }

  // ---------------------------------------------------------------- links and handshakes

  /**
   * Hands the node a freshly opened link (dialled or accepted). Resolves with the peer's id
   * once the handshake is done and the link admitted; rejects with the reason otherwise.
   */
  addLink(link: Link, options: { outbound: boolean; expectedId?: string; want?: WantLevel }): Promise<string> {
    if (this.stopped) {
      link.close('node stopped');
      return Promise.reject(MeshError.stopped());
    }
    // Inside the actor, so the handshake's first frames are ordered with everything else the node does.
    // The task returns the handshake's promise boxed: the actor must not wait for the handshake.
    return this.actor
      .run(() => ({ done: this.startSession(link, options) }))
      .then((box) => box.done)
      .then((s) => s.peer!.idText);
  }

  private startSession(link: Link, options: { outbound: boolean; expectedId?: string; want?: WantLevel }): Promise<Session> {
    const session = new Session(link, {
      identity: this.identity,
      nonce: this.random.bytes(32),
      caps: this.o.caps,
      addrs: this.o.addrs,
      expectedId: options.expectedId ? idFromText(options.expectedId) : undefined,
      outbound: options.outbound,
      want: options.want ?? (this.table.size === 0 ? Want.Join : Want.Needed),
      powBits: this.o.powBits,
    });
    this.sessions.add(session);
    const done = new Promise<Session>((resolve, reject) => {
      const timer = this.clock.setTimeout(
        () => void this.actor.run(() => this.failHandshake(session, new MeshError('TIMEOUT', `handshake timed out after ${this.o.handshakeTimeoutMs} ms`))),
        this.o.handshakeTimeoutMs,
      );
      this.handshakes.set(session, { resolve, reject, timer });
    });
    link.attach({
      frame: (bytes) => void this.actor.run(() => this.onFrame(session, bytes)),
      close: (reason) => void this.actor.run(() => this.onClose(session, reason)),
      drain: () => this.wakeDrainWaiters(session),
    });
    if (options.outbound) session.begin();
    return done;
  }

  private failHandshake(session: Session, err: Error): void {
    const h = this.handshakes.get(session);
    if (!h) return;
    this.handshakes.delete(session);
    h.timer.cancel();
    this.counters.drop(`handshake:${err instanceof MeshError ? err.code : 'error'}`);
    if (session.state !== 'closed') session.close(err.message);
    this.sessions.delete(session);
    h.reject(err);
  }

  private async onFrame(session: Session, bytes: Uint8Array): Promise<void> {
    if (session.state === 'closed') return;
    // Before decoding: a flood must cost us as little as possible.
    const over = this.guard.frame(session, bytes.length, this.clock.now());
    if (over) return this.drop(over);
    session.lastHeard = this.clock.now();
    const decoded = decodeFrame(bytes);
    if (!decoded.ok) {
      this.dropFrom(session, `malformed:${decoded.reason}`);
      if (decoded.reason === 'unknown-version' && session.state === 'hello') {
        session.sendError('VERSION_MISMATCH', 'this node speaks wire version 1');
        this.failHandshake(session, new MeshError('VERSION_MISMATCH', 'the peer speaks an unknown wire version'));
      }
      return;
    }
    const frame = decoded.value;
    if (session.state === 'hello') {
      // The answering side speaks after the dialler's hello, so a full node can refuse before
      // either side spends a signature. The claim is not proven yet; refusing on it costs nothing.
      if (!session.outbound && frame.type === FrameType.Hello && !session.helloSent) {
        const claimed = idFromPublicKey(frame.publicKey);
        if (!this.table.has(toHex(claimed)) && this.roomFor(claimed, frame.want) === 'refuse') {
          session.peer = { id: claimed, idText: toHex(claimed), publicKey: frame.publicKey, addrs: [], caps: [], minor: frame.minor };
          return this.refuseBusy(session);
        }
        // Likewise the per-address cap (checked again on admission: the claim may be a duplicate).
        if (!this.table.has(toHex(claimed)) && this.refuseIfAddressFull(session)) return;
        session.begin();
      }
      try {
        const opened = await session.handshake(frame);
        if (frame.type === FrameType.Hello && session.peer) this.memory.learn(session.peer, this.wall());
        if (opened) this.admit(session);
      } catch (err) {
        if (frame.type === FrameType.Error) {
          for (const p of frame.referrals) this.learn(p);
          if (session.options.expectedId) this.cooldown.set(toHex(session.options.expectedId), this.clock.now() + COOLDOWN_MS);
        }
        this.failHandshake(session, err as Error);
      }
      return;
    }
    // Awaited: a packet's verification and delivery belong to this task, so the actor (and the
    // simulator's clock, which waits for idle actors) sees the work through to its end.
    await this.onOpenFrame(session, frame);
  }

  private dropFrom(session: Session, reason: string): void {
    this.drop(reason);
    session.badFrames++;
    if (session.badFrames >= MAX_BAD_FRAMES && session.state !== 'closed') {
      session.sendError('ABUSE', `too many malformed frames (${session.badFrames})`);
      session.close('too many malformed frames');
    }
  }

  private drop(reason: string): void {
    this.counters.drop(reason);
    this.events.emit('drop', { reason });
  }

  /** Decides whether a freshly authenticated link stays: duplicates and the budget. */
  private admit(session: Session): void {
    const h = this.handshakes.get(session);
    const peer = session.peer!;
    const existing = this.table.get(peer.idText);
    if (existing) {
      // Both sides dialled at once: both keep the link dialled by the smaller id.
      const dialerOf = (s: Session) => (s.outbound ? this.id : peer.idText);
      const keepNew = dialerOf(session) < dialerOf(existing);
      if (!keepNew) {
        session.sendError('DUPLICATE', 'a link between us already exists');
        this.failHandshake(session, new MeshError('HANDSHAKE_FAILED', 'duplicate link'));
        return;
      }
      this.table.remove(peer.idText, existing);
      existing.close('replaced by a duplicate link');
    }
    if (this.refuseIfAddressFull(session)) return;
    const room = this.roomFor(peer.id, session.peerWant);
    if (room === 'refuse') return this.refuseBusy(session);
    if (room !== 'free') this.evict(room);
    if (h) {
      this.handshakes.delete(session);
      h.timer.cancel();
    }
    session.openedAt = this.clock.now();
    this.table.add(session);
    this.refusedBuckets.delete(this.table.bucketOf(peer.id));
    this.cooldown.delete(peer.idText);
    if (this.o.keepaliveMs > 0) this.ping(session); // an rtt in status() from the start, not after the first keepalive
    this.memory.succeeded(peer.idText, this.wall());
    this.scheduleSave();
    this.events.emit('link-up', { id: peer.idText, transport: session.link.transport, outbound: session.outbound });
    if (this.table.size === 1) this.scheduleMaintenance(0); // first link: find our neighbours now
    this.pubsub.resubscribeSoon();
    this.updateNeeds();
    this.askFor(emptyBuckets(this.table), session);
    this.repairSoon();
    h?.resolve(session);
  }

  /** Refuses the handshake when we already keep the most links from the peer's network address. */
  private refuseIfAddressFull(session: Session): boolean {
    const address = networkAddressOf(session.link.remoteAddress);
    if (address === undefined || linksFrom(this.table.all(), address) < this.o.maxLinksPerAddress) return false;
    session.sendError('ADDRESS_LIMIT', `this node keeps at most ${this.o.maxLinksPerAddress} links per network address`);
    this.failHandshake(session, new MeshError('ADDRESS_LIMIT', `${this.o.maxLinksPerAddress} links from ${address} already`));
    return true;
  }

  /**
   * Whether a link to `id`, wanted as `want` by its dialler, fits the budget: 'free', a link to
   * evict for it, or 'refuse'. Spare links only use the budget above the reserve, so needed
   * links rarely evict anything; only a link someone needs may take the place of a link neither
   * side needs, and only a link our own invariant needs may push out one the other side needs.
   */
  private roomFor(id: NodeId, want: WantLevel): 'free' | 'refuse' | Session {
    const weNeed = wouldBeNeeded(this.table, id);
    if (want === Want.Optional && !weNeed) return this.table.size < this.o.linkBudget - RESERVE ? 'free' : 'refuse';
    if (this.table.size < this.o.linkBudget) return 'free';
    return pickEviction(this.table, weNeed || want === Want.Urgent) ?? 'refuse';
  }

  /** Refuses a link for lack of room, pointing the peer at others it could try. */
  private refuseBusy(session: Session): void {
    session.sendError('BUSY', `link budget of ${this.o.linkBudget} is full`, this.referralsFor(session.peer!.id));
    this.failHandshake(session, new MeshError('BUSY', 'link budget is full'));
  }

  private evict(victim: Session): void {
    this.table.remove(victim.peer!.idText, victim);
    this.cooldown.set(victim.peer!.idText, this.clock.now() + COOLDOWN_MS);
    victim.sendError('EVICTED', 'link budget needed for another link', this.referralsFor(victim.peer!.id));
    victim.close('evicted to stay within the link budget');
    this.counters.drop('link:evicted');
  }

  private referralsFor(target: NodeId): PeerInfo[] {
    return this.closestKnown(target, MAX_REFERRALS, false);
  }

  private onClose(session: Session, reason: string): void {
    const h = this.handshakes.get(session);
    if (h) return this.failHandshake(session, new MeshError('LINK_CLOSED', `link closed during handshake: ${reason}`));
    this.sessions.delete(session);
    session.state = 'closed';
    this.wakeDrainWaiters(session);
    const peer = session.peer;
    if (peer && this.table.remove(peer.idText, session)) {
      this.events.emit('link-down', { id: peer.idText, transport: session.link.transport, reason });
      this.updateNeeds();
      this.repairSoon();
      // Losing a link our invariant needed, with nobody in memory to replace it: look around
      // again soon. When memory has a replacement the repair dials it; spares come and go quietly.
      if (this.table.size === 0 || (session.weNeedSent && !this.hasReplacement(peer.id))) {
        this.maintainInterval = FAST_MAINTAIN_MS;
        this.scheduleMaintenance(this.table.size === 0 ? 0 : FAST_MAINTAIN_MS);
      }
    }
  }

  /** Whether memory holds a node, not linked and not failing, in the bucket of `lost`. */
  private hasReplacement(lost: NodeId): boolean {
    const lostText = toHex(lost);
    return this.memory.inBucket(this.table.bucketOf(lost)).some((r) => r.id !== lostText && r.failures === 0 && !this.table.has(r.id));
  }

  private onOpenFrame(session: Session, frame: Frame): void | Promise<void> {
    switch (frame.type) {
      case FrameType.Packet:
        return this.onPacket(session, frame);
      case FrameType.Ping:
        session.sendFrame({ type: FrameType.Pong, n: frame.n });
        return;
      case FrameType.Pong:
        if (session.pingSent?.n === frame.n) {
          session.rttMs = this.clock.now() - session.pingSent.at;
          session.pingSent = undefined;
          this.memory.succeeded(session.peer!.idText, this.wall(), session.rttMs);
        }
        return;
      case FrameType.Need:
        session.peerNeedsUs = frame.need;
        return;
      case FrameType.Ask: {
        const now = this.clock.now();
        // Half the interval the sender keeps: jitter may bring two fair Asks closer together.
        if (session.answeredAskAt !== undefined && now - session.answeredAskAt < ASK_INTERVAL_MS / 2) return this.dropFrom(session, 'ask-too-often');
        session.answeredAskAt = now;
        const peers = peersForAsk(this.table, this.memory, session, frame.buckets);
        if (peers.length > 0) session.sendFrame({ type: FrameType.Tell, peers });
        return;
      }
      case FrameType.Tell: {
        if (session.askedAt === undefined) return this.dropFrom(session, 'unasked-tell');
        session.askedAt = undefined;
        let learned = false;
        for (const p of frame.peers) if (this.learn(p)) learned = true;
        if (learned) this.repairSoon();
        return;
      }
      case FrameType.Error:
        // The peer is refusing or evicting us (the close follows): remember whom it suggests instead.
        for (const p of frame.referrals) this.learn(p);
        this.cooldown.set(session.peer!.idText, this.clock.now() + COOLDOWN_MS);
        return;
      default:
        this.dropFrom(session, 'unexpected-frame');
    }
  }

  /** Tells each peer whether we need its link, when that changed. */
  private updateNeeds(): void {
    for (const s of this.table.all()) {
      const need = neededByUs(this.table, s);
      if (s.weNeedSent !== need) {
        s.weNeedSent = need;
        s.sendFrame({ type: FrameType.Need, need });
      }
    }
  }

  /** Asks `link` for nodes in those of our empty buckets it can know about (see bucket-gaps.ts). */
  private askFor(gaps: number[], link: Session): void {
    if (isLeaf(link) || (link.askedAt !== undefined && this.clock.now() - link.askedAt < ASK_INTERVAL_MS)) return;
    const buckets = gapsBelow(this.table, gaps, link);
    if (buckets.length === 0) return;
    link.askedAt = this.clock.now();
    link.sendFrame({ type: FrameType.Ask, buckets });
  }

  // ---------------------------------------------------------------- dialling

  private dialAddress(addr: string): void {
    if (!this.dialer || this.stopped) return;
    const key = `addr:${addr}`;
    if (this.pendingDials.has(key) || this.coolingDown(key)) return;
    this.pendingDials.add(key);
    this.dialer
      .dialAddress(addr)
      .then((link) => this.addLink(link, { outbound: true, want: this.table.size === 0 ? Want.Join : Want.Needed }))
      .then(
        () => undefined,
        (err: unknown) =>
          this.actor.run(() => {
            this.counters.drop(`dial:${err instanceof MeshError ? err.code : 'error'}`);
            this.cooldown.set(key, this.clock.now() + this.maintainInterval);
          }),
      )
      .finally(() => this.actor.run(() => this.pendingDials.delete(key)));
  }

  private dialPeer(rec: PeerRecord, want: WantLevel, force = false): void {
    if (!this.dialer || this.stopped || this.pendingDials.has(rec.id) || this.table.has(rec.id)) return;
    for (const s of this.sessions) if (s.peer?.idText === rec.id) return; // a handshake with it is under way
    if (!force && this.pendingDials.size >= this.o.maxPendingDials) return;
    if (!this.dialer.canDial(rec)) return;
    this.pendingDials.add(rec.id);
    this.dialer
      .dial(rec)
      .then((link) => this.addLink(link, { outbound: true, expectedId: rec.id, want: this.table.size === 0 ? Want.Join : want }))
      .then(
        () => undefined,
        (err: unknown) =>
          this.actor.run(() => {
            const code = err instanceof MeshError ? err.code : 'error';
            this.counters.drop(`dial:${code}`);
            this.cooldown.set(rec.id, this.clock.now() + COOLDOWN_MS);
            if (code === 'BUSY' && want !== Want.Optional) this.refusedBuckets.add(this.table.bucketOf(rec.idBytes));
            if (code !== 'BUSY' && code !== 'HANDSHAKE_FAILED') this.memory.failed(rec.id);
          }),
      )
      .finally(() =>
        this.actor.run(() => {
          this.pendingDials.delete(rec.id);
          this.repairSoon();
        }),
      );
  }

  private coolingDown = (id: string): boolean => {
    const until = this.cooldown.get(id);
    if (until === undefined) return false;
    if (until > this.clock.now()) return true;
    this.cooldown.delete(id);
    return false;
  };

  private repairQueued = false;
  /** Dials what the routing invariant needs, soon, without waiting for the next maintenance round. */
  private repairSoon(): void {
    if (this.repairQueued || this.stopped) return;
    this.repairQueued = true;
    // A short delay gathers the changes of a burst (links up, dials ending, lookups answered)
    // into one pass over the peer memory instead of one pass each.
    this.clock.setTimeout(() => void this.actor.run(() => ((this.repairQueued = false), this.repair())), REPAIR_DELAY_MS);
  }

  /** Dials missing needed links, and up to `spares` spare links. */
  private repair(spares = 0): void {
    if (this.stopped || !this.dialer) return;
    const wishes = dialWishes({
      table: this.table,
      memory: this.memory,
      budget: this.o.linkBudget,
      pending: this.pendingDials,
      coolingDown: this.coolingDown,
      canDial: (r) => this.dialer!.canDial(r),
      spares: this.maintainInterval >= 4 * FAST_MAINTAIN_MS ? spares : 0,
    });
    for (const { rec, needed } of wishes) {
      if (this.pendingDials.size >= this.o.maxPendingDials) break;
      if (this.table.size + this.pendingDials.size >= this.o.linkBudget && !(needed && pickEviction(this.table, true))) break;
      const urgent = needed && this.refusedBuckets.has(this.table.bucketOf(rec.idBytes));
      this.dialPeer(rec, urgent ? Want.Urgent : needed ? Want.Needed : Want.Optional);
    }
  }

  // ---------------------------------------------------------------- maintenance

  private every(ms: number, fn: () => void | Promise<void>): void {
    const tick = () => {
      if (this.stopped) return;
      void this.actor.run(fn);
      this.timers.push(this.clock.setTimeout(tick, ms));
      if (this.timers.length > 8) this.timers = this.timers.filter((_, i) => i >= this.timers.length - 4);
    };
    this.timers.push(this.clock.setTimeout(tick, ms));
  }

  private scheduleMaintenance(ms: number): void {
    this.maintainTimer?.cancel();
    this.maintainTimer = this.clock.setTimeout(() => void this.actor.run(() => this.maintain()), ms);
  }

  /**
   * One maintenance round: dial what is missing, look up our own id (the neighbour set) and one
   * bucket in turn, and back off while nothing changes.
   */
  private async maintain(): Promise<void> {
    if (this.stopped) return;
    if (this.table.size === 0 && this.pendingDials.size === 0) {
      for (const addr of this.bootstrapAddrs) this.dialAddress(addr);
      for (const rec of this.memory.mostRecentlyUseful(this.o.maxPendingDials)) this.dialPeer(rec, Want.Join);
    }
    this.repair(SPARES_PER_ROUND);
    const gaps = emptyBuckets(this.table);
    const helper = helperFor(this.table, gaps, (n) => Math.floor(this.random.float() * n));
    if (helper) this.askFor(gaps, helper);
    this.pubsub.expire();
    this.scheduleMaintenance(this.maintainInterval);
    // Settling: just started, or lost a link our invariant needed (the interval was reset).
    const settling = this.maintainInterval < this.o.maintainMs;
    this.maintainInterval = Math.min(this.maintainInterval * 2, this.o.maintainMs);
    this.rounds++;
    // A settled node looks around only every fourth round, however much its links change: in a
    // growing mesh others keep linking to it, but newcomers find their neighbours themselves,
    // and lookups by every node on every change made the cost of a join grow with the mesh
    // (14.8 lookups per join at 6 000 nodes, against 2.8 at 1 000).
    if (this.table.size > 0 && (settling || this.rounds % 4 === 0)) {
      await this.lookup(this.identity.id);
      // A bucket refresh finds nodes in buckets we have no link into; with none empty it is
      // only a check for newcomers, which every fourth round is enough for.
      if (gaps.length > 0 || this.rounds % 4 === 0) await this.lookup(randomIdInBucket(this.identity.id, this.bucketToRefresh(), this.random.bytes(32)));
    }
  }

  /** The shallowest bucket without a link (it may hold nodes we do not know), else the next in turn. */
  private bucketToRefresh(): number {
    const depth = this.deepestBucket();
    const counts = this.table.bucketCounts();
    for (let b = 0; b < depth; b++) if (!counts.get(b) && !this.refreshedEmpty.has(b)) return this.refreshedEmpty.add(b), b;
    this.refreshedEmpty.clear();
    return this.refreshCursor++ % (depth + 1);
  }

  private deepestBucket(): number {
    let depth = 0;
    for (const s of this.table.all()) depth = Math.max(depth, this.table.bucketOf(s.peer!.id));
    return Math.min(depth, 255);
  }

  private keepalive(): void {
    const now = this.clock.now();
    for (const s of this.table.all()) {
      if (now - s.lastHeard > 3 * this.o.keepaliveMs) {
        s.close('keepalive timeout');
        continue;
      }
      this.ping(s);
    }
  }

  private ping(s: Session): void {
    s.pingSent = { n: ++this.pingCounter, at: this.clock.now() };
    s.sendFrame({ type: FrameType.Ping, n: s.pingSent.n });
  }

  private scheduleSave(): void {
    if (!this.store || this.saveTimer || this.stopped) return;
    this.saveTimer = this.clock.setTimeout(() => {
      this.saveTimer = undefined;
      void this.save();
    }, this.o.saveDelayMs);
  }

  /** Writes peer memory to the store now (if it changed). */
  async save(): Promise<void> {
    if (!this.store || !this.memory.dirty) return;
    this.memory.dirty = false;
    await this.store.save(this.memory.toStored());
  }

  private learn(info: PeerInfo): PeerRecord | undefined {
    const known = this.memory.size;
    const rec = this.memory.learn(info, this.wall());
    if (rec && this.memory.size > known) {
      this.events.emit('peer-learned', { id: rec.id });
      this.scheduleSave();
    }
    return rec;
  }

  // ---------------------------------------------------------------- packets

  private async onPacket(from: Session, p: PacketFrame): Promise<void> {
    const over = this.guard.packet(toHex(p.src), this.clock.now());
    if (over) return this.drop(over);
    const dstIsSelf = toHex(p.dst) === this.id;
    // Lookups leave breadcrumbs so their answer can retrace the path, even to a node that is
    // still joining and that greedy routing cannot reach yet.
    if (p.kind === PacketKind.Lookup) this.crumbs.set(crumbKey(p.src, p.id), from);
    // Every packet leaves a crumb per source, so what answers it (a reply, a WebRTC answer) can
    // retrace its path to a node that greedy routing alone cannot reach.
    this.crumbs.set(crumbKey(p.src), from);
    if (!dstIsSelf && !HOP_BY_HOP_KINDS.has(p.kind)) {
      const next = this.nextHopFor(p);
      if (next) return this.forward(p, next);
      if (!ANYCAST_KINDS.has(p.kind)) return this.drop('no-route');
    }
    await this.deliver(p, from);
  }

  /** Greedy next hop; answers to lookups prefer the breadcrumb their lookup left. */
  private nextHopFor(p: Pick<PacketFrame, 'src' | 'dst' | 'id' | 'kind'>): Session | undefined {
    if (p.kind === PacketKind.Found) {
      // Taken, not read: should the answer ever come back here, it goes on greedily, so
      // breadcrumbs and greedy steps cannot chase each other in a loop.
      const crumb = this.crumbs.take(crumbKey(p.dst, p.id));
      if (crumb && crumb.state === 'open') return crumb;
    }
    if (p.kind === PacketKind.Lookup) {
      // A lookup asks for the closest node *other than its source*: its source never answers it.
      const src = toHex(p.src);
      return this.table.nextHop(p.dst, src, src === this.id);
    }
    if (ANYCAST_KINDS.has(p.kind)) return this.table.nextHop(p.dst);
    return this.unicastHop(p);
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
   * bounds the rare path that mixes crumbs and greedy steps.
   */
  private unicastHop(p: Pick<PacketFrame, 'src' | 'dst' | 'kind'>): Session | undefined {
    const src = toHex(p.src);
    const dst = toHex(p.dst);
    if (dst === this.id) return undefined;
    const direct = this.table.get(dst);
    if (direct) return direct;
    const c = this.crumbs.get(crumbKey(p.dst));
    const crumb = c && c.state === 'open' && c.peer?.idText !== src ? c : undefined;
    if (crumb && RETRACING_KINDS.has(p.kind)) return crumb;
    const greedy = src === this.id ? this.table.nextHop(p.dst) : this.table.nextHop(p.dst, src);
    if (greedy) return greedy;
    if (crumb) return crumb;
    if (src !== this.id) return undefined;
    const links = [...this.table.all()].sort((a, b) => compareDistance(a.peer!.id, b.peer!.id, p.dst));
    return links.find((s) => s.peer!.addrs.length > 0) ?? links[0];
  }

  private forward(p: PacketFrame, next: Session): void {
    if (p.hops <= 1) return this.drop('hop-limit');
    if (next.link.bufferedAmount > CONGESTED_BYTES) return this.drop('congested');
    next.sendFrame({ ...p, hops: p.hops - 1 });
    this.counters.forwarded++;
  }

  /** Signs and routes a packet of ours; delivers it locally when we are its destination. */
  private async originate(dst: NodeId, kind: number, payload: Uint8Array, packetId?: number): Promise<void> {
    if (this.stopped) throw MeshError.stopped();
    if (payload.length > MAX_PAYLOAD_BYTES + 1024) throw MeshError.payloadTooLarge(payload.length, MAX_PAYLOAD_BYTES);
    const id = packetId ?? this.nextPacketId();
    const packet = await createPacket(this.identity, dst, kind, payload, id, DEFAULT_HOP_LIMIT);
    this.counters.sent++;
    const next = this.nextHopFor(packet);
    if (next) {
      if (next.link.bufferedAmount > CONGESTED_BYTES) throw new MeshError('CONGESTED', 'the first link toward the destination is congested');
      next.sendFrame(packet);
      return;
    }
    if (toHex(dst) === this.id || ANYCAST_KINDS.has(kind)) return this.deliver(packet, undefined);
    this.drop('no-route');
    throw MeshError.unreachable(toHex(dst));
  }

  private async deliver(p: PacketFrame, from: Session | undefined): Promise<void> {
    const src = toHex(p.src);
    if (from) {
      if (!this.seen.add(`${src}:${p.id}:${p.kind}`)) return this.drop('duplicate');
      const bad = await verifyPacket(p);
      if (bad) return this.drop(bad);
    }
    // Links crossed: the first link does not lower the hop limit, each forward does; 0 when local.
    const hops = from ? Math.max(1, DEFAULT_HOP_LIMIT - p.hops + 1) : 0;
    let sealed = false;
    if (SEALABLE_KINDS.has(p.kind)) {
      const opened = await this.e2e.open(p, from !== undefined);
      if (typeof opened === 'string') return this.drop(opened);
      sealed = opened.sealed;
      p = { ...p, payload: opened.payload };
    }
    this.counters.delivered++;
    switch (p.kind) {
      case PacketKind.Data: {
        const d = Payload.data.decode(p.payload);
        if (!d) return this.drop('bad-payload');
        const m: Message = { from: src, data: d.data, port: d.port, hops };
        if (this.messageListeners.size === 0) return this.drop('no-listener');
        for (const fn of this.messageListeners) safeCall(() => fn(m));
        return;
      }
      case PacketKind.Request:
        return this.onRequest(src, p, hops, sealed);
      case PacketKind.ReliableData:
        return this.onReliableData(src, p, hops);
      case PacketKind.Ack: {
        const a = Payload.ack.decode(p.payload);
        if (!a) return this.drop('bad-payload');
        if (!this.reliableOut.ack(src, a.messageId)) this.drop('late-ack');
        return;
      }
      case PacketKind.KeyRequest:
        return this.e2e.onKeyRequest(p);
      case PacketKind.KeyReply:
        return this.e2e.onKeyReply(p);
      case PacketKind.Response: {
        const r = Payload.response.decode(p.payload);
        if (!r) return this.drop('bad-payload');
        if (!this.requests.answer(src, r.requestId, r.ok, r.data)) this.drop('late-response');
        return;
      }
      case PacketKind.Lookup: {
        const l = Payload.lookup.decode(p.payload);
        if (!l) return this.drop('bad-payload');
        if (src === this.id) return void this.lookups.answer(src, l.requestId, true, new Uint8Array(0)); // we are the closest
        const peers = this.closestKnown(p.dst, MAX_FOUND, true);
        // The answer reuses the lookup's packet id: that is how it finds the breadcrumbs.
        return this.originate(p.src, PacketKind.Found, Payload.found.encode({ requestId: l.requestId, peers }), p.id).catch(() => {});
      }
      case PacketKind.Found: {
        const f = Payload.found.decode(p.payload);
        if (!f) return this.drop('bad-payload');
        let learned = false;
        const closest = this.table.closest(this.identity.id, 1)[0]?.peer?.id;
        let closer = false;
        for (const peer of f.peers) {
          const rec = this.learn(peer);
          if (!rec) continue;
          learned = true;
          if (closest && !this.table.has(rec.id) && compareDistance(rec.idBytes, closest, this.identity.id) < 0) closer = true;
        }
        this.lookups.answer(src, f.requestId, true, new Uint8Array(0));
        if (learned) this.repairSoon();
        // Someone closer to us than any link: we have not found our neighbours yet, so ask again.
        if (closer && !this.selfLookupQueued && this.maintainInterval < this.o.maintainMs) {
          this.selfLookupQueued = true;
          this.clock.setTimeout(() => void this.actor.run(async () => ((this.selfLookupQueued = false), await this.lookup(this.identity.id))), 500);
        }
        return;
      }
      case PacketKind.Subscribe:
        return this.pubsub.onSubscribe(src, p);
      case PacketKind.Publish:
        return this.pubsub.onPublish(p);
      case PacketKind.PublishDown: {
        const d = Payload.publishDown.decode(p.payload);
        const inner = d && decodeFrame(d.inner);
        if (!inner || !inner.ok || inner.value.type !== FrameType.Packet || inner.value.kind !== PacketKind.Publish) return this.drop('bad-payload');
        const bad = await verifyPacket(inner.value);
        if (bad) return this.drop(`publication:${bad}`);
        return this.pubsub.fanOut(inner.value);
      }
      case PacketKind.Signal: {
        const s = Payload.signal.decode(p.payload);
        if (!s) return this.drop('bad-payload');
        if (!this.signalHandler) return this.drop('no-signal-handler');
        safeCall(() => this.signalHandler!(src, s.body));
        return;
      }
      default:
        this.drop('unknown-kind');
    }
  }

  /** Peer infos closest to `target` from our links and memory, plus ourselves and, for lookups, one link per bucket. */
  private closestKnown(target: NodeId, max: number, forLookup: boolean): PeerInfo[] {
    const infos = new Map<string, { text: string; id: NodeId; info: PeerInfo }>();
    for (const s of this.table.all()) infos.set(s.peer!.idText, { text: s.peer!.idText, id: s.peer!.id, info: s.peer! });
    for (const r of this.memory.all()) if (!infos.has(r.id) && r.failures === 0) infos.set(r.id, { text: r.id, id: r.idBytes, info: r });
    const sorted = [...infos.values()].sort((a, b) => compareDistance(a.id, b.id, target));
    const out: PeerInfo[] = [];
    const picked = new Set<string>();
    const pick = (id: string, info: PeerInfo) => {
      if (out.length >= max || picked.has(id)) return;
      picked.add(id);
      out.push({ publicKey: info.publicKey, addrs: info.addrs, caps: info.caps });
    };
    if (forLookup) {
      pick(this.id, { publicKey: this.identity.publicKey, addrs: this.o.addrs, caps: this.o.caps });
      for (const x of sorted.slice(0, 8)) pick(x.text, x.info);
      // The requester shares our prefix, so our links in each bucket sit in its buckets too.
      const perBucket = new Set<number>();
      for (const s of this.table.all()) {
        const b = this.table.bucketOf(s.peer!.id);
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

  // ---------------------------------------------------------------- services: datagrams and requests

  /**
   * Sends a datagram to `to` (a node id) on `port`. Resolves once it has left this node; with
   * `reliable`, once `to` acknowledged it (delivered at most once), else rejects with TIMEOUT
   * after `deadlineMs`. The first send to a node waits for its encryption key (one round trip).
   */
  send(to: string, data: AppData, options: { port?: number; reliable?: boolean; deadlineMs?: number } = {}): Promise<void> {
    const dst = this.checkTarget(to);
    const port = checkPort(options.port ?? 0);
    checkData(data);
    if (!options.reliable) return this.originateSealed(dst, PacketKind.Data, Payload.data.encode({ port, data }), this.o.requestTimeoutMs);
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    if (!(deadlineMs > 0 && deadlineMs <= MAX_DEADLINE_MS)) throw MeshError.invalid(`deadlineMs must be from 1 to ${MAX_DEADLINE_MS}`);
    const messageId = this.reliableOut.nextId();
    const plaintext = Payload.reliableData.encode({ port, messageId, data });
    return this.reliableOut.send(toHex(dst), messageId, deadlineMs, (remaining) =>
      this.originateSealed(dst, PacketKind.ReliableData, plaintext, Math.min(remaining, RELIABLE_KEY_WAIT_MS)),
    );
  }

  /**
   * Seals an application payload for `dst` (when both ends encrypt) and routes it. Runs outside
   * the actor, because the first packet to a node waits for its key, which arrives through it.
   * `inKind` answers a plaintext request in plaintext.
   */
  private async originateSealed(dst: NodeId, kind: number, plaintext: Uint8Array, keyWaitMs: number, inKind?: 'plaintext'): Promise<void> {
    const how = await this.e2e.sealingFor(dst, keyWaitMs, inKind);
    // While the first link toward `dst` holds more than CONGESTED_BYTES, wait for it to drain
    // (outside the actor): an application sending faster than the link carries is slowed down,
    // not refused. The check and the send share one actor turn, so concurrent sends cannot all
    // pass the check and then overfill the link. CONGESTED only when it stays full for the
    // request timeout (a peer that stopped reading).
    const deadline = this.clock.now() + this.o.requestTimeoutMs;
    for (;;) {
      const full = await this.actor.run(async () => {
        const next = this.unicastHop({ src: this.identity.id, dst, kind });
        if (next && next.state !== 'closed' && next.link.bufferedAmount > CONGESTED_BYTES) return next;
        await this.originate(dst, kind, await this.e2e.seal(this.identity.id, dst, kind, plaintext, how));
        return undefined;
      });
      if (!full) return;
      if (this.clock.now() >= deadline) throw new MeshError('CONGESTED', `the first link toward ${shortId(toHex(dst))} stayed full for ${this.o.requestTimeoutMs} ms`);
      await this.drainOf(full);
    }
  }

  /** Resolves when `session` drains, or after DRAIN_POLL_MS for transports that report no drain. */
  private drainOf(session: Session): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(resolve, DRAIN_POLL_MS);
      const waiters = this.drainWaiters.get(session) ?? [];
      waiters.push(() => (timer.cancel(), resolve()));
      this.drainWaiters.set(session, waiters);
    });
  }

  private wakeDrainWaiters(session: Session): void {
    const waiters = this.drainWaiters.get(session);
    if (!waiters) return;
    this.drainWaiters.delete(session);
    for (const wake of waiters) wake();
  }

  private onReliableData(src: string, p: PacketFrame, hops: number): void | Promise<void> {
    const d = Payload.reliableData.decode(p.payload);
    if (!d) return this.drop('bad-payload');
    const ack = () => this.originate(p.src, PacketKind.Ack, Payload.ack.encode({ messageId: d.messageId })).catch(() => this.drop('ack-unroutable'));
    if (this.reliableIn.has(src, d.messageId)) {
      // A copy of a message already delivered: its ack was lost or is still on its way. Ack again.
      this.drop('duplicate-reliable');
      return ack();
    }
    // Not acknowledged, so the sender tries again: a listener may be there by then.
    if (this.messageListeners.size === 0) return this.drop('no-listener');
    if (!this.reliableIn.record(src, d.messageId)) return this.drop('reliable-window-full');
    const m: Message = { from: src, data: d.data, port: d.port, hops };
    for (const fn of this.messageListeners) safeCall(() => fn(m));
    return ack();
  }

  /** Listens to datagrams on every port. Returns a function that stops listening. */
  onMessage(fn: (m: Message) => void): () => void {
    this.messageListeners.add(fn);
    return () => void this.messageListeners.delete(fn);
  }

  /** Answers requests on `port` with `fn`'s return value (or its error). Returns an unregister function. */
  handle(port: number, fn: RequestHandler): () => void {
    checkPort(port);
    if (this.handlers.has(port)) throw MeshError.invalid(`port ${port} already has a handler`);
    this.handlers.set(port, fn);
    return () => {
      if (this.handlers.get(port) === fn) this.handlers.delete(port);
    };
  }

  /** Sends a request and resolves with the reply; rejects with MeshError TIMEOUT when none comes. */
  request(to: string, data: AppData, options: { port?: number; timeoutMs?: number } = {}): Promise<AppData> {
    const dst = this.checkTarget(to);
    const port = checkPort(options.port ?? 0);
    checkData(data);
    const timeoutMs = options.timeoutMs ?? this.o.requestTimeoutMs;
    if (!(timeoutMs > 0)) throw MeshError.invalid('timeoutMs must be positive');
    return this.actor
      .run(() => this.requests.open(toHex(dst), timeoutMs, `request to ${shortId(to)} port ${port}`))
      .then(({ requestId, reply }) => {
        // The key exchange, when this is the first packet to `to`, counts within the timeout.
        this.originateSealed(dst, PacketKind.Request, Payload.request.encode({ port, requestId, data }), timeoutMs).catch((err: unknown) =>
          this.actor.run(() => this.requests.fail(requestId, err as Error)),
        );
        return reply;
      });
  }

  private onRequest(src: string, p: PacketFrame, hops: number, sealed: boolean): void {
    const r = Payload.request.decode(p.payload);
    if (!r) return this.drop('bad-payload');
    const handler = this.handlers.get(r.port);
    if (!handler) return this.drop('no-handler');
    // Answered in kind: sealed to a sealed request (its sender's key came with it), else in the clear.
    const reply = (ok: boolean, data: AppData) =>
      this.originateSealed(p.src, PacketKind.Response, Payload.response.encode({ requestId: r.requestId, ok, data }), this.o.requestTimeoutMs, sealed ? undefined : 'plaintext').catch(() =>
        this.actor.run(() => this.drop('reply-unroutable')),
      );
    // The handler runs outside the actor: a slow handler must not stall the node.
    Promise.resolve()
      .then(() => handler({ from: src, data: r.data, port: r.port, hops }))
      .then(
        (data) => reply(true, data ?? new Uint8Array(0)),
        (err: unknown) => reply(false, err instanceof Error ? err.message : String(err)),
      );
  }

  // ---------------------------------------------------------------- services: lookups

  /**
   * Routes a lookup to the node closest to `target`. Resolves once it has left this node (the
   * answer, a Found packet, is learned from whenever it comes).
   */
  private async lookup(target: NodeId): Promise<void> {
    // The answer comes from whichever node turns out closest: any sender may answer.
    const { requestId, reply } = this.lookups.open(undefined, 10_000, 'lookup');
    reply.catch(() => undefined);
    await this.originate(target, PacketKind.Lookup, Payload.lookup.encode({ requestId })).catch((err) => this.lookups.fail(requestId, err as Error));
  }

  // ---------------------------------------------------------------- services: publish/subscribe (pubsub.ts)

  /** Receives every publication on `topic` from now on. Returns an unsubscribe function. */
  subscribe(topic: string, fn: (m: TopicMessage) => void): () => void {
    return this.pubsub.subscribe(topic, fn);
  }

  /** Publishes to every subscriber of `topic`. */
  publish(topic: string, data: AppData): Promise<void> {
    return this.pubsub.publish(topic, data);
  }

  private nextPacketId(): number {
    return Math.floor(this.random.float() * 2 ** 48);
  }

  // ---------------------------------------------------------------- signalling

  /** Receives WebRTC signalling (or any small control text) sent to this node over the mesh. */
  onSignal(fn: SignalHandler): void {
    this.signalHandler = fn;
  }

  sendSignal(to: string, body: string): Promise<void> {
    const dst = this.checkTarget(to);
    return this.actor.run(() => this.originate(dst, PacketKind.Signal, Payload.signal.encode({ body })));
  }

  // ---------------------------------------------------------------- observation

  status(): NodeStatus {
    return {
      id: this.id,
      addrs: this.o.addrs,
      links: [...this.table.all()].map((s) => ({
        id: s.peer!.idText,
        transport: s.link.transport,
        rttMs: s.rttMs ?? null,
        outbound: s.outbound,
        bucket: this.table.bucketOf(s.peer!.id),
        peerNeedsUs: s.peerNeedsUs,
        addrs: s.peer!.addrs,
        bufferedBytes: s.link.bufferedAmount,
      })),
      knownPeers: this.memory.size,
      linkBudget: this.o.linkBudget,
      topics: this.pubsub.topicCount,
      counters: this.counters.toJSON(),
      e2e: this.e2e.status(),
    };
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

/** A breadcrumb's key: the first 8 bytes of an id (plus a lookup's packet id), as hex. */
function crumbKey(id: NodeId, packetId?: number): string {
  const prefix = toHex(id.subarray(0, 8));
  return packetId === undefined ? prefix : `${prefix}:${packetId}`;
}
