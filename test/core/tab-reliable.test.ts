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
import { advance, drive, driveUntil, until } from '../helpers/wait.js';
import { appId } from '../../src/core/app-namespace.js';
import { fromHex } from '../../src/core/bytes.js';
import { DEFAULT_HOP_LIMIT } from '../../src/core/limits.js';
import { PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { WINDOW_MS } from '../../src/core/reliable.js';
import { PacketSequence } from '../../src/core/replay-guard.js';
import { readPlainPacket, writePlainPacket } from '../../src/core/sealed-frame.js';
import { TabReliableRx } from '../../src/browser/tab-reliable-rx.js';
import type { Grant } from '../../src/browser/tab-grant.js';
import { DEAD_TAB_WINDOW_GRACE_MS, WindowHolds } from '../../src/browser/window-holds.js';
import { dropped, KEY, otherTab, pair } from '../helpers/fast-path-ends.js';

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
    assert.deepEqual(r.stats, { reliableSent: 1, reliableCopies: n, reliableAcked: 1, reliableToNode: 0, reliableAckedViaNode: 0 });
  });

  it("the peer's ack passed on by the node (it came on another link): settles the send once, only from its peer", async () => {
    const { clock, r } = tab();
    const { id, s } = sending(r, 10_000);
    await advance(clock, 600);
    assert.equal(r.ackViaNode(OTHER, id), false, 'from another node: not ours');
    assert.equal(r.ackViaNode(PEER, id + 1), false, 'another id: not ours');
    assert.equal(r.ackViaNode(PEER, id), true);
    assert.equal(r.ack(PEER, id), false, 'the ack on the link after it settles nothing');
    await advance(clock, 10);
    assert.equal(s.outcome, 'ok');
    const n = s.copies;
    await advance(clock, 10_000);
    assert.equal(s.copies, n, 'no copy after it');
    assert.equal(r.stats.reliableAckedViaNode, 1);
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

/** A clear ReliableData from `from` to `to` as a peer's node or tab writes it in a bound channel; `seq` numbers its packets. */
function reliableFrame(from: string, to: string, seq: PacketSequence, messageId: number, data: string, app = appId('')): Uint8Array {
  const payload = Payload.reliableData.encode({ app, port: 5, messageId, data });
  return writePlainPacket({ src: fromHex(from)!, dst: fromHex(to)!, hops: DEFAULT_HOP_LIMIT, id: seq.next(), kind: PacketKind.ReliableData, payload });
}

/** The message ids of the clear Acks in `wire` (what the tab wrote), in order. */
const acksIn = (wire: Uint8Array[]): number[] =>
  wire.map((f) => readPlainPacket(f)).filter((p) => p?.kind === PacketKind.Ack).map((p) => Payload.ack.decode(p!.payload)!.messageId);

describe('the receiving side in the host tab (tab-reliable-rx.ts)', () => {
  it("a bound grant with the node's window: the peer's clear ReliableData delivered once and acked in the channel; a copy acked again, not delivered; the node's ids kept", async () => {
    const [a, b] = await pair(true);
    const handedBack: { gen: number; window: number[] }[] = [];
    (b.fast as any).host.handBack = (w: { gen: number; window: number[] }) => handedBack.push(w);
    // The node delivered message 77 before the grant: its window says so.
    b.fast.grant({ ...b.grant, rx: { gen: 9, window: [77, 60_000] } });
    const seq = new PacketSequence(() => Date.now(), 1);
    assert.equal(b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 5, 'five')), true, 'claimed');
    assert.deepEqual(b.inbox, [{ from: a.id, data: 'five', port: 5 }], 'delivered in the tab');
    assert.deepEqual(acksIn(b.wire), [5], 'and acked in the bound channel, unsigned, in the clear');
    const again = reliableFrame(a.id, b.id, seq, 5, 'five');
    assert.equal(b.fast.take(KEY, again), true);
    assert.equal(b.inbox.length, 1, 'a second copy is not delivered');
    assert.deepEqual(acksIn(b.wire), [5, 5], 'but acked again');
    assert.equal(dropped(b, 'fast:duplicate-reliable'), 1);
    assert.equal(b.fast.take(KEY, again), true);
    assert.equal(dropped(b, 'fast:replay'), 1, 'the same packet again is a replay: nothing');
    assert.equal(acksIn(b.wire).length, 2);
    b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 77, 'seventy-seven'));
    assert.equal(b.inbox.length, 1, "a message in the node's window is not delivered here");
    assert.deepEqual(acksIn(b.wire), [5, 5, 77], 'and is acked');
    // Another app's: the node's (opened, handed on whole).
    b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 6, 'other', appId('other')));
    assert.equal(b.handedOn.length, 1, "another app's reliable datagram goes to the node");
    // Another source than the link's peer: not claimed.
    assert.equal(b.fast.take(KEY, reliableFrame(b.id, b.id, seq, 8, 'forged')), false);
    const s = b.fast.status();
    assert.deepEqual([s.reliableIn, s.reliableAckedOut, s.reliableWindowHandedBack], [1, 3, 0]);
    // The grant goes: the window goes back (its ids with the time left), and the peer's copies go to the node.
    b.fast.revoke(KEY, 'no longer eligible');
    assert.equal(handedBack.length, 1);
    assert.equal(handedBack[0]!.gen, 9);
    const ids = handedBack[0]!.window.filter((_, i) => i % 2 === 0).sort((x, y) => x - y);
    assert.deepEqual(ids, [5, 77], "what it delivered and what the node's window said");
    assert.ok(handedBack[0]!.window.every((x, i) => i % 2 === 0 || (x > 0 && x <= WINDOW_MS)), 'each with the time it is still kept');
    assert.equal(b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 10, 'after')), false, 'no longer claimed');
    assert.equal(b.fast.status().reliableWindowHandedBack, 1);
  });

  it('a grant without the window leaves them to the node; several tabs and no list of listeners: to the node too; a grant given again hands the old window back first', async () => {
    const [a, b] = await pair(true);
    const handedBack: number[] = [];
    (b.fast as any).host.handBack = (w: { gen: number }) => handedBack.push(w.gen);
    const seq = new PacketSequence(() => Date.now(), 1);
    assert.equal(b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 1, 'x')), false, 'no rx: the node takes it');
    b.fast.grant({ ...b.grant, bound: false, rx: { gen: 1, window: [] } });
    assert.equal(b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 2, 'x')), false, 'not bound: the window is ignored');
    b.fast.grant({ ...b.grant, inbound: false, rx: { gen: 2, window: [] } });
    assert.equal(b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 3, 'x')), true);
    assert.deepEqual([b.inbox.length, b.handedOn.length, acksIn(b.wire).length], [0, 1, 0], 'several tabs, no list: handed on whole, not acked');
    b.fast.grant({ ...b.grant, rx: { gen: 3, window: [] } });
    assert.deepEqual(handedBack, [2], 'replaced: gen 2 handed back');
    assert.equal(b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 4, 'x')), true);
    b.fast.grant({ ...b.grant, rx: { gen: 4, window: [] } });
    assert.deepEqual(handedBack, [2, 3]);
    b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 4, 'x'));
    assert.equal(b.inbox.length, 1, "the tab's own ids stay with it across grants");
    b.fast.leave();
    assert.deepEqual(handedBack, [2, 3, 4], 'the tab closing hands back what it holds');
  });

  it("an app with several tabs and the node's list of listeners: taken, delivered here and passed to the other listening tab once, acked once; a copy neither", async () => {
    const [a, b] = await pair(true);
    b.fast.grant({ ...b.grant, inbound: false, rx: { gen: 1, window: [] } });
    const b2 = otherTab(b, 'r1', 3);
    const mc = new MessageChannel();
    b.fast.relays.open('r1', mc.port1);
    b2.fast.relays.open('r1', mc.port2);
    b.fast.relays.setListeners(['self', 'r1']);
    const seq = new PacketSequence(() => Date.now(), 1);
    assert.equal(b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 11, 'both')), true);
    b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 11, 'both'));
    await until(() => b2.inbox.length === 1, 2_000, 'the other tab got it');
    b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 12, 'next'));
    await until(() => b2.inbox.length === 2, 2_000, 'and the next');
    assert.deepEqual(b.inbox.map((m) => m.data), ['both', 'next'], 'delivered here once each');
    assert.deepEqual(b2.inbox.map((m) => m.data), ['both', 'next'], 'and in the other tab once each');
    assert.deepEqual(acksIn(b.wire), [11, 11, 12], 'acked: each once, the copy again');
    assert.equal(b.fast.status().reliableIn, 2);
    b.fast.relays.setListeners(null);
    assert.equal(b.fast.take(KEY, reliableFrame(a.id, b.id, seq, 13, 'no list')), true);
    assert.equal(b.handedOn.length, 1, 'the list gone: handed on to the node (which refuses while the window is out)');
    mc.port1.close();
  });

  it('with no listener in the tab: neither delivered nor acked (the sender tries again), as at the node', () => {
    const written: number[] = [];
    let listening = false;
    const got: string[] = [];
    const rx = new TabReliableRx(new VirtualClock().scoped(0), {
      listening: () => listening,
      deliver: (_f, d) => void got.push(String(d)),
      write: async (_g, _k, p) => (written.push(Payload.ack.decode(p)!.messageId), true),
      handBack: () => undefined,
      drop: () => undefined,
    });
    const g = { peer: PEER, app: appId('') } as Grant;
    rx.give(PEER, { gen: 1, window: [] });
    const plain = Payload.reliableData.encode({ app: appId(''), port: 1, messageId: 3, data: 'x' });
    assert.equal(rx.take(g, plain, () => true), true);
    assert.deepEqual([got, written], [[], []]);
    listening = true;
    rx.take(g, plain, () => true);
    assert.deepEqual([got, written], [['x'], [3]], 'the next copy, once a listener is there');
  });
});

