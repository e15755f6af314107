/**
 * One timer for the earliest of many deadlines. A part that watches many links (liveness
 * probes, idle offers) keeps one of these instead of a timer per link: it asks for a wake-up by
 * each link's deadline, and only an earlier deadline than the one already armed re-arms it, so
 * a quiet node holds one pending timer, and a busy one does not churn timers on every packet.
 */
import type { Clock, TimerHandle } from './clock.js';

export class EarliestTimer {
  private timer?: TimerHandle;
  private at = Infinity;
  private halted = false;

  /** `fire` runs once the armed time comes (through the clock's timer), unless stopped first. */
  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  /** Makes sure `fire` runs by `due` (clock time); Infinity asks for nothing. */
  arm(due: number): void {
    if (this.halted || due === Infinity || due >= this.at) return;
    this.timer?.cancel();
    this.at = due;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.at = Infinity;
      if (!this.halted) this.fire();
    }, Math.max(0, due - this.clock.now()));
  }

  get stopped(): boolean {
    return this.halted;
  }

  stop(): void {
    this.halted = true;
    this.timer?.cancel();
    this.timer = undefined;
  }
}
