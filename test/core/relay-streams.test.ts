/**
 * Streams from a tab whose link lives in another tab (src/browser/relay-streams.ts, stream-tap.ts,
 * docs/DATA-PLANE.md "Streams from a tab without the link"), in Node: browser A has two tabs, A1
 * hosting the bound link to B and A2 holding a relay grant for it, joined by a real
 * MessageChannel (the worker's relay channel); B is one tab hosting the other end. Each frame a
 * host tab writes is handed to the other's `take` (the seam RtcHost gives it); a frame `take`
 * refuses is what RtcHost would pass to the node. The streams are the core's own, real timers.
 * The peer's streams to the app, handed by A1 to A2 (the tab the node says takes them), too.
 * The real-browser cases are in test/browser/tab-streams.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { appId } from '../../src/core/app-namespace.js';
import { toHex } from '../../src/core/bytes.js';
import { DEFAULT_HOP_LIMIT } from '../../src/core/limits.js';
import { PacketKind } from '../../src/core/packets.js';
import { packetIdAt } from '../../src/core/replay-guard.js';
import { writePlainPacket } from '../../src/core/sealed-frame.js';
import { encodeSegment, type Segment, SegmentType } from '../../src/core/streams/segments.js';
import { TAB_SID_BASE, TAB_SID_SPAN } from '../../src/core/streams/service.js';
import { FastPath } from '../../src/browser/fast-path.js';
import type { RtcHost } from '../../src/browser/rtc-host.js';
import type { MeshStream } from '../../src/browser/tab-streams.js';
import { until } from '../helpers/wait.js';

const KEY = 'link-1';

interface Tab {
  fast: FastPath;
  id: string;
  toNode: Uint8Array[];
  accepted: MeshStream[];
  /** The ports this tab takes streams on (7 unless a test changes it). */
  ports: Set<number>;
  grant: Parameters<FastPath['grant']>[0];
}

function makeTab(id: string, rtc: RtcHost, accepted: MeshStream[], ports: Set<number>): FastPath {
  return new FastPath({
    rtc,
    listening: () => true,
    deliver: () => undefined,
    handles: () => false,
    runHandler: async () => ({ ok: true, data: '' }),
    traffic: () => undefined,
    answerHome: () => undefined,
    runHome: () => undefined,
    app: '',
    streamHandler: (port) => (ports.has(port) ? (s) => void accepted.push(s) : undefined),
  });
}

/** A1 and B host the two ends of one bound link; A2 reaches it through A1 over a MessageChannel. */
async function setup() {
  const [a, b] = [crypto.getRandomValues(new Uint8Array(32)), crypto.getRandomValues(new Uint8Array(32))].map(toHex) as [string, string];
  const link = { open: true };
  const tabs: Record<'a1' | 'a2' | 'b', Tab> = {} as never;
  /** Every frame B wrote on the link, as written. */
  const fromB: Uint8Array[] = [];
  const wire = (to: () => Tab) => (frame: Uint8Array) => {
    if (!link.open) return false;
    const copy = frame.slice(); // a DataChannel copies at send()
    if (to() === tabs.a1) fromB.push(copy.slice());
    setImmediate(() => link.open && !to().fast.take(KEY, copy) && to().toNode.push(copy));
    return true;
  };
  // What a tab hands to the node itself (RtcHost.toNode) is recorded as what `take` refuses is.
  const rtcTo = (to: () => Tab, self: () => Tab) => {
    const deliver = wire(to);
    return { sendOwn: async (_k: string, f: Uint8Array) => deliver(f), sendNow: (_k: string, f: Uint8Array) => deliver(f), toNode: (_k: string, f: Uint8Array) => void self().toNode.push(f) } as unknown as RtcHost;
  };
  const none = { sendOwn: async () => false, sendNow: () => false, toNode: () => undefined } as unknown as RtcHost;
  for (const [name, id, peer, rtc, lane] of [
    ['a1', a, b, rtcTo(() => tabs.b, () => tabs.a1), 1],
    ['a2', a, b, none, 3],
    ['b', b, a, rtcTo(() => tabs.a1, () => tabs.b), 2],
  ] as const) {
    const accepted: MeshStream[] = [];
    const ports = new Set([7]);
    const t: Tab = { fast: makeTab(id, rtc, accepted, ports), id, toNode: [], accepted, ports, grant: { ev: 'fast-grant', key: KEY, peer, self: id, bound: true, app: appId(''), lane, ...(name === 'a2' ? { via: 'r1', inbound: false } : name === 'a1' ? { inbound: false } : {}) } };
    t.fast.grant(t.grant);
    await t.fast.streams.load();
    tabs[name] = t;
  }
  const mc = new MessageChannel();
  tabs.a1.fast.relays.open('r1', mc.port1 as unknown as globalThis.MessagePort);
  tabs.a2.fast.relays.open('r1', mc.port2 as unknown as globalThis.MessagePort);
  const done = () => {
    link.open = false;
    tabs.a1.fast.relays.closeAll();
    tabs.a2.fast.relays.closeAll();
  };
  return { ...tabs, link, fromB, wire: wire(() => tabs.b), done };
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const sidOf = (s: MeshStream) => (s as unknown as { sid: number }).sid;
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));

