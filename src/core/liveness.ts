/**
 * Link liveness: when to probe a quiet link, and when to give up on a silent one.
 *
 * The bound: a link that has carried nothing for `deadMs` (3 × keepaliveMs, 45 s by default) is
 * closed then, not later. Everything short of that is about proving a live peer alive cheaply:
 *
 * - Traffic carries liveness. Any frame heard on a link proves its peer alive, so a link in use
 *   is never probed; probes go only over links that have been quiet.
 * - One side probes. The side that dialled the link pings once the link has been quiet for two
 *   thirds of the bound; the peer's pong is the proof, and the ping is the answering side's
 *   proof. The answering side pings only at five sixths, which it never reaches while the
 *   dialler is alive. An idle link carries one ping and one pong per 30 s (before: each side
 *   pinged every 15 s, four frames per 15 s), and each side re-probes at most every sixth of
 *   the bound, so a lost ping gets a second chance before the bound.
 * - One timer per node, not per link, set for the earliest thing due; probes due within a
 *   twelfth of the bound ride on the same wake-up. No link, no timer.
 */
import type { Clock } from './clock.js';
import { FrameType } from './codec.js';
import { EarliestTimer } from './earliest-timer.js';
import type { Session } from './session.js';

/**
 * How long an open link whose peer dialled us again gets to answer a ping before it is closed
 * (probeNow). Generous for any round trip: the peer itself has given that link up, and its next
 * dial, after its DUPLICATE cooldown (maintenance.ts: 1.6 s, just past this), finds the way clear.
 */
export const REDIALLED_PROBE_MS = 1_500;

export interface LivenessHost {
  clock: Clock;
  /** Runs a task on the node's actor. */
  run(task: () => void): void;
  /** The open links. */
  links(): Iterable<Session>;
}

export class Liveness {
  /** A link silent this long is closed. */
  readonly deadMs: number;
  private readonly timer: EarliestTimer;
  private pingCounter = 0;
  /** Links probed by probeNow, until its verdict. */
  private readonly probing = new WeakSet<Session>();

  constructor(
    private readonly host: LivenessHost,
    keepaliveMs: number,
  ) {
    this.deadMs = 3 * keepaliveMs;
    this.timer = new EarliestTimer(host.clock, () => this.host.run(() => this.tick()));
  }

  /** Sends a ping now (a new link's first rtt, and every probe). */
  ping(s: Session): void {
    const at = this.host.clock.now();
    s.pingSent = { n: ++this.pingCounter, at };
    s.probedAt = at;
    s.sendFrame({ type: FrameType.Ping, n: s.pingSent.n });
  }

  /**
   * The peer dialled us again while `s` is open (links.ts refuses the new link as a duplicate):
   * it gave `s` up, having restarted with the same id or moved networks, and `s` may be dead
   * without our knowing for up to deadMs, during which the peer's every dial would be refused.
   * So ping `s` now and close it if nothing is heard on it within REDIALLED_PROBE_MS. A live `s`
   * (two running copies of one identity) answers, stays, and the new one keeps being refused.
   */
  probeNow(s: Session): void {
    if (s.state !== 'open' || this.probing.has(s)) return;
    this.probing.add(s);
    const at = this.host.clock.now();
    this.ping(s);
    this.host.clock.setTimeout(
      () => this.host.run(() => (this.probing.delete(s), s.state === 'open' && s.lastHeard <= at && s.close('silent since its peer dialled again'))),
      REDIALLED_PROBE_MS,
    );
  }

  /** A link came up (or anything else changed what is due): make sure the timer covers it. */
  watch(): void {
    if (this.timer.stopped) return;
    let due = Infinity;
    for (const s of this.host.links()) due = Math.min(due, this.nextProbe(s), s.lastHeard + this.deadMs);
    this.timer.arm(due);
  }

  stop(): void {
    this.timer.stop();
  }

  /** When `s` should next be pinged, if it stays quiet. */
  private nextProbe(s: Session): number {
    const quietFor = s.outbound ? (2 * this.deadMs) / 3 : (5 * this.deadMs) / 6;
    return Math.max(s.lastHeard + quietFor, (s.probedAt ?? -Infinity) + this.deadMs / 6);
  }

  private tick(): void {
    if (this.timer.stopped) return;
    const now = this.host.clock.now();
    const early = this.deadMs / 12;
    for (const s of [...this.host.links()]) {
      if (s.state !== 'open') continue;
      if (now - s.lastHeard >= this.deadMs) s.close('keepalive timeout');
      else if (this.nextProbe(s) <= now + early) this.ping(s);
    }
    this.watch();
  }
}
