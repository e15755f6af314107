/**
 * The sending half of a stream: numbers segments, keeps each until the other end acknowledges
 * it, sends it again when it is lost, and sends no faster than both windows allow.
 *
 * - The receive window (`limit`, from the other end's acks) bounds what the other end must
 *   buffer: a reader that stops reading closes it, and this end stops sending.
 * - The congestion window (`cwnd`, in segments) bounds what is in the network: it grows by one
 *   segment per acknowledged segment at first, by one per round trip later, and halves on a
 *   loss, so a stream shares a relay's link instead of overfilling it (relays drop, they do not
 *   queue without bound).
 * - Loss is detected from the other end's selective acks (three later segments arrived, or a
 *   segment sent later arrived and a quarter of a round trip has passed). When the
 *   retransmission timeout (rtt.ts) fires instead, nothing is declared lost yet: the links a
 *   stream rides on are reliable and ordered, and a loss repaired below us (SCTP, TCP) stalls
 *   everything behind it for a while, then delivers it all. So the timeout sends one probe, the
 *   newest segment not yet acknowledged, whose selective ack shows any hole before it. Only
 *   after PROBES_BEFORE_COLLAPSE probes in a row went unanswered is everything in flight taken
 *   as lost and the congestion window cut to one segment (RFC 8985's tail loss probe and RFC
 *   9002's probe timeout are built on the same reasoning).
 * - The send buffer (`maxBuffered` segments, unsent and unacknowledged together) bounds this
 *   end's memory: `write` waits for room, which is what holds a writer to its reader's pace.
 *
 * All of it is end to end: relays buffer nothing per stream, so a path that changes under the
 * stream (a relay leaves, a link re-homes) costs at worst a few retransmissions.
 */
import type { Clock, TimerHandle } from '../clock.js';
import { MeshError } from '../errors.js';
import { RttEstimator } from './rtt.js';
import { type AckSegment, SEGMENT_BYTES, SegmentType, type Sequenced } from './segments.js';

/** What a receiver grants before its first ack: every receiver's window is at least this. */
export const INITIAL_LIMIT = 16;
export const INITIAL_CWND = 10;
const MAX_CWND = 256;
/** Later segments acknowledged before an earlier one counts as lost. */
const DUP_THRESH = 3;
/** Timeouts in a row answered by a probe before everything in flight is taken as lost. */
export const PROBES_BEFORE_COLLAPSE = 2;

export interface SendWindowHost {
  clock: Clock;
  /** Sends one segment toward the other end; what becomes of it is this window's business. */
  transmit(seg: Sequenced | { type: typeof SegmentType.Probe }): void;
  /** Nothing was heard from the other end for `timeoutMs` while something waited on it. */
  stalled(): void;
}

interface InFlight {
  seg: Sequenced;
  sentAt: number;
  /** Order of the latest transmission, across all segments of this stream. */
  order: number;
  tx: number;
  sacked: boolean;
  lost: boolean;
}

type Body = { type: typeof SegmentType.Open; port: number; app: Uint8Array } | { type: typeof SegmentType.Data; data: Uint8Array } | { type: typeof SegmentType.Fin };

