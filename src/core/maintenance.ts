/**
 * Link maintenance: dialling the links the routing invariant needs (and a few spares), cooling
 * down peers that failed or refused, and periodic rounds that look the mesh up: fast while a
 * node settles, at maintainMs once settled, and slower still while its links stay as they are.
 * (Keepalives: liveness.ts.)
 * Which link to want is decided in link-policy.ts; this file decides when to dial.
 */
import type { Clock, Random, TimerHandle } from './clock.js';
import { encodeFrame, Want, type WantLevel } from './codec.js';
import type { Counters } from './counters.js';
import { MeshError } from './errors.js';
import { randomIdInBucket, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import type { Link } from './link.js';
import { emptyBuckets, helperFor } from './bucket-gaps.js';
import { dialWishes, pickEviction } from './link-policy.js';
import type { NodeSettings } from './node-settings.js';
import type { Dialer, HelloMaker, LinkOptions } from './node-types.js';
import type { PeerMemory, PeerRecord } from './peer-memory.js';
import { LEAF_CAP, type RoutingTable } from './routing-table.js';
import { helloFrame, type Session, type SessionOptions } from './session.js';

/** How long a peer that failed, refused or evicted us is left alone. */
export const COOLDOWN_MS = 30_000;
/**
 * How long a peer is left alone after a DUPLICATE: our dial gave way to another link between us
 * (the peer's crossing dial, one of ours on its way, or a link already open). Not COOLDOWN_MS:
 * the link kept instead may itself fail, and then this side waited 30 s before it dialled
 * again, while the other side, whose kept dial had failed, waited out its own cooldown too
 * (warm restarts in the network lab: links back after 48-64 s). Long enough that a repair pass
 * does not ask again and again while the kept link is being made (each ask is refused at once).
 */
export const DUPLICATE_COOLDOWN_MS = 2_000;
/** The pace of maintenance while settling; it doubles each round up to maintainMs. */
export const FAST_MAINTAIN_MS = 2_000;
/** While its links stay as they are, a settled node's rounds slow down to this many times maintainMs. */
export const QUIET_MAINTAIN_FACTOR = 2;
/** How long repairSoon waits, gathering changes. */
const REPAIR_DELAY_MS = 50;
/** Spare links dialled per maintenance round at most (see DialContext.spares). */
const SPARES_PER_ROUND = 2;

/** What maintenance needs of its node. */
export interface MaintenanceHost {
  identity: Identity;
  clock: Clock;
  random: Random;
  table: RoutingTable;
  memory: PeerMemory;
  counters: Counters;
  settings: NodeSettings;
  dialer?: Dialer;
  /** Addresses dialled at start and whenever the node has no link at all. */
  bootstrap: string[];
  run<T>(task: () => T | Promise<T>): Promise<T>;
  isStopped(): boolean;
  /** Hands a dialled link to the node; resolves once it is admitted. */
  addLink(link: Link, options: LinkOptions & { outbound: true }): Promise<string>;
  /** A session's options (its nonce drawn now), for a hello that goes with the dial. */
  sessionOptions(options: LinkOptions): SessionOptions;
  /** Whether the node has a session with this peer (a handshake under way, or a link). */
  hasSession(id: string): boolean;
  lookup(target: NodeId): Promise<void>;
  /** Drops topic state not renewed in time (pub/sub). */
  expireTopics(): void;
  /** Asks a link for nodes in those of our empty buckets it can know about. */
  askFor(gaps: number[], link: Session): void;
  /** Whether a peer's link closed as idle and no traffic asked for it since (idle-links.ts). */
  resting(id: string): boolean;
}

export class Maintenance {
  private readonly pendingDials = new Set<string>();
  private readonly cooldown = new Map<string, number>();
  /** Buckets in which a needed dial was refused as BUSY since the bucket last got a link: dialled with Want.Urgent. */
  private readonly refusedBuckets = new Set<number>();
  private maintainTimer?: TimerHandle;
  /** When the next round is due (clock time). */
  private nextRoundAt = Infinity;
  private maintainInterval = FAST_MAINTAIN_MS;
  /** Links came or went, or a dial failed, since the last round. */
  private changed = false;
  private repairQueued = false;
  /** Maintenance rounds run so far. */
  private rounds = 0;
  private refreshCursor = 0;
  /** Empty buckets already looked into since the last full pass. */
  private readonly refreshedEmpty = new Set<number>();

  constructor(private readonly host: MaintenanceHost) {}

  /** Whether maintenance still runs faster than its settled pace (just started, or lost a needed link). */
  get settling(): boolean {
    return this.maintainInterval < this.host.settings.maintainMs;
  }

  /** At start: bootstrap (unless dialBootstrap() did already), then the peers that worked most recently, whatever bootstrap was configured. */
  warmStart(bootstrap = true): void {
    if (bootstrap) this.dialBootstrap();
    for (const rec of this.host.memory.mostRecentlyUseful(this.host.settings.maxPendingDials * 2)) this.dialPeer(rec, Want.Join, true);
  }

  /** Dials bootstrap addresses (all, or `addrs`), but those dialling or cooling down already. */
  dialBootstrap(addrs = this.host.bootstrap): void {
    for (const addr of addrs) this.dialAddress(addr);
  }

  stop(): void {
    this.maintainTimer?.cancel();
  }

  /**
   * Leaves `id` (a node id or `addr:` plus an address) alone for COOLDOWN_MS, or after a
   * `DUPLICATE` (`code`, a MeshError's or an Error frame's) for DUPLICATE_COOLDOWN_MS, which never
   * shortens a longer cooldown already running.
   */
  coolDown(id: string, code?: string): void {
    const now = this.host.clock.now();
    if (code !== 'DUPLICATE') return void this.cooldown.set(id, now + COOLDOWN_MS);
    this.cooldown.set(id, Math.max(now + DUPLICATE_COOLDOWN_MS, this.cooldown.get(id) ?? 0));
    // Then a repair, should the link kept instead not be up by then: the next round may be 30 s away.
    this.host.clock.setTimeout(() => void this.host.run(() => !this.host.table.has(id) && this.repairSoon()), DUPLICATE_COOLDOWN_MS);
  }

  /** A link to `peer`, in `bucket`, was admitted: neither it nor its bucket needs special treatment any more. */
  linked(peer: string, bucket: number): void {
    this.refusedBuckets.delete(bucket);
    this.cooldown.delete(peer);
    this.moved();
  }

  /** Links came or went: a node whose rounds had slowed past maintainMs looks around again within maintainMs. */
  moved(): void {
    this.changed = true;
    const maintainMs = this.host.settings.maintainMs;
    if (this.maintainInterval <= maintainMs) return;
    this.maintainInterval = maintainMs;
    if (this.nextRoundAt > this.host.clock.now() + maintainMs) this.schedule(maintainMs);
  }

  /** A link our invariant needed was lost with nobody to replace it: look around again soon. */
  hurry(ms: number): void {
    this.maintainInterval = FAST_MAINTAIN_MS;
    this.schedule(ms);
  }

  schedule(ms: number): void {
    this.maintainTimer?.cancel();
    this.nextRoundAt = this.host.clock.now() + ms;
    this.maintainTimer = this.host.clock.setTimeout(() => void this.host.run(() => this.maintain()), ms);
  }

  /** Dials a known peer now, as a spare (a resting peer that traffic woke: idle-links.ts). */
  dialNow(id: string): void {
    const rec = this.host.memory.get(id);
    if (rec) this.dialPeer(rec, Want.Optional, true);
  }

  // ---------------------------------------------------------------- dialling

  private dialAddress(addr: string): void {
    const { dialer, clock } = this.host;
    if (!dialer || this.host.isStopped()) return;
    const key = `addr:${addr}`;
    if (this.pendingDials.has(key) || this.coolingDown(key)) return;
    this.pendingDials.add(key);
    const want = () => (this.host.table.size === 0 ? Want.Join : Want.Needed);
    const early = this.earlyHello(want);
    dialer
      .dialAddress(addr, early.make)
      .then((link) => this.host.addLink(link, { outbound: true, want: want(), prepared: early.prepared }))
      .then(
        () => undefined,
        (err: unknown) =>
          this.host.run(() => {
            this.host.counters.drop(`dial:${err instanceof MeshError ? err.code : 'error'}`);
            this.cooldown.set(key, clock.now() + this.maintainInterval);
            this.changed = true;
          }),
      )
      .finally(() => this.host.run(() => this.pendingDials.delete(key)));
  }

  private dialPeer(rec: PeerRecord, want: WantLevel, force = false): void {
    const { dialer, table } = this.host;
    if (!dialer || this.host.isStopped() || this.pendingDials.has(rec.id) || table.has(rec.id)) return;
    if (this.host.hasSession(rec.id)) return; // a handshake with it is under way
    if (!force && this.pendingDials.size >= this.host.settings.maxPendingDials) return;
    if (!dialer.canDial(rec)) return;
    this.pendingDials.add(rec.id);
    const early = this.earlyHello(() => (table.size === 0 ? Want.Join : want), rec.id);
    dialer
      .dial(rec, early.make)
      .then((link) => this.host.addLink(link, { outbound: true, expectedId: rec.id, want: table.size === 0 ? Want.Join : want, prepared: early.prepared }))
      .then(
        () => undefined,
        (err: unknown) =>
          this.host.run(() => {
            const code = err instanceof MeshError ? err.code : 'error';
            this.host.counters.drop(`dial:${code}`);
            this.coolDown(rec.id, code);
            this.changed = true; // a wish we could not meet: not a time to slow down
            if (code === 'BUSY' && want !== Want.Optional) this.refusedBuckets.add(table.bucketOf(rec.idBytes));
            // Refusals say nothing against the address: the peer is full, or we hold (or are making) a link to it.
            if (code !== 'BUSY' && code !== 'ADDRESS_LIMIT' && code !== 'HANDSHAKE_FAILED' && code !== 'DUPLICATE') this.host.memory.failed(rec.id);
          }),
      )
      .finally(() =>
        this.host.run(() => {
          this.pendingDials.delete(rec.id);
          this.repairSoon();
        }),
      );
  }

  /**
   * The hello a dial may carry (Dialer's HelloMaker). Made only if the dialer asks: the session's
   * nonce is then drawn at the dial, not at the handshake (the simulator's dialer never asks, so
   * its draws stay where they were), and its want is the one at the dial.
   */
  private earlyHello(want: () => WantLevel, expectedId?: string): { make: HelloMaker; prepared?: SessionOptions } {
    const early: { make: HelloMaker; prepared?: SessionOptions } = {
      make: () => {
        early.prepared = this.host.sessionOptions({ outbound: true, expectedId, want: want() });
        return encodeFrame(helloFrame(early.prepared, false));
      },
    };
    return early;
  }

  private coolingDown = (id: string): boolean => {
    const until = this.cooldown.get(id);
    if (until === undefined) return false;
    if (until > this.host.clock.now()) return true;
    this.cooldown.delete(id);
    return false;
  };

  /** Dials what the routing invariant needs, soon, without waiting for the next maintenance round. */
  repairSoon(): void {
    if (this.repairQueued || this.host.isStopped()) return;
    this.repairQueued = true;
    // A short delay gathers the changes of a burst (links up, dials ending, lookups answered)
    // into one pass over the peer memory instead of one pass each.
    this.host.clock.setTimeout(() => void this.host.run(() => ((this.repairQueued = false), this.repair())), REPAIR_DELAY_MS);
  }

  /** Dials missing needed links, and up to `spares` spare links. */
  private repair(spares = 0): void {
    const { dialer, table, settings } = this.host;
    if (this.host.isStopped() || !dialer) return;
    const wishes = dialWishes({
      table,
      memory: this.host.memory,
      budget: settings.linkBudget,
      pending: this.pendingDials,
      coolingDown: this.coolingDown,
      canDial: (r) => dialer.canDial(r),
      spares: this.maintainInterval >= 4 * FAST_MAINTAIN_MS ? spares : 0,
      addressable: settings.addrs.length > 0 || settings.caps.includes(LEAF_CAP),
      resting: (id) => this.host.resting(id),
    });
    for (const { rec, needed } of wishes) {
      if (this.pendingDials.size >= settings.maxPendingDials) break;
      if (table.size + this.pendingDials.size >= settings.linkBudget && !(needed && pickEviction(table, true))) break;
      const urgent = needed && this.refusedBuckets.has(table.bucketOf(rec.idBytes));
      this.dialPeer(rec, urgent ? Want.Urgent : needed ? Want.Needed : Want.Optional);
    }
  }

  // ---------------------------------------------------------------- rounds

  /**
   * One maintenance round: dial what is missing, look up our own id (the neighbour set) and one
   * bucket in turn, and back off while nothing changes.
   */
  private async maintain(): Promise<void> {
    const { table, settings, identity, random } = this.host;
    if (this.host.isStopped()) return;
    if (table.size === 0 && this.pendingDials.size === 0) {
      for (const addr of this.host.bootstrap) this.dialAddress(addr);
      for (const rec of this.host.memory.mostRecentlyUseful(settings.maxPendingDials)) this.dialPeer(rec, Want.Join);
    }
    this.repair(SPARES_PER_ROUND);
    const gaps = emptyBuckets(table);
    const helper = helperFor(table, gaps, (n) => Math.floor(random.float() * n));
    if (helper) this.host.askFor(gaps, helper);
    this.host.expireTopics();
    this.schedule(this.maintainInterval);
    // Settling: just started, or lost a link our invariant needed (the interval was reset).
    const settling = this.settling;
    // Past maintainMs the rounds slow down only while the links stay as they are (moved()), no
    // dial failed and every bucket short of the deepest has a link: a node that still wants
    // links it cannot get keeps looking at the settled pace (after a partition heals, it is
    // these rounds that find the other side again).
    const quiet = !this.changed && gaps.length === 0;
    this.maintainInterval = Math.min(this.maintainInterval * 2, quiet ? QUIET_MAINTAIN_FACTOR * settings.maintainMs : settings.maintainMs);
    this.changed = false;
    this.rounds++;
    // A settled node looks around only every fourth round, however much its links change: in a
    // growing mesh others keep linking to it, but newcomers find their neighbours themselves,
    // and lookups by every node on every change made the cost of a join grow with the mesh
    // (14.8 lookups per join at 6 000 nodes, against 2.8 at 1 000).
    if (table.size > 0 && (settling || this.rounds % 4 === 0)) {
      await this.host.lookup(identity.id);
      // A bucket refresh finds nodes in buckets we have no link into; with none empty it is
      // only a check for newcomers, which every fourth round is enough for.
      if (gaps.length > 0 || this.rounds % 4 === 0) await this.host.lookup(randomIdInBucket(identity.id, this.bucketToRefresh(), random.bytes(32)));
    }
  }

  /** The shallowest bucket without a link (it may hold nodes we do not know), else the next in turn. */
  private bucketToRefresh(): number {
    const table = this.host.table;
    const depth = this.deepestBucket();
    const counts = table.bucketCounts();
    for (let b = 0; b < depth; b++) if (!counts.get(b) && !this.refreshedEmpty.has(b)) return this.refreshedEmpty.add(b), b;
    this.refreshedEmpty.clear();
    return this.refreshCursor++ % (depth + 1);
  }

  private deepestBucket(): number {
    let depth = 0;
    for (const s of this.host.table.all()) depth = Math.max(depth, this.host.table.bucketOf(s.peer!.id));
    return Math.min(depth, 255);
  }
}
