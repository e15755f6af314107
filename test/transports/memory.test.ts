/**
 * The in-memory transport: the shared Link compliance suite on real time, then what only
 * memory links do (latency, jitter, loss, partitions), on a virtual clock the test drives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { isMeshError } from '../../src/core/errors.js';
import { MemoryNetwork, type MemoryLink, type MemoryNetworkOptions } from '../../src/transports/memory.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';
import { runLinkCompliance } from './link-compliance.js';

let pairs = 0;
runLinkCompliance('memory', async () => {
  const network = new MemoryNetwork({ latencyMs: 1 });
  const addr = `mem:listener-${pairs++}`;
  let accepted: MemoryLink | undefined;
  const unlisten = network.listen(addr, systemClock, (link) => (accepted = link));
  const a = await network.dial('mem:dialer', addr, systemClock);
  assert.ok(accepted, 'the listener got its end when the dial resolved');
  const b = accepted;
  return {
    a,
    b,
    async cleanup() {
      unlisten();
      a.close('cleanup');
      b.close('cleanup');
    },
  };
});

/** A network on a virtual clock, with helpers to dial and collect without real waiting. */
function virtualNet(options: MemoryNetworkOptions) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(options);
  const at = clock.scoped(0);
  const accepted = new Map<string, MemoryLink[]>();
  const listen = (addr: string) =>
    network.listen(addr, at, (link) => {
      const list = accepted.get(addr) ?? [];
      list.push(link);
      accepted.set(addr, list);
    });
  /** Dials and runs the clock until the dial settles (it must within `dialTimeoutMs` plus a round trip). */
  const dial = async (from: string, to: string): Promise<{ a: MemoryLink; b: MemoryLink }> => {
    let result: MemoryLink | undefined;
    let error: unknown;
    network.dial(from, to, at).then(
      (l) => (result = l),
      (e: unknown) => (error = e),
    );
    const deadline = clock.now() + network.dialTimeoutMs + 4 * network.latencyMs + 1;
    while (!result && !error && clock.now() < deadline) {
      await clock.runUntil(clock.now() + 1);
      await Promise.resolve();
    }
    if (error) throw error;
    assert.ok(result, `dial ${from} -> ${to} settled within the dial timeout`);
    return { a: result, b: accepted.get(to)!.at(-1)! };
  };
  return { clock, network, at, listen, dial };
}

/** Attaches a recorder that notes each frame with the virtual time it arrived. */
function record(link: MemoryLink, clock: VirtualClock) {
  const frames: { at: number; bytes: Uint8Array }[] = [];
  const closes: string[] = [];
  link.attach({ frame: (bytes) => frames.push({ at: clock.now(), bytes }), close: (reason) => closes.push(reason) });
  return { frames, closes };
}

