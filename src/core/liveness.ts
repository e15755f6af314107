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
