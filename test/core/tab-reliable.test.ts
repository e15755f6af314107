/**
 * Reliable datagrams sent by a host tab (src/browser/tab-reliable.ts; docs/DATA-PLANE.md,
 * "Reliable datagrams"), the rules without browsers: one message id for every copy, copies until
 * the ack, an ack settling the send once and only from the peer it went to, a link that leaves
 * the tab handing the send to the node under the same id with the time left, TIMEOUT at the
 * deadline. And the node's side of that hand-over, under loss: a message whose first copies went
 * one way and whose send then went on through the node under the same id is delivered at most
 * once (with a fresh id it is not: the control case).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemRandom } from '../../src/core/clock.js';
import { isMeshError } from '../../src/core/errors.js';
import type { MeshNode } from '../../src/core/node.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';
import { TabReliable } from '../../src/browser/tab-reliable.js';
import { TestNet } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

const PEER = 'b'.repeat(64);
const OTHER = 'c'.repeat(64);

function tab() {
  const clock = new VirtualClock();
  const r = new TabReliable(clock.scoped(0), systemRandom, { grant: () => undefined, write: async () => false });
  return { clock, r };
}

/** A send whose copies are counted and written while `linked` says so; `viaNode` records its call. */
function sending(r: TabReliable, deadlineMs: number, linked = () => true) {
  const s = { copies: 0, ids: new Set<number>(), viaNode: [] as { id: number; remaining: number }[], outcome: undefined as string | undefined, node: undefined as undefined | { resolve: () => void; reject: (e: Error) => void } };
  const id = r.nextId();
  r.send(
    PEER,
    id,
    deadlineMs,
    async () => {
      if (!linked()) return false;
      s.copies++;
      s.ids.add(id);
      return true;
    },
    (mid, remaining) => {
      s.viaNode.push({ id: mid, remaining });
      return new Promise<void>((resolve, reject) => (s.node = { resolve, reject }));
    },
  ).then(
    () => void (s.outcome = 'ok'),
    (e: unknown) => void (s.outcome = isMeshError(e) ? e.code : String(e)),
  );
  return { id, s };
}

describe('reliable datagrams from a host tab (tab-reliable.ts)', () => {
  it('copies of one id with growing pauses until the ack; the ack settles it once, and only from its peer', async () => {
    const { clock, r } = tab();
    const { id, s } = sending(r, 10_000);
    await advance(clock, 0);
    assert.equal(s.copies, 1, 'the first copy goes at once');
    await advance(clock, 2_000);
    // Pauses 250, 500, 1000 (each +-25 %): 3 or 4 copies in 2 s.
    assert.ok(s.copies >= 3 && s.copies <= 4, `${s.copies} copies in 2 s`);
    assert.equal(r.ack(OTHER, id), false, 'an ack from another node is not ours');
    assert.equal(r.owns(PEER, id), true);
    assert.equal(r.ack(PEER, id), true);
    assert.equal(r.ack(PEER, id), false, 'a second ack (of a later copy) settles nothing');
    assert.equal(r.owns(PEER, id), false, 'its acks are no longer the tab to take');
    await advance(clock, 10);
    assert.equal(s.outcome, 'ok');
    const n = s.copies;
    await advance(clock, 10_000);
    assert.equal(s.copies, n, 'no copy after the ack');
    assert.deepEqual(r.stats, { reliableSent: 1, reliableCopies: n, reliableAcked: 1, reliableToNode: 0 });
  });

  it('the link leaves the tab mid-send: the node takes it over under the same id with the time left; its acks go to the node', async () => {
    const { clock, r } = tab();
    const { id, s } = sending(r, 5_000);
    await advance(clock, 1_200);
    r.linkGone(OTHER);
    assert.equal(s.viaNode.length, 0, 'another peer\'s link: nothing moves');
    r.linkGone(PEER);
    assert.deepEqual(s.viaNode, [{ id, remaining: 3_800 }], 'handed over once, same id, the time left');
    assert.equal(r.owns(PEER, id), false, 'the node owns it now');
    const n = s.copies;
    await advance(clock, 10_000);
    assert.equal(s.copies, n, 'the tab writes no more copies');
    assert.equal(s.outcome, undefined, 'settles as the node says, not at the tab\'s deadline');
    s.node!.resolve();
    await advance(clock, 0);
    assert.equal(s.outcome, 'ok');
    assert.equal(r.stats.reliableToNode, 1);
  });

  it('a copy the tab can no longer write goes to the node; past the deadline, TIMEOUT without the node', async () => {
    const { clock, r } = tab();
    let linked = true;
    const { id, s } = sending(r, 3_000, () => linked);
    await advance(clock, 100);
    linked = false;
    await advance(clock, 1_000);
    assert.equal(s.viaNode.length, 1, 'the next copy found no link: handed over');
    assert.equal(s.viaNode[0]!.id, id);
    s.node!.reject(Object.assign(new Error('x'), { code: 'UNREACHABLE' }));
    await advance(clock, 0);
    assert.equal(s.outcome, 'Error: x', "the node's outcome is the send's");

    const t = sending(r, 1_000, () => true);
    await advance(clock, 1_000);
    assert.equal(t.s.outcome, 'TIMEOUT');
    r.linkGone(PEER);
    assert.equal(t.s.viaNode.length, 0, 'a send past its deadline is not handed over');
  });
});

