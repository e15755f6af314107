/**
 * Virtual time for the simulator. Events sit in a binary heap ordered by (time, sequence).
 * Each node gets its own scoped clock; because every node runs its tasks one at a time
 * (its Actor), the order in which it schedules events is deterministic, and so is the whole run.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

interface Event {
  time: number;
  owner: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class VirtualClock {
  private heap: Event[] = [];
  private time = 0;
  private ownerSeq: number[] = [];
  /** Promises of actors that became busy during the current step. */
  private busy: Promise<void>[] = [];

  now(): number {
    return this.time;
  }

  /** A Clock whose events are ordered by this owner's own sequence (owner -1 is the driver). */
  scoped(owner: number): Clock {
    return {
      now: () => this.time,
      setTimeout: (fn, ms) => this.schedule(owner, fn, ms),
    };
  }

  /** Registers an actor's idle promise, so the step does not end before it settles. */
  track(idle: Promise<void>): void {
    this.busy.push(idle);
  }

  schedule(owner: number, fn: () => void, ms: number): TimerHandle {
    const seq = (this.ownerSeq[owner + 1] = (this.ownerSeq[owner + 1] ?? 0) + 1);
    // Whole milliseconds: events of the same millisecond run as one step.
    const e: Event = { time: this.time + Math.max(0, Math.ceil(ms)), owner, seq, fn, cancelled: false };
    this.push(e);
    return { cancel: () => void (e.cancelled = true) };
  }

  /** Runs events until virtual time `until` (inclusive), settling every actor after each step. */
  async runUntil(until: number): Promise<void> {
    // Work the driver started at the current time (an API call on a node) finishes at this
    // time: without this, time could jump to `until` while that work still awaits its crypto.
    await this.settle();
    while (this.heap.length > 0 && this.heap[0]!.time <= until) {
      this.time = this.heap[0]!.time;
      while (this.heap.length > 0 && this.heap[0]!.time === this.time) {
        const e = this.pop();
        if (!e.cancelled) e.fn();
      }
      await this.settle();
    }
    this.time = Math.max(this.time, until);
  }

  private async settle(): Promise<void> {
    while (this.busy.length > 0) {
      const waiting = this.busy;
      this.busy = [];
      await Promise.all(waiting);
    }
  }

  get pending(): number {
    return this.heap.length;
  }

  private less(a: Event, b: Event): boolean {
    return a.time !== b.time ? a.time < b.time : a.owner !== b.owner ? a.owner < b.owner : a.seq < b.seq;
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Event {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
