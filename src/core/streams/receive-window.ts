/**
 * The receiving half of a stream: puts segments back in order, acknowledges them (cumulative
 * plus selective ranges), and grants the sender a window of `window` segments beyond what the
 * application has taken. Whatever the sender does, this end holds at most `window` segments:
 * one beyond the window is dropped (and answered with an ack naming the window), so a reader
 * that stops reading bounds memory here and, through the window, holds the writer.
 */
import type { Clock, TimerHandle } from '../clock.js';
import { MAX_SACK_RANGES, SegmentType, type Sequenced } from './segments.js';

/** In-order segments acknowledged at once when this many are unacknowledged. */
const ACK_EVERY = 4;
/** Otherwise an ack leaves at most this long after a segment arrives. */
export const ACK_DELAY_MS = 10;

export interface ReceiveWindowHost {
  clock: Clock;
  sendAck(next: number, limit: number, sack: number[]): void;
  /** A segment became ready to take. */
  readable(): void;
}

export type Arrival = 'new' | 'duplicate' | 'beyond-window';

export class ReceiveWindow {
  /** Every segment below this arrived. */
  private next = 0;
  /** Every segment below this was taken by the application. */
  private taken = 0;
  private readonly ready: Sequenced[] = [];
  private readonly early = new Map<number, Sequenced>();
  private unacked = 0;
  private advertised = 0;
  private ackTimer?: TimerHandle;
  private stopped = false;

  constructor(
    private readonly host: ReceiveWindowHost,
    private readonly window: number,
  ) {}

  /** Segments held (in order and early): never above the window. */
  get held(): number {
    return this.ready.length + this.early.size;
  }

  get limit(): number {
    return this.taken + this.window;
  }

  onSegment(seg: Sequenced): Arrival {
    if (this.stopped) return 'duplicate';
    if (seg.seq < this.next || this.early.has(seg.seq)) {
      this.ackNow(); // a copy: our ack may have been lost
      return 'duplicate';
    }
    if (seg.seq >= this.limit) {
      this.ackNow();
      return 'beyond-window';
    }
    const inOrder = seg.seq === this.next;
    this.early.set(seg.seq, seg);
    const wasEmpty = this.ready.length === 0;
    for (let s = this.early.get(this.next); s; s = this.early.get(this.next)) {
      this.early.delete(this.next);
      this.ready.push(s);
      this.next++;
    }
    // The opening segment carries nothing for the application: it is taken at once.
    while (this.ready[0]?.type === SegmentType.Open) this.take();
    this.unacked++;
    if (!inOrder || this.early.size > 0 || seg.type === SegmentType.Fin || this.unacked >= ACK_EVERY) this.ackNow();
    else this.ackSoon();
    if (wasEmpty && this.ready.length > 0) this.host.readable();
    return 'new';
  }

  /** The next segment in order (Data or Fin), or undefined when none arrived yet. */
  peek(): Sequenced | undefined {
    return this.ready[0];
  }

  /** Takes the next segment in order, opening the window by one. */
  take(): Sequenced | undefined {
    const seg = this.ready.shift();
    if (!seg) return undefined;
    this.taken++;
    // Tell the sender once a quarter of the window reopened, or at once if it was shut.
    if (this.limit - this.advertised >= Math.max(1, this.window / 4) || this.advertised <= this.next) this.ackNow();
    return seg;
  }

  /** A probe from a sender whose window is shut: tell it where the window stands. */
  onProbe(): void {
    this.ackNow();
  }

  stop(): void {
    this.stopped = true;
    this.ackTimer?.cancel();
    this.ready.length = 0;
    this.early.clear();
  }

  private ackSoon(): void {
    if (this.ackTimer) return;
    this.ackTimer = this.host.clock.setTimeout(() => {
      this.ackTimer = undefined;
      this.ackNow();
    }, ACK_DELAY_MS);
  }

  ackNow(): void {
    if (this.stopped) return;
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
    this.unacked = 0;
    this.advertised = this.limit;
    this.host.sendAck(this.next, this.limit, this.sackRanges());
  }

  private sackRanges(): number[] {
    if (this.early.size === 0) return [];
    const seqs = [...this.early.keys()].sort((a, b) => a - b);
    const out: number[] = [];
    let start = seqs[0]!;
    let end = start + 1;
    for (const s of seqs.slice(1)) {
      if (s === end) end++;
      else {
        out.push(start, end);
        start = s;
        end = s + 1;
      }
    }
    out.push(start, end);
    // The lowest ranges matter most: they sit right above the hole the sender must fill.
    return out.slice(0, 2 * MAX_SACK_RANGES);
  }
}
