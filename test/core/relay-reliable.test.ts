/**
 * Reliable datagrams from a tab without the link (docs/DATA-PLANE.md, "Reliable datagrams from a
 * tab without the link"): the tab holds a relay grant for a bound link another tab of its node
 * hosts; it keeps the send and its timers (tab-reliable.ts), each copy goes over their relay
 * channel (a real MessageChannel here) and the host tab writes it on the link as the sender's
 * own frame, and the host tab passes the peer's Ack back by message id (relay-acks.ts). The
 * peer's side is a real host tab's data plane (tab-reliable-rx.ts) taking the copies off the
 * wire and writing the Acks, so the wire is today's. Sibling of tab-reliable.test.ts (the host
 * tab's own sends), kept apart for size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex } from '../../src/core/bytes.js';
import { isMeshError } from '../../src/core/errors.js';
import { DEFAULT_HOP_LIMIT } from '../../src/core/limits.js';
import { PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { PacketSequence } from '../../src/core/replay-guard.js';
import { readPlainPacket, writePlainPacket } from '../../src/core/sealed-frame.js';
import { AckRoutes, MAX_ROUTES } from '../../src/browser/relay-acks.js';
import type { RelayChannel } from '../../src/browser/relay-channel.js';
import { type End, KEY, otherTab, pair } from '../helpers/fast-path-ends.js';
import { until } from '../helpers/wait.js';

/** A's host tab (bound link to B), a second tab A2 of A's node behind relay channel r1, and B taking A's reliable datagrams itself (its window). */
async function setUp() {
  const [a, b] = await pair(true);
  a.fast.grant({ ...a.grant, inbound: false });
  b.fast.grant({ ...b.grant, rx: { gen: 1, window: [] } });
  const a2 = otherTab(a, 'r1', 3);
  const mc = new MessageChannel();
  a.fast.relays.open('r1', mc.port1);
  a2.fast.relays.open('r1', mc.port2);
  return { a, b, a2, mc };
}

/** A2's reliable send to B; `viaNode` records a hand-over (id, time left) and leaves it pending. */
function sendFrom(a2: End, to: string, data: string, deadlineMs = 5_000) {
  const s = { outcome: undefined as string | undefined, viaNode: [] as { id: number; ms: number }[], node: undefined as undefined | (() => void) };
  a2.fast.reliable
    .sendTo(to, data, 5, deadlineMs, (id, ms) => {
      s.viaNode.push({ id, ms });
      return new Promise<void>((resolve) => (s.node = resolve));
    })
    .then(
      () => void (s.outcome = 'ok'),
      (e: unknown) => void (s.outcome = isMeshError(e) ? e.code : String(e)),
    );
  return s;
}

/** The message ids of the clear ReliableData frames in `wire`. */
const messageIds = (wire: Uint8Array[]): number[] =>
  wire.map((f) => readPlainPacket(f)).filter((p) => p?.kind === PacketKind.ReliableData).map((p) => Payload.reliableData.decode(p!.payload)!.messageId);

/** Frames from `from`'s wire (from index `i`) taken by `to` as off the DataChannel; those it does not claim, returned (the node's). */
function carry(from: End, to: End, i = 0): Uint8Array[] {
  const left: Uint8Array[] = [];
  for (const f of from.wire.slice(i)) if (!to.fast.take(KEY, f.slice())) left.push(f);
  return left;
}

/** A clear unsigned Ack as B's end would write it, but from `src` to `dst`. */
function ackFrame(src: string, dst: string, messageId: number, seq = new PacketSequence(() => Date.now(), 4)): Uint8Array {
  return writePlainPacket({ src: fromHex(src)!, dst: fromHex(dst)!, hops: DEFAULT_HOP_LIMIT, id: seq.next(), kind: PacketKind.Ack, payload: Payload.ack.encode({ messageId }) });
}