export class SendWindow {
  readonly rtt = new RttEstimator();
  private readonly queue: Sequenced[] = [];
  private readonly inflight = new Map<number, InFlight>();
  private nextSeq = 0;
  private limit = INITIAL_LIMIT;
  private cwnd = INITIAL_CWND;
  private ssthresh = Infinity;
  /** No new loss event until the cumulative ack passes this. */
  private recoveryPoint = 0;
  private txOrder = 0;
  private timer?: TimerHandle;
  private lastHeard: number;
  /** Nothing was outstanding at the last look. */
  private quiet = true;
  private roomWaiters: (() => void)[] = [];
  private finished?: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void };
  private finAcked = false;
  private error?: Error;
  /** Segments sent again (for status and tests). */
  retransmits = 0;
  /** Timeouts since the last acknowledgement of anything new. */
  private timeoutsInRow = 0;

  constructor(
    private readonly host: SendWindowHost,
    private readonly head: { sid: number; fromOpener: boolean },
    private readonly o: { maxBuffered: number; timeoutMs: number },
  ) {
    this.lastHeard = host.clock.now();
  }

  /** Segments held: unsent and unacknowledged. */
  get buffered(): number {
    return this.queue.length + this.inflight.size;
  }

  /** Every segment queued so far was acknowledged. */
  get idle(): boolean {
    return this.buffered === 0;
  }

  get ended(): boolean {
    return this.finished !== undefined;
  }

  /** Highest sequence number assigned so far, plus one: an ack beyond it acknowledges what was never sent. */
  get assigned(): number {
    return this.nextSeq;
  }

  open(port: number, app: Uint8Array): void {
    this.push({ type: SegmentType.Open, port, app });
  }

  /** Queues `bytes` (copied, in segments); resolves once all of it is in the send buffer. */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.finished) throw MeshError.invalid('the stream was closed for writing');
    for (let at = 0; at < bytes.length; at += SEGMENT_BYTES) {
      while (this.buffered >= this.o.maxBuffered && !this.error) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      if (this.error) throw this.error;
      // A copy (the writer may reuse its buffer once write resolves), and a plain Uint8Array even
      // when given a subclass whose slice shares memory (Node's Buffer).
      this.push({ type: SegmentType.Data, data: Uint8Array.prototype.slice.call(bytes, at, Math.min(bytes.length, at + SEGMENT_BYTES)) });
    }
  }

  /** Queues the end of this direction; resolves once the other end acknowledged everything. */
  finish(): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (!this.finished) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      promise.catch(() => undefined);
      this.finished = { promise, resolve, reject };
      this.push({ type: SegmentType.Fin });
    }
    return this.finished.promise;
  }

  get finishedAndAcked(): boolean {
    return this.finAcked;
  }

  /** Stops everything: waiting writers and a waiting finish reject with `err`. */
  fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.timer?.cancel();
    this.queue.length = 0;
    this.inflight.clear();
    this.finished?.reject(err);
    this.wakeWriters();
  }

  onAck(ack: AckSegment): void {
    if (this.error) return;
    const now = this.host.clock.now();
    this.lastHeard = now;
    if (ack.limit > this.limit) this.limit = ack.limit;
    let newly = 0;
    let latestOrder = -1;
    let sample: number | undefined;
    const delivered = (e: InFlight) => {
      newly++;
      if (e.order > latestOrder) latestOrder = e.order;
      if (e.tx === 1) sample = now - e.sentAt;
    };
    for (const [seq, e] of this.inflight) {
      if (seq < ack.next) {
        this.inflight.delete(seq);
        if (!e.sacked) delivered(e);
        if (e.seg.type === SegmentType.Fin) this.finAcked = true;
      } else if (!e.sacked && inRanges(seq, ack.sack)) {
        e.sacked = true;
        e.lost = false;
        delivered(e);
      }
    }
    if (sample !== undefined) this.rtt.sample(sample);
    if (newly > 0) {
      this.timeoutsInRow = 0;
      this.markLosses(now, latestOrder);
      this.grow(newly, ack.next);
      this.restartTimer();
    }
    if (this.finAcked && this.inflight.size === 0 && this.queue.length === 0) this.finished?.resolve();
    this.wakeWriters();
    this.pump();
  }

  private push(body: Body): void {
    const seg = { ...this.head, ...body, seq: this.nextSeq++ } as Sequenced;
    this.queue.push(seg);
    this.pump();
  }

  /** Sends what the windows allow: lost segments first, then new ones. */
  private pump(): void {
    if (this.error) return;
    for (;;) {
      if (this.pipe() >= Math.max(1, Math.floor(this.cwnd))) break;
      const lost = this.firstLost();
      if (lost) {
        this.retransmits++;
        this.send(lost);
        continue;
      }
      const seg = this.queue[0];
      if (!seg || seg.seq >= this.limit) break;
      this.queue.shift();
      const e: InFlight = { seg, sentAt: 0, order: 0, tx: 0, sacked: false, lost: false };
      this.inflight.set(seg.seq, e);
      this.send(e);
    }
    if (!this.timer) this.restartTimer();
  }

  private send(e: InFlight): void {
    e.sentAt = this.host.clock.now();
    e.order = ++this.txOrder;
    e.tx++;
    e.lost = false;
    this.host.transmit(e.seg);
  }

  /** Segments in the network: sent, neither acknowledged nor known lost. */
  private pipe(): number {
    let n = 0;
    for (const e of this.inflight.values()) if (!e.sacked && !e.lost) n++;
    return n;
  }

  private firstLost(): InFlight | undefined {
    for (const e of this.inflight.values()) if (e.lost) return e;
    return undefined;
  }

  private markLosses(now: number, latestOrder: number): void {
    const srtt = this.rtt.smoothedMs ?? 0;
    let lossEvent = false;
    const entries = [...this.inflight.values()];
    const sacked = entries.filter((e) => e.sacked);
    for (const e of entries) {
      if (e.sacked || e.lost) continue;
      // Only segments sent after this one's latest transmission count against it: acks of
      // segments sent before a retransmission say nothing about the retransmission.
      let sackedAbove = 0;
      for (const x of sacked) if (x.seg.seq > e.seg.seq && x.order > e.order) sackedAbove++;
      const reordered = e.order < latestOrder && now - e.sentAt >= srtt * 1.25;
      if (sackedAbove >= DUP_THRESH || (sackedAbove > 0 && reordered)) {
        e.lost = true;
        if (e.seg.seq >= this.recoveryPoint) lossEvent = true;
      }
    }
    // One halving per loss event: losses among segments sent before the last halving belong to it.
    if (lossEvent) {
      this.ssthresh = Math.max(2, this.cwnd / 2);
      this.cwnd = this.ssthresh;
      this.recoveryPoint = this.nextSeq;
    }
  }

  private grow(newly: number, cumulative: number): void {
    if (cumulative < this.recoveryPoint) return;
    if (this.cwnd < this.ssthresh) this.cwnd += newly;
    else this.cwnd += newly / this.cwnd;
    this.cwnd = Math.min(this.cwnd, MAX_CWND);
  }

  private restartTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.error) return;
    const waiting = this.inflight.size > 0 || this.blockedByWindow();
    if (!waiting) {
      this.quiet = true;
      return;
    }
    // Silence counts from when this end started waiting, not from the last ack before a pause.
    if (this.quiet) {
      this.quiet = false;
      this.lastHeard = this.host.clock.now();
    }
    this.timer = this.host.clock.setTimeout(() => this.onTimer(), this.rtt.rtoMs);
  }

  private blockedByWindow(): boolean {
    const seg = this.queue[0];
    return seg !== undefined && seg.seq >= this.limit;
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.error) return;
    const now = this.host.clock.now();
    if (now - this.lastHeard >= this.o.timeoutMs) return this.host.stalled();
    this.rtt.backOff();
    this.timeoutsInRow++;
    let oldest: InFlight | undefined;
    let newest: InFlight | undefined;
    for (const e of this.inflight.values()) {
      if (e.sacked) continue;
      oldest ??= e;
      newest = e;
    }
    if (oldest && newest && this.timeoutsInRow <= PROBES_BEFORE_COLLAPSE) {
      // A probe, outside the congestion window: one segment, sent again. The newest, whose ack
      // shows every hole before it; but the opening segment while it is unacknowledged, since
      // the other end ignores the rest of a stream it was never told of.
      this.retransmits++;
      this.send(oldest.seg.type === SegmentType.Open ? oldest : newest);
    } else if (newest) {
      for (const e of this.inflight.values()) if (!e.sacked) e.lost = true;
      this.ssthresh = Math.max(2, this.cwnd / 2);
      this.cwnd = 1;
      this.recoveryPoint = this.nextSeq;
    } else if (this.blockedByWindow()) {
      // The window is closed and everything sent was acknowledged: ask whether it reopened
      // (the ack that reopened it may have been lost).
      this.host.transmit({ type: SegmentType.Probe });
    }
    this.restartTimer();
    this.pump();
  }

  private wakeWriters(): void {
    if (!this.error && this.buffered >= this.o.maxBuffered) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }
}

function inRanges(seq: number, sack: number[]): boolean {
  for (let i = 0; i < sack.length; i += 2) if (seq >= sack[i]! && seq < sack[i + 1]!) return true;
  return false;
}