/** a – b – c on lossy memory links, as test/core/reliable.test.ts. */
async function lossyLine(loss: number, seed: string): Promise<{ net: TestNet; a: MeshNode; c: MeshNode }> {
  const net = new TestNet({ loss, jitterMs: 3, seed });
  const b = (await net.addNode(`${seed}/b`)).node;
  const a = (await net.addNode(`${seed}/a`, { addrs: [], bootstrap: [`mem:${seed}/b`], handshakeTimeoutMs: 1000, maintainMs: 2000 })).node;
  const c = (await net.addNode(`${seed}/c`, { addrs: [], bootstrap: [`mem:${seed}/b`], handshakeTimeoutMs: 1000, maintainMs: 2000 })).node;
  await drive(net.clock, Promise.all([b.start(), a.start(), c.start()]), 1000, 'start');
  await driveUntil(net.clock, () => b.linkIds().length === 2, 120_000, 'a and c linked to b despite the loss', 50);
  return { net, a, c };
}

/** Each message: a first send of 400 ms (the tab's copies), then the rest through the node, under the same id or a fresh one. */
async function handOver(sameId: boolean): Promise<{ delivered: Map<string, number>; ok: number; acked: Set<string> }> {
  const { net, a, c } = await lossyLine(0.3, `tab-reliable/${sameId}`);
  const delivered = new Map<string, number>();
  c.onMessage((m) => delivered.set(String(m.data), (delivered.get(String(m.data)) ?? 0) + 1));
  let ok = 0;
  const acked = new Set<string>();
  const N = 40;
  const sends = Array.from({ length: N }, (_, i) => {
    const messageId = 1_000 + i;
    const data = `m${i}`;
    return a
      .send(c.id, data, { port: 2, reliable: true, deadlineMs: 400, messageId })
      .catch(() => a.send(c.id, data, { port: 2, reliable: true, deadlineMs: 4_000, ...(sameId ? { messageId } : {}) }))
      .then(() => void (ok++, acked.add(data)), () => undefined);
  });
  await drive(net.clock, Promise.all(sends), 8_000, 'every send settled', 20);
  await advance(net.clock, 2_000);
  await net.stopAll();
  return { delivered, ok, acked };
}

describe('a reliable send handed to the node under its id (services.ts `messageId`)', () => {
  it('under 30 % loss: first copies one way, the rest through the node under the same id: each delivered at most once, once when acked', async () => {
    const { delivered, ok, acked } = await handOver(true);
    console.log(`# same id: ${ok}/40 acknowledged, most deliveries of one message ${Math.max(...delivered.values())}`);
    assert.equal(Math.max(...delivered.values()), 1, 'no message delivered twice');
    for (const m of acked) assert.equal(delivered.get(m), 1, `${m} acknowledged, so delivered`);
    assert.ok(ok >= 28, `most acknowledged (${ok}/40)`);
  });

  it('the control: with a fresh id for the rest, some message is delivered twice', async () => {
    const { delivered } = await handOver(false);
    const twice = [...delivered.values()].filter((n) => n > 1).length;
    console.log(`# fresh id: ${twice} messages delivered twice`);
    assert.ok(twice > 0, 'the id is what keeps it at most once');
  });

  it('a bad message id is refused, and one already being sent too', async () => {
    const { net, a, c } = await lossyLine(0, 'tab-reliable/bad');
    for (const bad of [0, -1, 1.5, 2 ** 48]) assert.throws(() => a.send(c.id, 'x', { reliable: true, messageId: bad }), (e: unknown) => isMeshError(e, 'INVALID_ARGUMENT'), String(bad));
    const first = a.send(c.id, 'x', { reliable: true, messageId: 7, deadlineMs: 500 }).catch(() => undefined);
    const err = await a.send(c.id, 'y', { reliable: true, messageId: 7, deadlineMs: 500 }).then(() => undefined, (e: unknown) => e);
    assert.ok(isMeshError(err, 'INVALID_ARGUMENT'), String(err));
    await drive(net.clock, first, 2_000, 'first');
    await net.stopAll();
  });
});
