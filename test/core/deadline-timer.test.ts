/**
 * DeadlineTimer (src/browser/deadline-timer.ts): every deadline expires, none before its time,
 * and deadlines met early cost no timer of their own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineTimer } from '../../src/browser/deadline-timer.js';

/** An owner as the data plane is one: its deadlines in a map, settled early or expired by the sweep. */
function owner() {
  const due = new Map<number, { at: number; expired: (late: number) => void }>();
  let sweeps = 0;
  const timer = new DeadlineTimer((now) => {
    sweeps++;
    let next = Infinity;
    for (const [id, d] of due) {
      if (d.at <= now) {
        due.delete(id);
        d.expired(now - d.at);
      } else next = Math.min(next, d.at);
    }
    return next;
  });
  return {
    due,
    timer,
    sweeps: () => sweeps,
    /** A deadline `ms` from now; resolves with how late it expired. */
    add(id: number, ms: number): Promise<number> {
      const at = performance.now() + ms;
      return new Promise((expired) => {
        due.set(id, { at, expired });
        timer.schedule(at);
      });
    },
  };
}

test('deadlines expire in their order, none early, whatever order they were set in', async () => {
  const o = owner();
  const ms = [80, 20, 50, 25, 5];
  // Which sweep expired each: under load one late sweep may expire several at once (in the
  // order they were set), but a deadline never waits for a sweep after a later deadline's.
  const sweepOf: number[] = [];
  const lates = await Promise.all(ms.map((m, i) => o.add(i, m).then((late) => ((sweepOf[i] = o.sweeps()), late))));
  for (const late of lates) assert.ok(late >= 0, `expired ${late} ms after its deadline, not before`);
  for (let a = 0; a < ms.length; a++) {
    for (let b = 0; b < ms.length; b++) {
      if (ms[a]! < ms[b]!) assert.ok(sweepOf[a]! <= sweepOf[b]!, `the ${ms[a]} ms deadline expired no later than the ${ms[b]} ms one (sweeps ${sweepOf[a]}, ${sweepOf[b]})`);
    }
  }
  assert.equal(o.due.size, 0);
});

test('deadlines met early cost no timer: a steady flow arms about one per timeout period', async () => {
  const o = owner();
  // 2 000 requests with a 40 ms timeout, each answered at once (removed before its deadline).
  for (let i = 0; i < 2_000; i++) {
    void o.add(i, 40);
    o.due.delete(i);
  }
  // One more that is never answered: it must still expire, and the sweeps stay few.
  const late = await o.add(-1, 60);
  assert.ok(late >= 0);
  // Two deadlines armed for (the first request's, then the last one's); a timer may fire a little
  // before its deadline by the event loop's clock, and then sweeps once more.
  assert.ok(o.sweeps() <= 5, `${o.sweeps()} sweeps for 2 001 deadlines`);
  assert.equal(o.due.size, 0);
});

test('stop: nothing fires after it', async () => {
  const o = owner();
  let fired = false;
  void o.add(1, 10).then(() => (fired = true));
  o.timer.stop();
  // A later deadline on a second timer proves time passed beyond the first one's deadline.
  const other = owner();
  await other.add(1, 40);
  assert.equal(fired, false, 'the stopped timer did not sweep');
  assert.equal(o.sweeps(), 0);
});