describe('memory links', () => {
  it('delay each frame by latency plus at most the jitter, and keep order', async () => {
    const latencyMs = 20;
    const jitterMs = 50;
    const { clock, listen, dial } = virtualNet({ latencyMs, jitterMs, seed: 'jitter' });
    listen('b');
    const { a, b } = await dial('a', 'b');
    const got = record(b, clock);
    const sentAt: number[] = [];
    // Frames in bursts of 5 every 3 ms: with 50 ms of jitter, later frames often draw shorter delays.
    for (let i = 0; i < 200; i++) {
      if (i % 5 === 0) await clock.runUntil(clock.now() + 3);
      sentAt.push(clock.now());
      a.send(Uint8Array.of(i));
    }
    await clock.runUntil(clock.now() + latencyMs + jitterMs + 10);
    assert.equal(got.frames.length, 200);
    const delays = got.frames.map((f, i) => {
      assert.equal(f.bytes[0], i, `frame ${i} arrives in order`);
      return f.at - sentAt[i]!;
    });
    for (const [i, d] of delays.entries()) {
      assert.ok(d >= latencyMs && d <= latencyMs + jitterMs, `frame ${i} took ${d} ms`);
    }
    assert.ok(new Set(delays).size > 10, 'jitter makes delays vary');
  });

  it('with no jitter, every frame takes exactly the latency', async () => {
    const { clock, listen, dial } = virtualNet({ latencyMs: 7 });
    listen('b');
    const { a, b } = await dial('a', 'b');
    const got = record(b, clock);
    const start = clock.now();
    a.send(Uint8Array.of(1));
    await clock.runUntil(start + 6);
    assert.equal(got.frames.length, 0, 'not before the latency');
    await clock.runUntil(start + 7);
    assert.deepEqual(got.frames.map((f) => f.at - start), [7]);
  });

  it('loses frames at about the configured rate, keeping the rest in order', async () => {
    const { clock, listen, dial } = virtualNet({ latencyMs: 1, loss: 0.3, seed: 'lossy' });
    listen('b');
    const { a, b } = await dial('a', 'b');
    const got = record(b, clock);
    const n = 2000;
    for (let i = 0; i < n; i++) a.send(Uint8Array.of(i >> 8, i & 0xff));
    await clock.runUntil(clock.now() + 10);
    const indices = got.frames.map((f) => (f.bytes[0]! << 8) | f.bytes[1]!);
    const rate = 1 - indices.length / n;
    assert.ok(rate > 0.25 && rate < 0.35, `loss rate ${rate}`);
    for (let i = 1; i < indices.length; i++) assert.ok(indices[i]! > indices[i - 1]!, 'survivors keep their order');
    assert.equal(a.bufferedAmount, 0, 'lost frames leave the send buffer too');
  });

  it('lose nothing when loss is 0', async () => {
    const { clock, listen, dial } = virtualNet({ latencyMs: 1, seed: 'lossless' });
    listen('b');
    const { a, b } = await dial('a', 'b');
    const got = record(b, clock);
    for (let i = 0; i < 500; i++) a.send(Uint8Array.of(i & 0xff));
    await clock.runUntil(clock.now() + 10);
    assert.equal(got.frames.length, 500);
  });

  it('fail a dial to an address nobody listens on after the dial timeout', async () => {
    const { clock, dial } = virtualNet({ latencyMs: 5, dialTimeoutMs: 300 });
    const start = clock.now();
    await assert.rejects(dial('a', 'nowhere'), (err: unknown) => isMeshError(err, 'DIAL_FAILED'));
    assert.ok(clock.now() - start >= 300 - 1, `failed after ${clock.now() - start} ms`);
  });

  it('partition closes crossing links with reason "partitioned", refuses dials across, and heal undoes it', async () => {
    const { clock, network, listen, dial } = virtualNet({ latencyMs: 5, dialTimeoutMs: 200 });
    for (const addr of ['a', 'b', 'c', 'd']) listen(addr);
    const ab = await dial('a', 'b');
    const cd = await dial('c', 'd');
    const ac = await dial('a', 'c');
    const rec = {
      abA: record(ab.a, clock),
      abB: record(ab.b, clock),
      cdC: record(cd.a, clock),
      cdD: record(cd.b, clock),
      acA: record(ac.a, clock),
      acC: record(ac.b, clock),
    };
    network.partition([['a', 'b'], ['c', 'd']]);
    await clock.runUntil(clock.now() + 20);
    // a-c crosses the cut: both ends close, each with the reason.
    assert.deepEqual(rec.acA.closes, ['partitioned']);
    assert.deepEqual(rec.acC.closes, ['partitioned']);
    assert.equal(ac.a.closed, true);
    assert.equal(ac.b.closed, true);
    // Links within a side are untouched and still carry frames.
    assert.deepEqual([rec.abA.closes, rec.abB.closes, rec.cdC.closes, rec.cdD.closes], [[], [], [], []]);
    ab.a.send(Uint8Array.of(9));
    cd.b.send(Uint8Array.of(8));
    await clock.runUntil(clock.now() + 10);
    assert.deepEqual(rec.abB.frames.map((f) => f.bytes[0]), [9]);
    assert.deepEqual(rec.cdC.frames.map((f) => f.bytes[0]), [8]);
    // New dials across the cut fail; within a side they work.
    await assert.rejects(dial('b', 'd'), (err: unknown) => isMeshError(err, 'DIAL_FAILED') && /partitioned/.test((err as Error).message));
    await dial('b', 'a');
    network.heal();
    const healed = await dial('b', 'd');
    const hd = record(healed.b, clock);
    healed.a.send(Uint8Array.of(5));
    await clock.runUntil(clock.now() + 10);
    assert.deepEqual(hd.frames.map((f) => f.bytes[0]), [5]);
  });

  it('addresses not named in a partition stay together in one group', async () => {
    const { network, listen, dial } = virtualNet({ latencyMs: 5, dialTimeoutMs: 100 });
    for (const addr of ['x', 'y', 'z']) listen(addr);
    network.partition([['x']]);
    await dial('y', 'z');
    await assert.rejects(dial('y', 'x'), (err: unknown) => isMeshError(err, 'DIAL_FAILED'));
    assert.equal(network.sameSide('y', 'z'), true);
    assert.equal(network.sameSide('y', 'x'), false);
  });

  it('deliver the close after the frames still in flight, one latency after the last', async () => {
    const { clock, listen, dial } = virtualNet({ latencyMs: 10, jitterMs: 30, seed: 'fin' });
    listen('b');
    const { a, b } = await dial('a', 'b');
    const events: string[] = [];
    b.attach({ frame: (bytes) => events.push(`frame ${bytes[0]}`), close: (reason) => events.push(`close ${reason}`) });
    for (let i = 0; i < 20; i++) a.send(Uint8Array.of(i));
    a.close('bye');
    await clock.runUntil(clock.now() + 100);
    assert.deepEqual(events, [...Array.from({ length: 20 }, (_, i) => `frame ${i}`), 'close bye']);
  });

  it('refuses a second listener on the same address', () => {
    const network = new MemoryNetwork();
    network.listen('taken', systemClock, () => {});
    assert.throws(() => network.listen('taken', systemClock, () => {}), (err: unknown) => isMeshError(err, 'PORT_IN_USE'));
  });
});
