/**
 * Idle WebRTC links: closed when quiet, dialled again when traffic asks for them.
 *
 * An idle RTCPeerConnection still costs its browser about 0.06 % of a core (ICE consent
 * checks, SCTP heartbeats: docs/BENCHMARKS.md, "Idle"), so a quiet node pays in proportion to
 * the number of its WebRTC links. This part closes the ones nobody uses, on these rules
 * (docs/ROUTING.md, "Idle links"):
 *
 * - Only links whose transport is 'webrtc'. Server and WebSocket links, and the simulator's
 *   memory links, are never closed for being idle.
 * - Idle means no application packet (APP_KINDS: datagrams, requests and replies, reliable
 *   messages and their acks, stream segments, publications) crossed the link, either way, for
 *   `idleLinkMs`. Keepalives, lookups, subscriptions, keys and signalling do not count.
 * - Both ends must be anchored: each keeps an open link to a server (a non-WebRTC link to a
 *   node with a dial address), so both stay reachable through it and a source with no closer
 *   link hands its packets to it (forwarding.ts). The end whose idle time runs out offers the
 *   peer to rest the link (a Rest frame); the peer closes it as IDLE if it is anchored too and
 *   the link was quiet on its side. A node without a server link keeps its WebRTC links: they
 *   are its only way into the mesh, and the mesh routes through them.
 * - The peer is then resting on both ends: dialWishes neither dials it nor fills its place with
 *   another node (a resting peer counts as linked for the routing invariant's wishes), so a
 *   closed idle link is not re-dialled, and there is no churn.
 * - Application traffic between the two nodes through the mesh (WAKE_PACKETS packets within
 *   WAKE_WINDOW_MS, counted at both ends) wakes the peer: the end with the smaller id dials the
 *   direct link again (the other only if traffic goes on three times as long without one).
 * - Losing the last server link wakes every resting peer: the node needs the browser mesh again.
 */
import type { Clock } from './clock.js';
import { FrameType } from './codec.js';
import { EarliestTimer } from './earliest-timer.js';
import { PacketKind } from './packets.js';
import type { RoutingTable } from './routing-table.js';
import type { Session } from './session.js';

/**
 * Default idle time of a WebRTC link: two minutes. A pause in a conversation (a chat, a game
 * between rounds) rarely lasts that long, so a pair that talks keeps its link; redialling costs
 * a second or two of signalling and ICE, so closing sooner would trade little CPU for visible
 * delays. And an idle tab sheds its links within a few minutes of going quiet.
 */
export const DEFAULT_IDLE_LINK_MS = 120_000;
/** Application packets to or from a resting peer, within WAKE_WINDOW_MS, that wake it. */
export const WAKE_PACKETS = 4;
export const WAKE_WINDOW_MS = 10_000;

/** Packet kinds that carry application traffic: what keeps a link from being idle. */
export const APP_KINDS: ReadonlySet<number> = new Set([
  PacketKind.Data,
  PacketKind.Request,
  PacketKind.Response,
  PacketKind.ReliableData,
  PacketKind.Ack,
  PacketKind.Stream,
  PacketKind.Publish,
  PacketKind.PublishDown,
]);

/** The reason an idle link closes with (the close reason starts with it). */
export const IDLE_REASON = 'IDLE';
/** Wire minor from which a peer understands Rest frames. */
const REST_MINOR = 1;

export interface IdleLinksHost {
  clock: Clock;
  /** This node's id, as hex. */
  id: string;
  table: RoutingTable;
  /** 0: idle links are never closed. */
  idleMs: number;
  /** Runs a task on the node's actor. */
  run(task: () => void): void;
  /** Dials the peer again (a woken resting peer). */
  dial(peer: string): void;
  /** Dials what the routing invariant wants (after resting peers woke). */
  repairSoon(): void;
}

interface Resting {
  /** Application packets to or from it in the current wake window. */
  count: number;
  windowStart: number;
}

export class IdleLinks {
  private readonly resting = new Map<string, Resting>();
  private readonly timer: EarliestTimer;

  constructor(private readonly host: IdleLinksHost) {
    this.timer = new EarliestTimer(host.clock, () => this.host.run(() => this.tick()));
  }

  /** Whether `peer` is resting: its link was closed as idle and no traffic asked for it since. */
  isResting(peer: string): boolean {
    return this.resting.has(peer);
  }

  get restingCount(): number {
    return this.resting.size;
  }

  /** Whether the node holds an open link to a server: a non-WebRTC link to a node with a dial address. */
  anchored(): boolean {
    for (const s of this.host.table.all()) if (s.state === 'open' && s.link.transport !== 'webrtc' && s.peer!.addrs.length > 0) return true;
    return false;
  }

