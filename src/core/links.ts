/**
 * Links: handshakes, and which authenticated links a node keeps. Every frame of every link
 * comes in here first; packets go on to forwarding, link control (ping, need, ask/tell) is
 * answered here. Admission applies the link budget (link-policy.ts) and the per-address cap.
 */
import { toHex } from './bytes.js';
import type { Clock, Random, TimerHandle } from './clock.js';
import { decodeFrame, FrameType, Want, type Frame, type KeyCard, type PacketFrame, type PeerInfo, type WantLevel } from './codec.js';
import type { Counters } from './counters.js';
import type { Emitter } from './emitter.js';
import { MeshError } from './errors.js';
import { idFromPublicKey, idFromText, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import type { Link } from './link.js';
import { emptyBuckets, gapsBelow, peersForAsk } from './bucket-gaps.js';
import { neededLinks, pickEviction, RESERVE, wouldBeNeeded } from './link-policy.js';
import { linksFrom, networkAddressOf } from './address-limit.js';
import type { NodeSettings } from './node-settings.js';
import type { LinkOptions, NodeEvents } from './node-types.js';
import type { PeerMemory, PeerRecord } from './peer-memory.js';
import type { FloodGuard } from './rate-limit.js';
import { Liveness } from './liveness.js';
import { isLeaf, type RoutingTable } from './routing-table.js';
import { Session, type SessionOptions } from './session.js';
import { FAST_MAINTAIN_MS, type Maintenance } from './maintenance.js';
import { IDLE_REASON, IdleLinks } from './idle-links.js';

const MAX_BAD_FRAMES = 16;
/** How long a link replaced by a duplicate stays open for packets already on their way. */
const RETIRE_MS = 2_000;
/** A peer's Asks are answered at most this often. */
const ASK_INTERVAL_MS = 1_000;

/** What link handling needs of its node. */
export interface LinksHost {
  identity: Identity;
  clock: Clock;
  random: Random;
  table: RoutingTable;
  memory: PeerMemory;
  counters: Counters;
  events: Emitter<NodeEvents>;
  guard: FloodGuard;
  settings: NodeSettings;
  /** Cooldowns, repairs and the pace of maintenance rounds. */
  maintenance: Pick<Maintenance, 'coolDown' | 'linked' | 'moved' | 'schedule' | 'hurry' | 'repairSoon'>;
  wall(): number;
  run<T>(task: () => T | Promise<T>): Promise<T>;
  drop(reason: string): void;
  /** Puts a peer into memory. */
  learn(info: PeerInfo): PeerRecord | undefined;
  scheduleSave(): void;
  /** A packet arrived on an open link (forwarding.ts). */
  onPacket(from: Session, p: PacketFrame): Promise<void>;
  /** A link's send buffer drained: wakes senders waiting for it. */
  drained(session: Session): void;
  /** Idle WebRTC links (idle-links.ts). */
  idle: IdleLinks;
  /** A link came up: subscriptions may take a better way now. */
  resubscribeSoon(): void;
  /** Nodes to suggest to a peer we refuse or evict. */
  referralsFor(target: NodeId): PeerInfo[];
  /** Our key card, given to each peer with our proof (key-cards.ts). */
  card(): Promise<KeyCard | undefined>;
}

interface Handshake {
  resolve: (s: Session) => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
}

export class Links {
  private readonly sessions = new Set<Session>();
  private readonly handshakes = new Map<Session, Handshake>();
  private readonly id: string;
  /** Keepalive probes and the dead-peer bound (liveness.ts); absent with keepaliveMs 0. */
  private readonly liveness?: Liveness;

  constructor(private readonly host: LinksHost) {
    this.id = host.identity.idText;
    if (host.settings.keepaliveMs > 0) this.liveness = new Liveness({ clock: host.clock, run: (task) => void host.run(task), links: () => host.table.all() }, host.settings.keepaliveMs);
  }

  /** Whether a session with this peer exists (a handshake under way, or a link). */
  hasSession(id: string): boolean {
    for (const s of this.sessions) if (s.peer?.idText === id) return true;
    return false;
  }

  closeAll(reason: string): void {
    this.liveness?.stop();
    for (const s of [...this.sessions]) s.close(reason);
  }

  /** Starts the handshake on a fresh link (call inside the actor); settles once it is admitted or refused. */
  startSession(link: Link, options: LinkOptions): Promise<Session> {
    const { settings } = this.host;
    const session = new Session(link, options.prepared ?? this.sessionOptions(options));
    this.sessions.add(session);
    const done = new Promise<Session>((resolve, reject) => {
      const timer = this.host.clock.setTimeout(
        () => void this.host.run(() => this.failHandshake(session, new MeshError('TIMEOUT', `handshake timed out after ${settings.handshakeTimeoutMs} ms`))),
        settings.handshakeTimeoutMs,
      );
      this.handshakes.set(session, { resolve, reject, timer });
    });
    link.attach({
      frame: (bytes) => void this.host.run(() => this.onFrame(session, bytes)),
      close: (reason) => void this.host.run(() => this.onClose(session, reason)),
      drain: () => this.host.drained(session),
    });
    if (options.outbound) session.begin();
    return done;
  }

  /**
   * A session's options, nonce included. Made before a dial when the dialer asks for the hello
   * (it goes in a WebSocket's upgrade request), so the session then sends those very bytes.
   */
  sessionOptions(options: LinkOptions): SessionOptions {
    const { settings, table } = this.host;
    return {
      identity: this.host.identity,
      nonce: this.host.random.bytes(32),
      caps: settings.caps,
      addrs: settings.addrs,
      expectedId: options.expectedId ? idFromText(options.expectedId) : undefined,
      outbound: options.outbound,
      want: options.want ?? (table.size === 0 ? Want.Join : Want.Needed),
      powBits: settings.powBits,
      card: this.host.card,
    };
  }

  private failHandshake(session: Session, err: Error): void {
    const h = this.handshakes.get(session);
    if (!h) return;
    this.handshakes.delete(session);
    h.timer.cancel();
    this.host.counters.drop(`handshake:${err instanceof MeshError ? err.code : 'error'}`);
    if (session.state !== 'closed') session.close(err.message);
    this.sessions.delete(session);
    h.reject(err);
  }

  private async onFrame(session: Session, bytes: Uint8Array): Promise<void> {
    if (session.state === 'closed') return;
    const { clock, table } = this.host;
    // Before decoding: a flood must cost us as little as possible.
    const over = this.host.guard.frame(session, bytes.length, clock.now());
    if (over) return this.host.drop(over);
    session.lastHeard = clock.now();
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
        if (!table.has(toHex(claimed)) && this.roomFor(claimed, frame.want) === 'refuse') {
          session.peer = { id: claimed, idText: toHex(claimed), publicKey: frame.publicKey, addrs: [], caps: [], minor: frame.minor };
          return this.refuseBusy(session);
        }
        // Likewise the per-address cap (checked again on admission: the claim may be a duplicate).
        if (!table.has(toHex(claimed)) && this.refuseIfAddressFull(session)) return;
        session.begin();
      }
      try {
        const opened = await session.handshake(frame);
        if (frame.type === FrameType.Hello && session.peer) this.host.memory.learn(session.peer, this.host.wall());
        if (opened) this.admit(session);
      } catch (err) {
        if (frame.type === FrameType.Error) {
          for (const p of frame.referrals) this.host.learn(p);
          if (session.options.expectedId) this.host.maintenance.coolDown(toHex(session.options.expectedId), frame.code);
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
    this.host.drop(reason);
    session.badFrames++;
    if (session.badFrames >= MAX_BAD_FRAMES && session.state !== 'closed') {
      session.sendError('ABUSE', `too many malformed frames (${session.badFrames})`);
      session.close('too many malformed frames');
    }
  }

  /** Decides whether a freshly authenticated link stays: duplicates and the budget. */
  private admit(session: Session): void {
    const { table, maintenance } = this.host;
    const h = this.handshakes.get(session);
    const peer = session.peer!;
    const existing = table.get(peer.idText);
    if (existing) {
      // Both sides dialled at once: both keep the link dialled by the smaller id.
      const dialerOf = (s: Session) => (s.outbound ? this.id : peer.idText);
      const keepNew = dialerOf(session) < dialerOf(existing);
      if (!keepNew) {
        // The peer dialled both: the open one may be dead (liveness.ts probeNow says why).
        if (!session.outbound && !existing.outbound) this.liveness?.probeNow(existing);
        session.sendError('DUPLICATE', 'a link between us already exists');
        this.failHandshake(session, new MeshError('DUPLICATE', 'a link between us already exists'));
        return;
      }
      table.remove(peer.idText, existing);
      this.retire(existing);
    }
    if (this.refuseIfAddressFull(session)) return;
    const room = this.roomFor(peer.id, session.peerWant);
    if (room === 'refuse') return this.refuseBusy(session);
    if (room !== 'free') this.evict(room);
    if (h) {
      this.handshakes.delete(session);
      h.timer.cancel();
    }
    session.openedAt = this.host.clock.now();
    table.add(session);
    maintenance.linked(peer.idText, table.bucketOf(peer.id));
    // An rtt in status() from the start, not after the first probe; and the liveness timer covers the new link.
    this.liveness?.ping(session);
    this.liveness?.watch();
    this.host.idle.linked(peer.idText);
    // The hello is proven now: its addresses and capabilities replace what others told us.
    this.host.memory.learn(peer, this.host.wall(), true);
    this.host.memory.succeeded(peer.idText, this.host.wall());
    this.host.scheduleSave();
    this.host.events.emit('link-up', { id: peer.idText, transport: session.link.transport, outbound: session.outbound });
    if (table.size === 1) maintenance.schedule(0); // first link: find our neighbours now
    this.host.resubscribeSoon();
    this.updateNeeds();
    this.askFor(emptyBuckets(table), session);
    maintenance.repairSoon();
    h?.resolve(session);
  }

  /**
   * A link replaced by a duplicate carries nothing new from us, but stays open a while for what
   * the peer sent on it before it made the same choice: closing it at once lost those packets.
   */
  private retire(session: Session): void {
    this.host.clock.setTimeout(() => void this.host.run(() => session.state !== 'closed' && session.close('replaced by a duplicate link')), RETIRE_MS);
  }

  /** Refuses the handshake when we already keep the most links from the peer's network address. */
  private refuseIfAddressFull(session: Session): boolean {
    const max = this.host.settings.maxLinksPerAddress;
    const address = networkAddressOf(session.link.remoteAddress);
    if (address === undefined || linksFrom(this.host.table.all(), address) < max) return false;
    session.sendError('ADDRESS_LIMIT', `this node keeps at most ${max} links per network address`);
    this.failHandshake(session, new MeshError('ADDRESS_LIMIT', `${max} links from ${address} already`));
    return true;
  }

  /**
   * Whether a link to `id`, wanted as `want` by its dialler, fits the budget: 'free', a link to
   * evict for it, or 'refuse'. Spare links only use the budget above the reserve, so needed
   * links rarely evict anything; only a link someone needs may take the place of a link neither
   * side needs, and only a link our own invariant needs may push out one the other side needs.
   */
  private roomFor(id: NodeId, want: WantLevel): 'free' | 'refuse' | Session {
    const table = this.host.table;
    const budget = this.host.settings.linkBudget;
    const weNeed = wouldBeNeeded(table, id);
    if (want === Want.Optional && !weNeed) return table.size < budget - RESERVE ? 'free' : 'refuse';
    if (table.size < budget) return 'free';
    return pickEviction(table, weNeed || want === Want.Urgent) ?? 'refuse';
  }

  /** Refuses a link for lack of room, pointing the peer at others it could try. */
  private refuseBusy(session: Session): void {
    session.sendError('BUSY', `link budget of ${this.host.settings.linkBudget} is full`, this.host.referralsFor(session.peer!.id));
    this.failHandshake(session, new MeshError('BUSY', 'link budget is full'));
  }

  private evict(victim: Session): void {
    this.host.table.remove(victim.peer!.idText, victim);
    this.host.maintenance.coolDown(victim.peer!.idText);
    victim.sendError('EVICTED', 'link budget needed for another link', this.host.referralsFor(victim.peer!.id));
    victim.close('evicted to stay within the link budget');
    this.host.counters.drop('link:evicted');
  }

  private onClose(session: Session, reason: string): void {
    const h = this.handshakes.get(session);
    if (h) return this.failHandshake(session, new MeshError('LINK_CLOSED', `link closed during handshake: ${reason}`));
    const table = this.host.table;
    this.sessions.delete(session);
    session.state = 'closed';
    this.host.drained(session);
    const peer = session.peer;
    if (peer && table.remove(peer.idText, session)) {
      // Before the repair: a peer whose link closed as idle rests, and is not dialled again.
      const idle = this.host.idle.closed(session, reason);
      this.host.events.emit('link-down', { id: peer.idText, transport: session.link.transport, reason });
      this.host.maintenance.moved();
      this.updateNeeds();
      this.host.maintenance.repairSoon();
      // Losing a link our invariant needed, with nobody in memory to replace it: look around
      // again soon. When memory has a replacement the repair dials it; spares come and go quietly.
      // A resting peer keeps its place in the wishes (link-policy.ts): nothing to look for.
      if (table.size === 0 || (!idle && session.weNeedSent && !this.hasReplacement(peer.id))) {
        this.host.maintenance.hurry(table.size === 0 ? 0 : FAST_MAINTAIN_MS);
      }
    }
  }

  /** Whether memory holds a node, not linked and not failing, in the bucket of `lost`. */
  private hasReplacement(lost: NodeId): boolean {
    const { table, memory } = this.host;
    const lostText = toHex(lost);
    return memory.inBucket(table.bucketOf(lost)).some((r) => r.id !== lostText && r.failures === 0 && !table.has(r.id));
  }

  private onOpenFrame(session: Session, frame: Frame): void | Promise<void> {
    switch (frame.type) {
      case FrameType.Packet:
        IdleLinks.carried(session, frame.kind, this.host.clock.now());
        return this.host.onPacket(session, frame);
      case FrameType.Rest:
        return this.host.idle.onRest(session);
      case FrameType.Ping:
        session.sendFrame({ type: FrameType.Pong, n: frame.n });
        return;
      case FrameType.Pong:
        if (session.pingSent?.n === frame.n) {
          session.rttMs = this.host.clock.now() - session.pingSent.at;
          session.pingSent = undefined;
          this.host.memory.succeeded(session.peer!.idText, this.host.wall(), session.rttMs);
        }
        return;
      case FrameType.Need:
        session.peerNeedsUs = frame.need;
        return;
      case FrameType.Ask: {
        const now = this.host.clock.now();
        // Half the interval the sender keeps: jitter may bring two fair Asks closer together.
        if (session.answeredAskAt !== undefined && now - session.answeredAskAt < ASK_INTERVAL_MS / 2) return this.dropFrom(session, 'ask-too-often');
        session.answeredAskAt = now;
        const peers = peersForAsk(this.host.table, this.host.memory, session, frame.buckets);
        if (peers.length > 0) session.sendFrame({ type: FrameType.Tell, peers });
        return;
      }
      case FrameType.Tell: {
        if (session.askedAt === undefined) return this.dropFrom(session, 'unasked-tell');
        session.askedAt = undefined;
        let learned = false;
        for (const p of frame.peers) if (this.host.learn(p)) learned = true;
        if (learned) this.host.maintenance.repairSoon();
        return;
      }
      case FrameType.Error:
        // The peer is refusing or evicting us (the close follows): remember whom it suggests instead.
        for (const p of frame.referrals) this.host.learn(p);
        // An idle close: the peer rests (not dialled, no cooldown needed).
        if (frame.code === IDLE_REASON) this.host.idle.heardIdle(session);
        else this.host.maintenance.coolDown(session.peer!.idText, frame.code);
        return;
      default:
        this.dropFrom(session, 'unexpected-frame');
    }
  }

  /** Tells each peer whether we need its link, when that changed. */
  private updateNeeds(): void {
    const needed = neededLinks(this.host.table);
    for (const s of this.host.table.all()) {
      const need = needed.has(s);
      if (s.weNeedSent !== need) {
        s.weNeedSent = need;
        s.sendFrame({ type: FrameType.Need, need });
      }
    }
  }

  /** Asks `link` for nodes in those of our empty buckets it can know about (see bucket-gaps.ts). */
  askFor(gaps: number[], link: Session): void {
    const now = this.host.clock.now();
    if (isLeaf(link) || (link.askedAt !== undefined && now - link.askedAt < ASK_INTERVAL_MS)) return;
    const buckets = gapsBelow(this.host.table, gaps, link);
    if (buckets.length === 0) return;
    link.askedAt = now;
    link.sendFrame({ type: FrameType.Ask, buckets });
  }
}