/**
 * The last segments (acks, a probe) may still be on the channel when the data is read: the two
 * tabs' counts meet once they land (A2 counts its own once A1's ack comes back).
 */
function countsMet(a1: Tab, a2: Tab): Promise<void> {
  return until(() => {
    const [x1, x2] = [a1.fast.status(), a2.fast.status()];
    return x1.relayedStreamIn === x2.viaTabStreamIn && x1.relayedStreamOut === x2.viaTabStreamOut;
  }, 2_000, 'every segment through A1 counted at both tabs');
}

/**
 * Nothing dropped but duplicates, each one a resend: a segment arrives twice only if its sender
 * sent it again (real timers: an event loop stalled past the retransmission timeout fires it
 * before the ack queued behind it is read; seen once at load 8).
 */
function onlyResentTwice(tabs: ReturnType<FastPath['status']>[]): void {
  const others = tabs.map(({ dropped: { 'stream:duplicate': _dup, ...rest } }) => rest);
  assert.deepEqual(others, tabs.map(() => ({})), 'no drop but duplicates');
  const dups = tabs.reduce((n, st) => n + (st.dropped['stream:duplicate'] ?? 0), 0);
  const resends = tabs.reduce((n, st) => n + st.streamRetransmits, 0);
  assert.ok(dups <= resends, `duplicates ${dups} against resends ${resends}`);
}

async function readAll(s: MeshStream): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s.readable).arrayBuffer());
}

