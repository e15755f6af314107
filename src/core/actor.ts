/**
 * One owner for a node's state: every event (a frame, a timer, an API call) runs as a task on
 * this queue, one after another, so handlers never interleave across `await`s. That is what
 * makes the node race-free and the simulator deterministic.
 */
export class Actor {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  /** Called when the queue goes from idle to busy, with a promise that settles when idle again. */
  onBusy?: (idle: Promise<void>) => void;
  private idleResolve?: () => void;

  get busy(): boolean {
    return this.pending > 0;
  }

  run<T>(task: () => T | Promise<T>): Promise<T> {
    if (this.pending++ === 0 && this.onBusy) {
      this.onBusy(new Promise<void>((resolve) => (this.idleResolve = resolve)));
    }
    const result = this.tail.then(task);
    this.tail = result.then(
      () => this.done(),
      () => this.done(),
    );
    return result;
  }

  /** Settles once every task queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }

  private done(): void {
    if (--this.pending === 0 && this.idleResolve) {
      const resolve = this.idleResolve;
      this.idleResolve = undefined;
      resolve();
    }
  }
}
