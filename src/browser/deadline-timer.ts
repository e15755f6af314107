/**
 * One timer for many deadlines. The data plane sends a request per round trip, and a CPU profile
 * of the bench's round trips (docs/BENCHMARKS.md, "the tab's own cost per round trip") showed
 * a setTimeout and a clearTimeout per request costing as much as the rest of the request's own
 * code. Here the owner keeps its deadlines (with what they belong to) and the one timer is armed
 * for the earliest. A deadline met early (the answer came) leaves the timer alone: when it fires,
 * `sweep` expires whatever is due by then and names the next deadline, for which it is armed again.
 * So a steady flow of requests arms about one timer per timeout period, not one per request.
 */

/** setTimeout's largest delay (a longer one fires at once); a later deadline is re-armed when this one fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class DeadlineTimer {
  private timer?: ReturnType<typeof setTimeout>;
  private armedFor = Infinity;

  /** `sweep(now)` expires every deadline at or before `now` and returns the earliest left (Infinity if none). */
  constructor(
    private readonly sweep: (now: number) => number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A deadline at `at` (on `now`'s clock) exists: the timer fires by then. */
  schedule(at: number): void {
    if (at < this.armedFor) this.arm(at);
  }

  /** No timer left running (the owner is closing). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_DELAY_MS, Math.max(0, at - this.now())));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const next = this.sweep(this.now());
    if (next < Infinity) this.arm(next);
  }
}