describe("the window's hand-over between the node and a tab (window-holds.ts, reliable.ts WindowHandOver)", () => {
  it('while a tab holds the window the node refuses (not delivered, not acked); its window back over a real MessageChannel, the node takes them again and knows what the tab delivered', async () => {
    const { net, a, c } = await lossyLine(0, 'reliable-rx/hand-over');
    const delivered: string[] = [];
    c.onMessage((m) => delivered.push(String(m.data)));
    const holds = new WindowHolds(net.clock.scoped(0));
    const app = appId('');
    const w = holds.handOut(c.reliableHandOver, 'T1', a.id, '', app);
    assert.ok(holds.heldElsewhere('T2', a.id, ''), 'no other tab of the app may take it now');
    assert.ok(!holds.heldElsewhere('T1', a.id, '') && !holds.heldElsewhere('T2', a.id, 'other') && !holds.heldElsewhere('T2', c.id, ''));
    const refused = await drive(net.clock, a.send(c.id, 'm1', { port: 2, reliable: true, deadlineMs: 1_500 }).then(() => 'ok', (e: any) => e.code), 3_000, 'm1');
    assert.equal(refused, 'TIMEOUT', 'refused at the node: never acked');
    assert.deepEqual(delivered, [], 'nor delivered');
    assert.ok(c.counters.dropped('reliable-in-tab') >= 2, `each copy refused (${c.counters.dropped('reliable-in-tab')})`);
    // The tab takes message 4242 itself, then hands its window back over a real MessageChannel.
    const mc = new MessageChannel();
    const acks: number[] = [];
    const inTab: string[] = [];
    const rx = new TabReliableRx(net.clock.scoped(0), {
      listening: () => true,
      deliver: (_f, d) => void inTab.push(String(d)),
      write: async (_g, _k, p) => (acks.push(Payload.ack.decode(p)!.messageId), true),
      handBack: (hw) => mc.port1.postMessage({ op: 'reliable-window', ...hw }),
      drop: () => undefined,
    });
    rx.give(a.id, w);
    rx.take({ peer: a.id, app } as Grant, Payload.reliableData.encode({ app, port: 2, messageId: 4242, data: 'in the tab' }), () => true);
    assert.deepEqual([inTab, acks], [['in the tab'], [4242]]);
    mc.port2.onmessage = (e: MessageEvent) => void holds.handBack(c.reliableHandOver, 'T1', e.data.gen, e.data.window);
    rx.handBack(a.id);
    await until(() => holds.size === 0, 2_000, 'the window came back');
    mc.port1.close();
    assert.ok(!c.reliableHandOver.refuses(a.id, app), 'the node takes them again');
    // A copy of 4242 (its ack lost) now reaches the node: acked, not delivered again.
    const d0 = c.counters.dropped('duplicate-reliable');
    assert.equal(await drive(net.clock, a.send(c.id, 'in the tab', { port: 2, reliable: true, deadlineMs: 2_000, messageId: 4242 }).then(() => 'ok'), 3_000, 'copy'), 'ok');
    assert.equal(c.counters.dropped('duplicate-reliable'), d0 + 1);
    assert.equal(await drive(net.clock, a.send(c.id, 'm2', { port: 2, reliable: true, deadlineMs: 2_000 }).then(() => 'ok'), 3_000, 'm2'), 'ok');
    assert.deepEqual(delivered, ['m2'], 'delivered once, by the node, and nothing the tab delivered');
    await net.stopAll();
  });

  it('two windows out (a grant given again): refused until both are back; a tab that dies without a word: given up after the grace, a late hand-back still remembered', async () => {
    const { net, a, c } = await lossyLine(0, 'reliable-rx/dies');
    const app = appId('');
    const ho = c.reliableHandOver;
    const holds = new WindowHolds(net.clock.scoped(0));
    const g1 = holds.handOut(ho, 'T1', a.id, '', app);
    const g2 = holds.handOut(ho, 'T1', a.id, '', app);
    assert.equal(holds.handBack(ho, 'T2', g1.gen, []), false, "another tab cannot hand back T1's window");
    assert.equal(holds.handBack(ho, 'T1', g1.gen, [1, 1, 2]), false, 'an odd list is refused');
    assert.ok(holds.handBack(ho, 'T1', g1.gen, []));
    assert.ok(ho.refuses(a.id, app), 'one still out');
    let after = 0;
    holds.tabGone(() => ho, 'T1', () => after++);
    await advance(net.clock, DEAD_TAB_WINDOW_GRACE_MS - 50);
    assert.ok(ho.refuses(a.id, app), 'still refused during the grace');
    assert.equal(after, 0);
    await advance(net.clock, 100);
    assert.ok(!ho.refuses(a.id, app) && holds.size === 0, 'given up after it');
    assert.equal(after as number, 1, 'and the grants checked again');
    assert.deepEqual(holds.stats, { handedOut: 2, handedBack: 1, givenUp: 1 });
    // Its window arrives after all: remembered (9 is acked, not delivered), no longer refused.
    assert.equal(holds.handBack(ho, 'T1', g2.gen, [9, 60_000]), false);
    const delivered: string[] = [];
    c.onMessage((m) => delivered.push(String(m.data)));
    assert.equal(await drive(net.clock, a.send(c.id, 'nine', { port: 2, reliable: true, deadlineMs: 2_000, messageId: 9 }).then(() => 'ok'), 3_000, 'nine'), 'ok');
    assert.deepEqual(delivered, []);
    await net.stopAll();
  });
});
