/**
 * Backing off from peers that cannot be reached directly. Behind a symmetric NAT with no TURN,
 * every WebRTC dial to some peers fails after its timeout; without a pause between tries the
 * node would dial them again each maintenance round (a dial storm), for nothing: the mesh
 * routes to them anyway, through links that work. After each failure the pause doubles, from
 * BASE_MS up to MAX_MS, with jitter so two nodes do not retry in step; a success forgets it, and
 * so does any WebRTC link with the peer that opens, its dial or the peer's. A dial refused as
 * DUPLICATE is no failure: the peer's dial to us (which crossed ours and is kept), or another of
 * ours, is making the link; counting it paused both ends of a crossed re-dial from each other
 * for 7.5-12.5 s, so that when the kept link closed nobody dialled again in that time.
 */
import { isMeshError } from '../core/errors.js';

const BASE_MS = 10_000;
const MAX_MS = 5 * 60_000;

export interface DialCounters {
  /** WebRTC dials started, opened, and failed (timed out, or refused); a DUPLICATE is neither. */
  attempted: number;
  succeeded: number;
  failed: number;
  /** Peers currently waiting out a pause. */
  backingOff: number;
}

export class DialBackoff {
  private readonly peers = new Map<string, { failures: number; until: number }>();
  private attempted = 0;
  private succeeded = 0;
  private failed = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether a dial to `peer` may start now. */
  allowed(peer: string): boolean {
    const p = this.peers.get(peer);
    return !p || p.until <= this.now();
  }

  started(): void {
    this.attempted++;
  }

  /** A dial to `peer` ended: opened (no `err`), failed, or gave way to another dial (DUPLICATE: neither). */
  ended(peer: string, err?: unknown): void {
    if (err === undefined) this.succeededWith(peer);
    else if (!isMeshError(err, 'DUPLICATE')) this.failedWith(peer);
  }

  /** A WebRTC link with `peer` opened, whoever dialled: it can be reached, so any pause ends. */
  reachable(peer: string): void {
    this.peers.delete(peer);
  }

  succeededWith(peer: string): void {
    this.succeeded++;
    this.peers.delete(peer);
  }

  failedWith(peer: string): void {
    this.failed++;
    const failures = (this.peers.get(peer)?.failures ?? 0) + 1;
    const pause = Math.min(MAX_MS, BASE_MS * 2 ** (failures - 1)) * (0.75 + 0.5 * this.random());
    this.peers.set(peer, { failures, until: this.now() + pause });
    if (this.peers.size > 4096) this.forgetOldest();
  }

  counters(): DialCounters {
    const now = this.now();
    let backingOff = 0;
    for (const p of this.peers.values()) if (p.until > now) backingOff++;
    return { attempted: this.attempted, succeeded: this.succeeded, failed: this.failed, backingOff };
  }

  /** Bounded memory: the entry whose pause ends first goes. */
  private forgetOldest(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [id, p] of this.peers) if (p.until < at) (oldest = id), (at = p.until);
    if (oldest) this.peers.delete(oldest);
  }
}
