/**
 * Bounded waits for tests: every wait has a deadline, so a hang fails with a sentence that says
 * what never happened instead of stalling the run.
 */
import type { VirtualClock } from '../../src/sim/virtual-clock.js';

/**
 * Settles like `promise`, or rejects after `ms` real milliseconds naming `what`. The deadline
 * timer is ref'd, so it also keeps the process alive while the awaited work runs on unref'd timers.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(deadline);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(deadline);
        reject(err);
      },
    );
  });
}

/** Polls `condition` every few ms of real time until it holds; rejects after `ms`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: still not true after ${ms} ms`);
    await sleep(2);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Runs a virtual clock forward in steps until `promise` settles, then settles like it. Rejects
 * when `maxVirtualMs` of virtual time pass first: the virtual-time counterpart of `within`.
 */
export async function drive<T>(clock: VirtualClock, promise: Promise<T>, maxVirtualMs: number, what: string, stepMs = 10): Promise<T> {
  let outcome: Outcome<T> | undefined;
  promise.then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  );
  const deadline = clock.now() + maxVirtualMs;
  // Let already-resolved work land before moving time at all.
  await clock.runUntil(clock.now());
  await flush();
  while (!outcome && clock.now() < deadline) {
    await clock.runUntil(Math.min(deadline, clock.now() + stepMs));
    await flush();
  }
  const o = outcome as Outcome<T> | undefined;
  if (!o) throw new Error(`${what}: not settled after ${maxVirtualMs} virtual ms`);
  if (!o.ok) throw o.error;
  return o.value;
}

/** Runs a virtual clock forward by `ms`, letting actors settle after each step. */
export async function advance(clock: VirtualClock, ms: number): Promise<void> {
  await clock.runUntil(clock.now() + ms);
  await flush();
}

/** Lets pending promise callbacks (and one macrotask turn) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs a virtual clock forward until `condition` holds; rejects after `maxVirtualMs` of virtual time. */
export async function driveUntil(clock: VirtualClock, condition: () => boolean, maxVirtualMs: number, what: string, stepMs = 5): Promise<void> {
  const deadline = clock.now() + maxVirtualMs;
  await flush();
  while (!condition()) {
    if (clock.now() >= deadline) throw new Error(`${what}: still not true after ${maxVirtualMs} virtual ms`);
    await clock.runUntil(Math.min(deadline, clock.now() + stepMs));
    await flush();
  }
}