describe('streams from a tab without the link, through the host tab', () => {
  test('2 MiB each way from the second tab, half-closed: intact, one leg each way, nothing to any node; ids in each tab\'s lane range', async () => {
    const { a1, a2, b, done } = await setup();
    try {
      const s = a2.fast.openStream(b.id, 7)!;
      assert.ok(s, 'the second tab runs the stream itself on its relay grant');
      const own = a1.fast.openStream(b.id, 7)!; // the host tab's own stream to the same peer, at once
      assert.ok(sidOf(s) >= TAB_SID_BASE + 3 * TAB_SID_SPAN && sidOf(s) < TAB_SID_BASE + 4 * TAB_SID_SPAN, `A2's id ${sidOf(s)} in lane 3's range`);
      assert.ok(sidOf(own) >= TAB_SID_BASE + TAB_SID_SPAN && sidOf(own) < TAB_SID_BASE + 2 * TAB_SID_SPAN, `A1's id ${sidOf(own)} in lane 1's range`);
      const sent = bytes(2 * 1024 * 1024 + 77, 1);
      const other = bytes(300_000, 9);
      const write = async (m: MeshStream, data: Uint8Array) => {
        const w = m.writable.getWriter();
        for (let at = 0; at < data.length; at += 100_000) await w.write(data.subarray(at, at + 100_000));
        await w.close();
      };
      const writing = [write(s, sent), write(own, other)];
      await until(() => b.accepted.length === 2, 5_000, 'B accepted both streams in its tab');
      const fromA2 = b.accepted.find((x) => x.port === 7 && sidOf(x) === sidOf(s))!;
      const fromA1 = b.accepted.find((x) => sidOf(x) === sidOf(own))!;
      const [got, got1] = await Promise.all([readAll(fromA2), readAll(fromA1)]);
      await Promise.all(writing);
      assert.deepEqual(Buffer.from(got), Buffer.from(sent), 'every byte from the second tab, in order');
      assert.deepEqual(Buffer.from(got1), Buffer.from(other), "the host tab's own stream intact beside it");
      const back = bytes(2 * 1024 * 1024, 4);
      const [, gotBack] = await Promise.all([write(fromA2, back), readAll(s)]);
      assert.deepEqual(Buffer.from(gotBack), Buffer.from(back), 'and 2 MiB back to the second tab after its half-close');

      await countsMet(a1, a2);
      const [s1, s2, sb] = [a1.fast.status(), a2.fast.status(), b.fast.status()];
      assert.ok(s1.relayedStreamOut! > 35 && s1.relayedStreamIn! > 35, `host tab: ${s1.relayedStreamOut} segments written for A2, ${s1.relayedStreamIn} passed back`);
      assert.equal(s2.viaTabStreamOut, s1.relayedStreamOut, 'every segment A2 posted was written by A1');
      assert.equal(s2.viaTabStreamIn, s1.relayedStreamIn, 'every segment A1 passed reached A2');
      assert.deepEqual([s1.streamsOpened, s2.streamsOpened, sb.streamsAccepted], [1, 1, 2]);
      assert.deepEqual([a1.toNode.length, b.toNode.length], [0, 0], 'no frame left to either node');
      onlyResentTwice([s1, s2, sb]);
    } finally {
      done();
    }
  });

  test("the peer's segments are routed by (sid, direction) from the link's own peer; a replay is a counted drop; a Reset ends the route", async () => {
    const { a1, a2, b, done } = await setup();
    try {
      const s = a2.fast.openStream(b.id, 7)!;
      const w = s.writable.getWriter();
      await w.write(bytes(1000, 2));
      await until(() => b.accepted.length === 1, 5_000, 'B accepted');
      const sid = sidOf(s);
      const frame = (seg: Segment, src = b.id, id = packetIdAt(Date.now(), 1, 2)) =>
        writePlainPacket({ src: Buffer.from(src, 'hex'), dst: Buffer.from(a1.id, 'hex'), hops: DEFAULT_HOP_LIMIT, id, kind: PacketKind.Stream, payload: encodeSegment(seg) });
      const ack = (fromOpener: boolean, s2 = sid): Segment => ({ type: SegmentType.Ack, sid: s2, fromOpener, next: 0, limit: 16, sack: [] });
      assert.equal(a1.fast.take(KEY, frame(ack(false), 'cd'.repeat(32))), false, 'from another node: the node\'s');
      assert.equal(a1.fast.take(KEY, frame(ack(true))), false, 'the other direction (as if A2 were not the opener): the node\'s');
      assert.equal(a1.fast.take(KEY, frame(ack(false, sid + 1))), false, 'another sid: the node\'s');
      const one = frame(ack(false));
      const copy = one.slice();
      assert.equal(a1.fast.take(KEY, one), true, 'routed to A2');
      assert.equal(a1.fast.take(KEY, copy), true, 'a replay is the routed stream\'s too');
      assert.equal(a1.fast.status().dropped['fast:replay'], 1, 'and dropped as a replay in the host tab');
      // B's stream ends with a Reset: A2 hears it, and the route goes with it.
      b.accepted[0]!.abort('done here');
      assert.equal(await codeOf(w.closed), 'ABORTED', "A2's writer fails ABORTED");
      await until(() => a1.fast.take(KEY, frame(ack(false), b.id, packetIdAt(Date.now(), 5, 2))) === false, 5_000, 'the route ended with the Reset');
    } finally {
      done();
    }
  });

  test('the relay channel goes mid-stream (the second tab closes): both ends fail ABORTED at once, B by the Reset the host tab writes', async () => {
    const { a1, a2, b, done } = await setup();
    try {
      const s = a2.fast.openStream(b.id, 7)!;
      const w = s.writable.getWriter();
      await w.write(bytes(50_000, 3));
      await until(() => b.accepted.length === 1, 5_000, 'B accepted');
      const r = b.accepted[0]!.readable.getReader();
      await r.read();
      const reading = codeOf(r.read().then((x) => (x.done ? Promise.reject(new Error('ended cleanly')) : r.read())));
      const t0 = Date.now();
      a2.fast.relays.closeAll('closing'); // A2's pagehide: its `bye` on the channel
      assert.equal(await codeOf(w.closed), 'ABORTED', "A2's writer fails ABORTED");
      assert.equal(await reading, 'ABORTED', "B's reader fails ABORTED");
      assert.ok(Date.now() - t0 < 1_000, `within ${Date.now() - t0} ms, not a timeout`);
      assert.equal(a1.fast.status().dropped['fast:replay'], undefined);
      assert.equal(a1.fast.take(KEY, writePlainPacket({ src: Buffer.from(b.id, 'hex'), dst: Buffer.from(a1.id, 'hex'), hops: DEFAULT_HOP_LIMIT, id: packetIdAt(Date.now(), 9, 2), kind: PacketKind.Stream, payload: encodeSegment({ type: SegmentType.Probe, sid: sidOf(s), fromOpener: false }) })), false, 'no route left');
    } finally {
      done();
    }
  });

  test('the link leaves the host tab mid-stream: both ends fail ABORTED at once (the Reset written on the way out, link-gone to the second tab)', async () => {
    const { a1, a2, b, link, wire, done } = await setup();
    try {
      const s = a2.fast.openStream(b.id, 7)!;
      const w = s.writable.getWriter();
      await w.write(bytes(50_000, 5));
      await until(() => b.accepted.length === 1, 5_000, 'B accepted');
      const r = b.accepted[0]!.readable.getReader();
      await r.read();
      const reading = codeOf((async () => {
        for (;;) if ((await r.read()).done) throw new Error('ended cleanly');
      })());
      const readingA2 = codeOf(s.readable.getReader().read());
      const t0 = Date.now();
      a1.fast.gone(KEY, wire); // A1 closes: its link's entry goes, `last` writing straight to the channel
      link.open = false;
      assert.equal(await reading, 'ABORTED', "B's reader fails ABORTED (the Reset A1 wrote for A2's stream)");
      assert.equal(await readingA2, 'ABORTED', "A2's reader fails ABORTED (link-gone)");
      assert.equal(await codeOf(w.write(bytes(10, 1))), 'ABORTED', "A2's writer too");
      assert.ok(Date.now() - t0 < 1_000, `within ${Date.now() - t0} ms`);
      assert.equal(a2.fast.status().streamsAbortedByLink, 1);
    } finally {
      done();
    }
  });
  test("the peer streams 2 MiB to the app, taken in the second tab (the node's stream list): intact both ways, through the host tab, nothing to any node", async () => {
    const { a1, a2, b, done } = await setup();
    try {
      a1.fast.relays.setHandlers([], [[7, 'r1']]); // the worker: A2 takes the app's streams on port 7 (A1 handles it too)
      const s = b.fast.openStream(a1.id, 7)!;
      assert.ok(sidOf(s) >= TAB_SID_BASE, "B's tab runs it (an id in the tabs' range)");
      const sent = bytes(2 * 1024 * 1024 + 5, 6);
      const w = s.writable.getWriter();
      const writing = (async () => {
        for (let at = 0; at < sent.length; at += 100_000) await w.write(sent.subarray(at, at + 100_000));
        await w.close();
      })();
      await until(() => a2.accepted.length === 1, 5_000, 'A2 accepted the stream A1 handed it');
      const got = await readAll(a2.accepted[0]!);
      await writing;
      assert.deepEqual(Buffer.from(got), Buffer.from(sent), 'every byte, in order');
      const back = bytes(300_000, 8);
      const bw = a2.accepted[0]!.writable.getWriter();
      const [gotBack] = await Promise.all([readAll(s), bw.write(back).then(() => bw.close())]);
      assert.deepEqual(Buffer.from(gotBack), Buffer.from(back), 'and 300 kB back from A2 on the same stream');
      await countsMet(a1, a2);
      const [s1, s2, sb] = [a1.fast.status(), a2.fast.status(), b.fast.status()];
      assert.deepEqual([a1.accepted.length, s1.streamsAccepted, s2.streamsAccepted, s1.relayedStreamOpens, s1.relayedStreamOpensToNode], [0, 0, 1, 1, 0]);
      assert.ok(s1.relayedStreamIn! > 35 && s1.relayedStreamOut! > 5, `A1 passed ${s1.relayedStreamIn} of B's segments, wrote ${s1.relayedStreamOut} of A2's`);
      assert.deepEqual([s2.viaTabStreamIn, s2.viaTabStreamOut], [s1.relayedStreamIn, s1.relayedStreamOut], 'every segment through A1, one leg each way');
      assert.deepEqual([a1.toNode.length, b.toNode.length], [0, 0], 'no frame left to either node');
      onlyResentTwice([s1, s2, sb]);
    } finally {
      done();
    }
  });

  test("Opens the host tab leaves to the node: a durable one (a node's stream id), a port or app with no route, no list; `self` taken by the host tab", async () => {
    const { a1, a2, b, done } = await setup();
    try {
      let n = 0;
      const open = (sid: number, port = 7, app = appId('')) =>
        writePlainPacket({ src: Buffer.from(b.id, 'hex'), dst: Buffer.from(a1.id, 'hex'), hops: DEFAULT_HOP_LIMIT, id: packetIdAt(Date.now(), ++n, 2), kind: PacketKind.Stream, payload: encodeSegment({ type: SegmentType.Open, sid, fromOpener: true, seq: 0, port, app }) });
      const tabSid = TAB_SID_BASE + 2 * TAB_SID_SPAN + 11;
      assert.equal(a1.fast.take(KEY, open(tabSid)), false, 'no stream list yet (null): the node\'s');
      a1.fast.relays.setHandlers([], [[7, 'r1'], [9, 'self']]);
      assert.equal(a1.fast.take(KEY, open(12345)), false, "a durable stream (opened by B's node: its id below 2^47) stays the node's");
      assert.equal(a1.fast.take(KEY, open(tabSid + 1, 8)), false, 'a port the list does not name: the node\'s');
      assert.equal(a1.fast.take(KEY, open(tabSid + 2, 7, appId('other'))), false, 'another app: the node\'s');
      assert.equal(a1.fast.take(KEY, open(tabSid + 3)), true, 'a tab\'s Open to port 7: handed to A2');
      await until(() => a2.accepted.length === 1, 5_000, 'A2 accepted it');
      a1.ports.add(9);
      assert.equal(a1.fast.take(KEY, open(tabSid + 4, 9)), true, '`self`: A1 takes it itself');
      await until(() => a1.accepted.length === 1, 5_000, 'A1 accepted it');
      assert.deepEqual([a1.fast.status().relayedStreamOpens, a2.fast.status().streamsAccepted, a1.fast.status().streamsAccepted], [1, 1, 1]);
    } finally {
      done();
    }
  });

  test('a stale stream list (the second tab no longer takes streams on the port): it refuses, and the host tab gives the Open to the node untouched', async () => {
    const { a1, a2, b, fromB, done } = await setup();
    try {
      a1.fast.relays.setHandlers([], [[7, 'r1']]);
      a2.ports.delete(7); // A2's handleStreams off went out after the node's list did
      const s = b.fast.openStream(a1.id, 7)!;
      void s.writable.getWriter().write(bytes(1000, 1)).catch(() => undefined);
      await until(() => a1.toNode.length >= 1, 5_000, 'the Open reached the node');
      assert.deepEqual(Buffer.from(a1.toNode[0]!), Buffer.from(fromB[0]!), 'the Open as B wrote it, byte for byte');
      assert.equal(a1.fast.status().relayedStreamOpensToNode, 1);
      assert.deepEqual([a2.accepted.length, a2.fast.status().streamsAccepted], [0, 0], 'A2 took nothing');
      s.abort('done');
    } finally {
      done();
    }
  });

  for (const how of ['the second tab closes', 'the link leaves the host tab'] as const)
  test(`the peer's stream taken in the second tab, ${how} mid-stream: both ends fail ABORTED at once`, async () => {
    const { a1, a2, b, link, wire, done } = await setup();
    try {
      a1.fast.relays.setHandlers([], [[7, 'r1']]);
      const s = b.fast.openStream(a1.id, 7)!;
      const w = s.writable.getWriter();
      await w.write(bytes(50_000, 3));
      await until(() => a2.accepted.length === 1, 5_000, 'A2 accepted');
      const reading = codeOf((async () => {
        const r = a2.accepted[0]!.readable.getReader();
        for (;;) if ((await r.read()).done) throw new Error('ended cleanly');
      })());
      const t0 = Date.now();
      if (how === 'the second tab closes') a2.fast.relays.closeAll('closing'); // A2's pagehide: its `bye` on the channel
      else {
        a1.fast.gone(KEY, wire); // A1 closes: its link's entry goes, `last` writing straight to the channel
        await new Promise((r) => setImmediate(r)); // what `last` wrote is on the wire before the channel closes, as RtcHost does
        link.open = false;
      }
      assert.equal(await codeOf(w.closed), 'ABORTED', "B's writer fails ABORTED (the Reset A1 wrote for A2's end)");
      assert.equal(await reading, 'ABORTED', "A2's reader fails ABORTED (A1's bye, or link-gone)");
      assert.ok(Date.now() - t0 < 1_000, `within ${Date.now() - t0} ms, not a timeout`);
    } finally {
      done();
    }
  });
});
