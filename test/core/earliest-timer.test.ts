/** EarliestTimer (src/core/earliest-timer.ts): one pending timer for the earliest deadline asked for. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EarliestTimer } from '../../src/core/earliest-timer.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';

describe('EarliestTimer', () => {
  it('fires once at the earliest deadline asked for; a later one does not re-arm it, an earlier one does', async () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    const t = new EarliestTimer(clock.scoped(0), () => fired.push(clock.now()));
    t.arm(500);
    t.arm(900);
    assert.equal(clock.pending, 1, 'a later deadline adds no timer');
    t.arm(200);
    t.arm(Infinity);
    await clock.runUntil(1_000);
    assert.deepEqual(fired, [200], 'fired once, at the earliest deadline');
    // Once fired it holds nothing: the next deadline arms it again, whatever its time.
    t.arm(1_700);
    await clock.runUntil(2_000);
    assert.deepEqual(fired, [200, 1_700]);
  });

  it('a deadline already past fires at once; stop cancels what is armed and refuses new deadlines', async () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    const t = new EarliestTimer(clock.scoped(0), () => fired.push(clock.now()));
    await clock.runUntil(100);
    t.arm(50);
    await clock.runUntil(100);
    assert.deepEqual(fired, [100], 'past deadline: fired without waiting');
    t.arm(300);
    t.stop();
    t.arm(250);
    await clock.runUntil(1_000);
    assert.deepEqual(fired, [100], 'nothing fires after stop');
    assert.equal(t.stopped, true);
  });
});