describe('reliable datagrams from a tab without the link (relay grant)', () => {
  it('each copy goes A2 -> A1 -> the link under one id, B delivers it once and acks, A1 passes the Ack back to A2: settled there, nothing to the node', async () => {
    const { a, b, a2, mc } = await setUp();
    assert.equal(a2.fast.reliable.has(b.id), true, 'a bound relay grant: sent from A2');
    const s = sendFrom(a2, b.id, 'hello');
    await until(() => a.wire.length === 1, 2_000, 'A1 wrote the copy');
    const [mid] = messageIds(a.wire);
    const p = readPlainPacket(a.wire[0]!)!;
    assert.equal(p.id % 8, 3, "the copy is numbered in A2's lane");
    assert.deepEqual(carry(a, b), [], 'B claims it: the wire is a host tab\'s own');
    assert.deepEqual(b.inbox.map((m) => m.data), ['hello'], 'delivered once');
    assert.equal(b.wire.length, 1, 'B wrote its Ack');
    assert.deepEqual(carry(b, a), [], "A1 claims the Ack (a route for A2's message)");
    await until(() => s.outcome !== undefined, 2_000, 'settled');
    assert.equal(s.outcome, 'ok');
    assert.deepEqual(s.viaNode, [], 'never handed to the node');
    const [s1, s2] = [a.fast.status(), a2.fast.status()];
    assert.deepEqual([s1.relayedReliable, s1.relayedAcks, s1.relayedAcksToNode, s1.reliableSent, s1.reliableAcked], [1, 1, 0, 0, 0], 'A1: one copy written for A2, its Ack passed back; none of its own');
    assert.deepEqual([s2.reliableSent, s2.reliableCopies, s2.reliableAcked, s2.reliableAckedViaTab, s2.reliableToNode, s2.viaTab], [1, 1, 1, 1, 0, 1], 'A2: sent, one copy through A1, acked through A1');
    assert.deepEqual(a.handedOn, [], "nothing reached A's node");
    // A second Ack of the same message (B acks every copy): the route went with the first, so it is the node's.
    assert.equal(a.fast.take(KEY, ackFrame(b.id, a.id, mid!)), false, 'a later Ack of a settled send goes to the node');
    assert.equal(a.fast.relays.acks.size, 0);
    mc.port1.close();
  });

  it('copies go again through A1 until the Ack; the Ack of a copy settles the send once', async () => {
    const { a, b, a2, mc } = await setUp();
    const s = sendFrom(a2, b.id, 'again');
    await until(() => a.wire.length >= 2, 2_000, 'a second copy (first retry after about 250 ms)');
    const ids = messageIds(a.wire);
    assert.equal(new Set(ids).size, 1, 'every copy under one message id');
    carry(a, b);
    assert.deepEqual(b.inbox.map((m) => m.data), ['again'], 'delivered once');
    assert.equal(carry(b, a).length, 1, 'the first Ack settles and takes the route; the second is the node\'s');
    await until(() => s.outcome === 'ok', 2_000, 'settled');
    assert.equal(a2.fast.status().reliableAcked, 1);
    mc.port1.close();
  });

  it('forged Acks settle nothing: another source, another link, another id; the real one does', async () => {
    const { a, b, a2, mc } = await setUp();
    const s = sendFrom(a2, b.id, 'x');
    await until(() => a.wire.length === 1, 2_000, 'the copy');
    const [mid] = messageIds(a.wire);
    const c = 'c'.repeat(64);
    assert.equal(a.fast.take(KEY, ackFrame(c, a.id, mid!)), false, 'from another node than the link\'s peer: the node\'s to judge');
    assert.equal(a.fast.take('link-2', ackFrame(b.id, a.id, mid!)), false, 'on another link: not claimed');
    assert.equal(a.fast.take(KEY, ackFrame(b.id, b.id, mid!)), false, 'to another node: not claimed');
    assert.equal(a.fast.take(KEY, ackFrame(b.id, a.id, mid! + 1)), false, 'for a message nobody routed: the node\'s');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.outcome, undefined, 'still waiting');
    assert.equal(a2.fast.status().reliableAcked, 0);
    const seq = new PacketSequence(() => Date.now(), 4);
    const real = ackFrame(b.id, a.id, mid!, seq);
    assert.equal(a.fast.take(KEY, real.slice()), true);
    await until(() => s.outcome === 'ok', 2_000, 'the real Ack settles it');
    assert.equal(a.fast.take(KEY, real), false, 'the same Ack again: the route went, the node\'s');
    mc.port1.close();
  });

  it('the link leaves A1 mid-send: A2 hands the send to its node under the same id with the time left, and writes no more copies', async () => {
    const { a, b, a2, mc } = await setUp();
    const s = sendFrom(a2, b.id, 'moving', 4_000);
    await until(() => a.wire.length === 1, 2_000, 'the first copy');
    const [mid] = messageIds(a.wire);
    a.open = false;
    await until(() => s.viaNode.length === 1, 2_000, 'the next copy found no link at A1: handed over');
    assert.equal(s.viaNode[0]!.id, mid, 'under its message id');
    assert.ok(s.viaNode[0]!.ms > 3_000 && s.viaNode[0]!.ms < 4_000, `with the time left (${s.viaNode[0]!.ms} ms)`);
    assert.equal(a.fast.relays.acks.size, 0, "A1 keeps no route for a copy it did not write");
    const n = a.wire.length;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(a.wire.length, n, 'no copy after the hand-over');
    s.node!();
    await until(() => s.outcome === 'ok', 2_000, "settled as the node's send");
    void b;
    mc.port1.close();
  });

  it('A1 goes mid-send (its channel closes): the copy in flight is of unknown fate, so the send goes to the node under its id, never a fresh one', async () => {
    const { a, b, a2 } = await setUp();
    // A1 writes nothing now (its channel full): the copy waits there when A1 goes.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    (a.fast as any).host.rtc.sendOwn = async () => (await held, false);
    (a.fast as any).host.rtc.sendNow = () => undefined;
    const s = sendFrom(a2, b.id, 'orphan', 5_000);
    await until(() => a.fast.relays.acks.size === 1, 2_000, 'A1 got the copy and routes its Ack');
    a.fast.relays.closeAll('closing');
    await until(() => s.viaNode.length === 1, 2_000, 'handed over');
    assert.equal(a.fast.relays.acks.size, 0, 'the route went with the channel');
    assert.equal(a2.fast.status().reliableToNode, 1);
    release();
  });

  it('an Ack routed to A2 after its send went to the node is handed back, and A1 gives it to the node', async () => {
    const { a, b, a2, mc } = await setUp();
    const s = sendFrom(a2, b.id, 'late');
    await until(() => a.wire.length === 1, 2_000, 'the copy');
    // A2's relay grant goes (not A1's): its send goes on through the node under its id; A1 still routes its Ack.
    a2.fast.revoke(KEY, 'gone');
    assert.equal(s.viaNode.length, 1);
    carry(a, b);
    assert.deepEqual(carry(b, a), [], 'A1 claims the Ack and passes it to A2');
    await until(() => a.handedOn.length === 1, 2_000, 'A2 refused it; A1 gave the whole frame to its node');
    const back = readPlainPacket(a.handedOn[0]!)!;
    assert.equal(back.kind, PacketKind.Ack);
    assert.equal(Payload.ack.decode(back.payload)!.messageId, messageIds(a.wire)[0]);
    assert.deepEqual([a.fast.status().relayedAcks, a.fast.status().relayedAcksToNode, a2.fast.status().reliableAckedViaTab], [1, 1, 0]);
    assert.equal(s.outcome, undefined, "the node's send settles it, not this Ack in A2");
    mc.port1.close();
  });

  it("an Ack that reached A's node instead (a route pushed out, links re-homing) settles A2's send when the worker passes it on (fast-ack)", async () => {
    const { a, b, a2, mc } = await setUp();
    const s = sendFrom(a2, b.id, 'via node');
    await until(() => a.wire.length === 1, 2_000, 'the copy');
    const [mid] = messageIds(a.wire);
    // The worker posts `fast-ack` to every live tab holding a packet-id lane, relay grants' tabs too (fast-grants.ts ackTab);
    // mesh.ts hands it to the tab's TabReliable.
    assert.equal(a.fast.reliable.ackViaNode(b.id, mid!), false, 'not the host tab\'s send');
    assert.equal(a2.fast.reliable.ackViaNode(a.id, mid!), false, 'from another node than the one it went to: not settled');
    assert.equal(a2.fast.reliable.ackViaNode(b.id, mid!), true);
    await until(() => s.outcome === 'ok', 2_000, 'settled');
    assert.equal(a2.fast.status().reliableAckedViaNode, 1);
    mc.port1.close();
  });
});

