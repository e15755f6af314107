/**
 * Reliable datagrams under loss: every `send(…, { reliable: true })` either resolves, and its
 * message was delivered exactly once, or rejects with TIMEOUT after its deadline, and was
 * delivered at most once. Deliveries are counted per message at the receiver's app.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import type { MeshNode } from '../../src/core/node.js';
import { ReliableWindow, WINDOW_MS } from '../../src/core/reliable.js';
import { TestNet } from '../helpers/mesh.js';
import { drive, driveUntil } from '../helpers/wait.js';

/** a – b – c on lossy memory links; a and c have no address, so a's traffic to c crosses b. */
async function lossyLine(loss: number): Promise<{ net: TestNet; a: MeshNode; b: MeshNode; c: MeshNode }> {
  const net = new TestNet({ loss, jitterMs: 3, seed: `reliable/${loss}` });
  const b = (await net.addNode('rel/b')).node;
  const a = (await net.addNode('rel/a', { addrs: [], bootstrap: ['mem:rel/b'], handshakeTimeoutMs: 1000, maintainMs: 2000 })).node;
  const c = (await net.addNode('rel/c', { addrs: [], bootstrap: ['mem:rel/b'], handshakeTimeoutMs: 1000, maintainMs: 2000 })).node;
  await drive(net.clock, Promise.all([b.start(), a.start(), c.start()]), 1000, 'start');
  // Handshakes lose frames too: the nodes dial again until both links are up.
  await driveUntil(net.clock, () => b.linkIds().length === 2, 120_000, 'a and c linked to b despite the loss', 50);
  return { net, a, b, c };
}

type Outcome = { i: number; ok: boolean; code?: string; at: number };

describe('reliable datagrams', () => {
  it('under 20% loss per link: each send resolves and is delivered exactly once, or times out at its deadline and is delivered at most once', async () => {
    const { net, a, c } = await lossyLine(0.2);
    const delivered = new Map<string, number>();
    c.onMessage((m) => delivered.set(String(m.data), (delivered.get(String(m.data)) ?? 0) + 1));
    const N = 80;
    const deadlineMs = 6_000;
    const start = net.clock.now();
    const outcomes: Outcome[] = [];
    const sends = Array.from({ length: N }, (_, i) =>
      a.send(c.id, `msg-${i}`, { port: 2, reliable: true, deadlineMs }).then(
        () => void outcomes.push({ i, ok: true, at: net.clock.now() }),
        (err: unknown) => void outcomes.push({ i, ok: false, code: isMeshError(err) ? err.code : String(err), at: net.clock.now() }),
      ),
    );
    await drive(net.clock, Promise.all(sends), deadlineMs + 2_000, 'every reliable send settled', 20);
    assert.equal(outcomes.length, N, 'no send hangs');
    for (const o of outcomes) {
      const n = delivered.get(`msg-${o.i}`) ?? 0;
      if (o.ok) assert.equal(n, 1, `msg-${o.i} was acknowledged, so delivered exactly once (got ${n})`);
      else {
        assert.equal(o.code, 'TIMEOUT', `msg-${o.i} failed with TIMEOUT`);
        assert.ok(n <= 1, `msg-${o.i} delivered at most once (got ${n})`);
        assert.ok(o.at - start >= deadlineMs && o.at - start <= deadlineMs + 50, `msg-${o.i} gave up at its deadline (${o.at - start} ms)`);
      }
    }
    const ok = outcomes.filter((o) => o.ok).length;
    const dups = c.status().counters.dropped['duplicate-reliable'] ?? 0;
    console.log(`# reliable under 20% loss: ${ok}/${N} acknowledged, ${N - ok} timed out, ${dups} duplicate copies refused at the receiver`);
    assert.ok(ok >= N * 0.8, `most sends get through the loss (${ok}/${N})`);
    assert.ok(dups > 0, 'copies did arrive after the first one (lost acks), and were not delivered again');
    assert.equal(Math.max(...delivered.values()), 1, 'no message delivered twice');
    await net.stopAll();
  });

  it('with every frame lost after the links are up, each send rejects with TIMEOUT at its deadline', async () => {
    const { net, a, b, c } = await lossyLine(0);
    const seen: string[] = [];
    c.onMessage((m) => seen.push(String(m.data)));
    // Cut b off: a's copies go out and die at b.
    await drive(net.clock, b.stop(), 1000, 'stop b');
    const start = net.clock.now();
    const err = await drive(net.clock, a.send(c.id, 'into the void', { reliable: true, deadlineMs: 1500 }).then(() => undefined, (e: unknown) => e), 5000, 'send');
    assert.ok(isMeshError(err, 'TIMEOUT'), `TIMEOUT, got ${String(err)}`);
    assert.ok(net.clock.now() - start >= 1500 && net.clock.now() - start < 1600);
    assert.deepEqual(seen, []);
    await net.stopAll();
  });

  it('a send to itself is delivered once and acknowledged', async () => {
    const { net, a } = await lossyLine(0);
    const seen: string[] = [];
    a.onMessage((m) => seen.push(String(m.data)));
    await drive(net.clock, a.send(a.id, 'note to self', { reliable: true }), 1000, 'send to self');
    assert.deepEqual(seen, ['note to self']);
    await net.stopAll();
  });

  it('refuses a deadline out of range', async () => {
    const { net, a, c } = await lossyLine(0);
    for (const deadlineMs of [0, -1, 120_001, Number.NaN]) {
      assert.throws(() => a.send(c.id, 'x', { reliable: true, deadlineMs }), (e: unknown) => isMeshError(e, 'INVALID_ARGUMENT'), String(deadlineMs));
    }
    await net.stopAll();
  });
});

describe('the receiver window', () => {
  it('remembers an id for WINDOW_MS, then forgets it', () => {
    let now = 0;
    const w = new ReliableWindow({ now: () => now, setTimeout: () => ({ cancel() {} }) });
    assert.equal(w.has('x', 1), false);
    assert.equal(w.record('x', 1), true);
    now = WINDOW_MS - 1;
    assert.equal(w.has('x', 1), true, 'still remembered just before the window ends');
    assert.equal(w.has('y', 1), false, 'ids are per source');
    now = WINDOW_MS;
    assert.equal(w.has('x', 1), false, 'forgotten once the window passed');
  });

  it('when full, refuses new ids rather than forgetting remembered ones early', () => {
    const now = 0;
    const w = new ReliableWindow({ now: () => now, setTimeout: () => ({ cancel() {} }) }, 3);
    for (let i = 1; i <= 3; i++) assert.equal(w.record('x', i), true);
    assert.equal(w.record('x', 4), false, 'no room');
    for (let i = 1; i <= 3; i++) assert.equal(w.has('x', i), true, `id ${i} is still remembered`);
  });
});
