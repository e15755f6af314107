/**
 * The data plane's bound on WebCrypto calls in flight (src/browser/crypto-slots.ts): never more
 * than the bound at once, started in call order, and a failed call frees its slot like a good one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CryptoSlots } from '../../src/browser/crypto-slots.js';

interface Call { i: number; settle: (ok: boolean) => void }

test('at most `max` calls run at once, started in call order; a rejected or throwing call frees its slot', async () => {
  const slots = new CryptoSlots(3);
  const started: Call[] = [];
  let running = 0;
  let most = 0;
  const results: Promise<string>[] = [];
  for (let i = 0; i < 10; i++) {
    const result = slots.run(() => {
      if (i === 7) throw new Error('thrown at the call');
      running++;
      most = Math.max(most, running);
      return new Promise<string>((resolve, reject) => {
        started.push({ i, settle: (ok) => (running--, ok ? resolve(`r${i}`) : reject(new Error(`e${i}`))) });
      });
    });
    // Failures are read at the end (allSettled); marked handled now.
    result.catch(() => undefined);
    results.push(result);
  }
  assert.deepEqual(started.map((c) => c.i), [0, 1, 2], 'three started, the rest wait');
  // Settle out of order (one failing): each freed slot starts the longest-waiting call.
  const drain = async (): Promise<void> => {
    for (let guard = 0; guard < 100 && started.some((c) => c.i >= 0); guard++) {
      const live = started.filter((c) => c.i >= 0);
      const c = live[live.length - 1]!;
      c.settle(c.i !== 4);
      c.i = -1 - c.i;
      await new Promise((r) => setImmediate(r));
    }
  };
  await drain();
  const order = started.map((c) => -1 - c.i);
  assert.deepEqual(order.slice(0, 3), [0, 1, 2]);
  assert.deepEqual([...order.slice(3)].sort((a, b) => a - b), [3, 4, 5, 6, 8, 9], 'every call but the throwing one ran');
  assert.ok(most <= 3, `never more than 3 at once (saw ${most})`);
  const settled = await Promise.allSettled(results);
  assert.deepEqual(
    settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
    ['r0', 'r1', 'r2', 'r3', 'e4', 'r5', 'r6', 'thrown at the call', 'r8', 'r9'],
  );
  // Every slot is free again: three new calls start at once.
  let now = 0;
  await Promise.all([0, 1, 2].map(() => slots.run(async () => void now++)));
  assert.equal(now, 3);
});

test('calls waiting for a slot start in the order they were made', async () => {
  const slots = new CryptoSlots(1);
  const order: number[] = [];
  await Promise.all(Array.from({ length: 20 }, (_, i) => slots.run(async () => {
    order.push(i);
    await new Promise((r) => setImmediate(r));
  })));
  assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
});
