/**
 * The pause between WebRTC dials to a peer that keeps failing (src/browser/dial-backoff.ts): it
 * doubles from 10 s up to 5 minutes, with jitter, and a success forgets it. The lab
 * (test/lab/symmetric.test.ts) shows the effect on real browsers behind a symmetric NAT.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DialBackoff } from '../../src/browser/dial-backoff.js';
import { MeshError } from '../../src/core/errors.js';

describe('dial backoff', () => {
  it('doubles the pause after each failure up to a cap, and forgets it after a success', () => {
    let now = 0;
    let jitter = 0.5; // the middle of the jitter range: the pause exactly
    const b = new DialBackoff(() => now, () => jitter);
    const pauses: number[] = [];
    for (let i = 0; i < 8; i++) {
      b.started();
      b.failedWith('p');
      const from = now;
      assert.equal(b.allowed('p'), false);
      // Find when it is allowed again, to the second.
      while (!b.allowed('p')) now += 1_000;
      pauses.push(now - from);
    }
    assert.deepEqual(pauses, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
    assert.deepEqual(b.counters(), { attempted: 8, succeeded: 0, failed: 8, backingOff: 0 });
    b.failedWith('p');
    assert.equal(b.counters().backingOff, 1);
    b.succeededWith('p');
    assert.equal(b.allowed('p'), true, 'a success forgets the failures');
    jitter = 0;
    b.failedWith('p');
    now += 7_500;
    assert.equal(b.allowed('p'), true, 'with the lowest jitter the first pause is 7.5 s');
    assert.equal(b.allowed('other'), true, 'other peers are not paused');
  });

  it('a dial that gives way to another (DUPLICATE) is no failure; a link that opens either way ends the pause', () => {
    const b = new DialBackoff(() => 0, () => 0.5);
    b.started();
    b.ended('p', new MeshError('DUPLICATE', "crossed the peer's dial to us, which is kept"));
    assert.equal(b.allowed('p'), true, 'the peer is making the link: no pause');
    b.started();
    b.ended('p', new MeshError('DIAL_FAILED', 'timed out'));
    assert.equal(b.allowed('p'), false, 'a real failure pauses');
    b.started();
    b.ended('q');
    assert.deepEqual(b.counters(), { attempted: 3, succeeded: 1, failed: 1, backingOff: 1 });
    b.reachable('p');
    assert.equal(b.allowed('p'), true, "the peer's own dial to us opened: no pause");
  });
});