  /** An application packet crossed `s` (sent, forwarded or received). */
  static carried(s: Session, kind: number, now: number): void {
    if (APP_KINDS.has(kind)) s.lastAppAt = now;
  }

  /** A host tab carried application packets on the link to `peer` itself (MeshNode.noteAppTraffic): the link is not idle. */
  carriedByTab(peer: string): void {
    this.host.run(() => {
      const s = this.host.table.get(peer);
      if (s) IdleLinks.carried(s, PacketKind.Data, this.host.clock.now());
    });
  }

  /** A link came up (or anchoring may have changed): the timer covers it, and a linked peer rests no more. */
  linked(peer: string): void {
    this.resting.delete(peer);
    this.watch();
  }

  /** Arms the one timer for the earliest idle link due an offer; none while not anchored. */
  watch(): void {
    if (this.timer.stopped || this.host.idleMs <= 0) return;
    let due = Infinity;
    if (this.anchored()) for (const s of this.host.table.all()) if (this.eligible(s)) due = Math.min(due, this.dueAt(s));
    this.timer.arm(due);
  }

  stop(): void {
    this.timer.stop();
  }

  /** The peer offers to rest `s`: close it as idle if we can spare it too. */
  onRest(s: Session): void {
    if (!this.eligible(s) || !this.anchored()) return;
    // Half the idle time: the peer's count started a latency apart from ours, and any packet
    // that crossed its offer on the way reset ours to now.
    if (this.host.clock.now() - this.idleSince(s) < this.host.idleMs / 2) return;
    this.rest(s.peer!.idText);
    s.sendError(IDLE_REASON, `no application traffic for ${this.host.idleMs} ms`);
    s.close(`${IDLE_REASON}: no application traffic for ${this.host.idleMs} ms`);
  }

  /** The peer closed `s` as idle (its error frame said so). */
  heardIdle(s: Session): void {
    if (s.link.transport === 'webrtc') this.rest(s.peer!.idText);
  }

  /**
   * An open link closed: true when it closed as idle, and its peer now rests. An error frame
   * may not make it through a closing DataChannel, so an offer of ours that no traffic followed
   * counts as the peer's consent.
   */
  closed(s: Session, reason: string): boolean {
    const peer = s.peer!.idText;
    if (s.link.transport !== 'webrtc') {
      this.checkAnchor();
      return false;
    }
    if (reason.startsWith(IDLE_REASON) || (s.restOfferedAt !== undefined && s.restOfferedAt >= s.lastAppAt)) this.rest(peer);
    return this.resting.has(peer);
  }

  /** An application packet to or from `peer` went through the mesh: enough of them wake a resting peer. */
  traffic(peer: string): void {
    const r = this.resting.get(peer);
    if (!r) return;
    const now = this.host.clock.now();
    if (now - r.windowStart > WAKE_WINDOW_MS) {
      r.windowStart = now;
      r.count = 0;
    }
    r.count++;
    // One end dials, so the two do not make two PeerConnections at once; the other end dials
    // only if traffic goes on without a link (the smaller id could not dial: no host tab).
    const mine = this.host.id < peer;
    if (r.count < (mine ? WAKE_PACKETS : 3 * WAKE_PACKETS)) return;
    this.resting.delete(peer);
    this.host.dial(peer);
  }

  private rest(peer: string): void {
    if (!this.resting.has(peer)) this.resting.set(peer, { count: 0, windowStart: this.host.clock.now() });
  }

  /** Without a server link the node needs the browser mesh again: every resting peer wakes. */
  private checkAnchor(): void {
    if (this.resting.size === 0 || this.anchored()) return;
    this.resting.clear();
    this.host.repairSoon();
  }

  private eligible(s: Session): boolean {
    return this.host.idleMs > 0 && s.state === 'open' && s.link.transport === 'webrtc' && (s.peer?.minor ?? 0) >= REST_MINOR;
  }

  private idleSince(s: Session): number {
    return Math.max(s.lastAppAt, s.openedAt);
  }

  /** When `s` is due an offer: its idle time after its last traffic, or after our last offer the peer declined. */
  private dueAt(s: Session): number {
    return Math.max(this.idleSince(s), s.restOfferedAt ?? -Infinity) + this.host.idleMs;
  }

  private tick(): void {
    if (this.timer.stopped || !this.anchored()) return;
    const now = this.host.clock.now();
    for (const s of this.host.table.all()) {
      if (!this.eligible(s) || this.dueAt(s) > now) continue;
      s.restOfferedAt = now;
      s.sendFrame({ type: FrameType.Rest });
    }
    this.watch();
  }
}