describe('the route table of relayed reliable datagrams (relay-acks.ts)', () => {
  const ch = (open = true) => ({ open }) as unknown as RelayChannel;

  it('routes by (link, peer, message id) while the send may be acked; bounded, the oldest pushed out; a closed channel takes its routes', () => {
    let now = 1_000;
    const t = new AckRoutes(() => now);
    const [c1, c2] = [ch(), ch()];
    t.add('k1', 'P', 7, c1, 2_000);
    assert.ok(t.has('k1', 'P', 7));
    assert.ok(!t.has('k2', 'P', 7), 'another link');
    assert.ok(!t.has('k1', 'Q', 7), 'another peer');
    now += 2_900;
    assert.ok(t.has('k1', 'P', 7), 'until the deadline and the slack');
    now += 200;
    assert.ok(!t.has('k1', 'P', 7), 'then no more: the Ack is the node\'s');
    t.add('k1', 'P', 7, c1, 2_000);
    assert.equal(t.take('k1', 'P', 7), c1, 'a copy renews it');
    assert.equal(t.take('k1', 'P', 7), undefined, 'taken once');
    for (let i = 0; i < MAX_ROUTES + 10; i++) t.add('k1', 'P', i, i % 2 ? c1 : c2, 5_000);
    assert.equal(t.size, MAX_ROUTES, 'bounded');
    assert.equal(t.evicted, 10, 'the ten oldest pushed out (counted)');
    assert.ok(!t.has('k1', 'P', 0) && t.has('k1', 'P', 10) && t.has('k1', 'P', MAX_ROUTES + 9));
    t.channelClosed(c1);
    assert.equal(t.size, MAX_ROUTES / 2);
    assert.ok(!t.has('k1', 'P', 11) && t.has('k1', 'P', 12));
    t.unwritten('P', 12, c1);
    assert.ok(t.has('k1', 'P', 12), 'a copy not written through another channel leaves it');
    t.unwritten('P', 12, c2);
    assert.ok(!t.has('k1', 'P', 12));
    const closed = ch(false);
    t.add('k1', 'P', 99_999, closed, 5_000);
    assert.ok(!t.has('k1', 'P', 99_999), 'nothing goes back on a closed channel');
  });
});
