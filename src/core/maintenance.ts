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
import { REDIALLED_PROBE_MS } from './liveness.js';
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
 * does not ask again and again while the kept link is being made (each ask is refused at once),
 * and just past the peer's probe of an old link of ours it still holds (liveness.ts: closed if
 * silent for REDIALLED_PROBE_MS), so a node restarted with its id gets in at its next dial.
 */
export const DUPLICATE_COOLDOWN_MS = REDIALLED_PROBE_MS + 100;
/**
 * Refusals in a row (the peer said no: see REFUSALS) after which a peer is held back by its
 * cooldown even when we have no link at all (a DUPLICATE's, 1.6 s, holds it back from the
 * first), and its cooldown doubles with each further one (up to COOLDOWN_MS). Else a node with
 * no link dials at once whatever the cooldowns (a server's restart, a first link: nothing
 * better to try), and a peer that refuses every link (a second running copy of our identity: the
 * peer keeps the first copy's link) was re-dialled after every handshake, the table emptying at
 * each refusal (57 dials a second over memory links, test/core/redial-storm.test.ts).
 */
export const REFUSALS_BEFORE_BACKOFF = 3;
/** A link that held this long ends a run of refusals: the next one counts from one again. */
export const LINK_HELD_MS = 10_000;
/** A run of refusals with none for this long is forgotten. */
const REFUSALS_KEPT_MS = 5 * 60_000;
/** Codes by which the peer says no to a link (as against failing to answer): they make a run. */
const REFUSALS: ReadonlySet<string> = new Set(['DUPLICATE', 'BUSY', 'ADDRESS_LIMIT', 'EVICTED']);
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
  /**
   * Refusals in a row per peer: `armed` from each dial or link on, so the two reports of one
   * refused handshake (the Error frame, links.ts, and the dial's rejection) count once.
   */
  private readonly refusals = new Map<string, { n: number; at: number; armed: boolean; linkedAt?: number; duplicate?: boolean }>();
  /** The peer a bootstrap address (`addr:` key) led to, for the no-link round's hold-back. */
  private readonly behind = new Map<string, string>();
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
    const n = code !== undefined && REFUSALS.has(code) ? this.refused(id, now, code) : 0;
    // Each refusal past the run's REFUSALS_BEFORE_BACKOFF-th doubles the cooldown (a DUPLICATE's: 1.6, 1.6, 1.6, 3.2 ... 30 s).
    const ms = (base: number) => Math.min(COOLDOWN_MS, base * 2 ** Math.max(0, n - REFUSALS_BEFORE_BACKOFF));
    if (code !== 'DUPLICATE') return void this.cooldown.set(id, now + ms(COOLDOWN_MS));
    const wait = ms(DUPLICATE_COOLDOWN_MS);
    this.cooldown.set(id, Math.max(now + wait, this.cooldown.get(id) ?? 0));
    // Then a repair, should the link kept instead not be up by then: the next round may be 30 s away.
    this.host.clock.setTimeout(() => void this.host.run(() => !this.host.table.has(id) && this.repairSoon()), wait);
  }

  /** Counts a refusal by `id` (once per dial or link) and returns the length of its run. */
  private refused(id: string, now: number, code: string): number {
    let r = this.refusals.get(id);
    if (r && (now - r.at > REFUSALS_KEPT_MS || (r.linkedAt !== undefined && now - r.linkedAt >= LINK_HELD_MS))) r = undefined;
    if (!r) this.refusals.set(id, (r = { n: 0, at: now, armed: true }));
    if (r.armed) (r.n++, (r.at = now), (r.armed = false), (r.duplicate = code === 'DUPLICATE'));
    return r.n;
  }

  /** Whether a node with no link leaves `id` alone: cooling down after a DUPLICATE, or after REFUSALS_BEFORE_BACKOFF refusals in a row. */
  private heldBack(id: string | undefined): boolean {
    const r = id === undefined ? undefined : this.refusals.get(id);
    return r !== undefined && (r.duplicate === true || r.n >= REFUSALS_BEFORE_BACKOFF) && this.coolingDown(id!);
  }

  /** A dial to `id` or a link with it: the next refusal counts (see refusals). */
  private arm(id: string, linked = false): void {
    const r = this.refusals.get(id);
    if (!r) return;
    r.armed = true;
    if (linked) r.linkedAt = this.host.clock.now();
  }

  /** A link to `peer`, in `bucket`, was admitted: neither it nor its bucket needs special treatment any more. */
  linked(peer: string, bucket: number): void {
    this.refusedBuckets.delete(bucket);
    this.cooldown.delete(peer);
    this.arm(peer, true);
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
        // Not in an actor task: a map entry needs none, and the simulator's order of tasks stays as it was.
        (peer) => void this.behind.set(key, peer),
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
    if (!dialer.canDial(rec) || this.dialledByAddress(rec)) return;
    this.pendingDials.add(rec.id);
    this.arm(rec.id);
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
            // A dial that gave way to our link with the peer, up now, is no refusal: nothing to wait out.
            if (code !== 'DUPLICATE' || !table.has(rec.id)) this.coolDown(rec.id, code);
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
   * Whether every address of `rec` is being dialled as a bootstrap address already: a node with
   * no link dials its bootstrap and its remembered peers, often the same server (a restart), and
   * the second handshake to it only ended DUPLICATE, costing the server a signature and a socket.
   * A record with another address is dialled beside it: that address may be the better one.
   */
  private dialledByAddress(rec: PeerRecord): boolean {
    return rec.addrs.length > 0 && rec.addrs.every((a) => this.pendingDials.has(`addr:${a}`));
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
      // Whatever their cooldowns (a node with no link has nothing better to try), but those that keep refusing us.
      for (const addr of this.host.bootstrap) if (!this.heldBack(this.behind.get(`addr:${addr}`))) this.dialAddress(addr);
      const recs = this.host.memory.mostRecentlyUseful(settings.maxPendingDials + this.refusals.size).filter((r) => !this.heldBack(r.id));
      for (const rec of recs.slice(0, settings.maxPendingDials)) this.dialPeer(rec, Want.Join);
    }
    this.forgetRefusals();
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

  /** Drops runs of refusals that ended long ago. */
  private forgetRefusals(): void {
    const now = this.host.clock.now();
    for (const [id, r] of this.refusals) if (now - r.at > REFUSALS_KEPT_MS) this.refusals.delete(id);
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
