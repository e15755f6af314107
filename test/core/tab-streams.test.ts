/**
 * Streams on the tab's data plane (src/browser/stream-tap.ts, tab-stream-plane.ts,
 * docs/DATA-PLANE.md "Streams"), in Node: two FastPath instances hold the two ends of one bound
 * link, as two host tabs would, and each frame one writes is handed to the other's `take` (the
 * seam RtcHost gives it); a frame `take` refuses is what RtcHost would pass to the node. The
 * streams are the core's own (core/streams), with real timers. The real-browser test is
 * test/browser/tab-streams.test.ts.
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
import { StreamService, TAB_SID_BASE } from '../../src/core/streams/service.js';
import { systemClock } from '../../src/core/clock.js';
import { FastPath } from '../../src/browser/fast-path.js';
import type { RtcHost } from '../../src/browser/rtc-host.js';
import type { MeshStream } from '../../src/browser/tab-streams.js';
import { until, within } from '../helpers/wait.js';

const KEY = 'link-1';

interface Tab {
  fast: FastPath;
  id: string;
  /** Frames its `take` left to the node. */
  toNode: Uint8Array[];
  /** The DataChannel is open. */
  open: boolean;
  accepted: MeshStream[];
  grant: Parameters<FastPath['grant']>[0];
}

/** Two tabs hosting the two ends of one bound link; each handles streams on port 7. */
async function linkedTabs(): Promise<[Tab, Tab]> {
  const ids = [crypto.getRandomValues(new Uint8Array(32)), crypto.getRandomValues(new Uint8Array(32))];
  const tabs: Tab[] = [];
  for (const i of [0, 1]) {
    const tab: Tab = { fast: undefined as unknown as FastPath, id: toHex(ids[i]!), toNode: [], open: true, accepted: [], grant: undefined as never };
    // As a DataChannel does: the bytes are copied at send(), and arrive later, in order.
    const deliver = (frame: Uint8Array) => {
      if (!tab.open) return false;
      const copy = frame.slice();
      const peer = tabs[1 - i]!;
      setImmediate(() => peer.open && !peer.fast.take(KEY, copy) && peer.toNode.push(copy));
      return true;
    };
    const rtc = { sendOwn: async (_k: string, f: Uint8Array) => deliver(f), sendNow: (_k: string, f: Uint8Array) => deliver(f), toNode: () => undefined } as unknown as RtcHost;
    tab.fast = new FastPath({
      rtc,
      listening: () => true,
      deliver: () => undefined,
      handles: () => false,
      runHandler: async () => ({ ok: true, data: '' }),
      traffic: () => undefined,
      answerHome: () => undefined,
      runHome: () => undefined,
      app: '',
      streamHandler: (port) => (port === 7 ? (s) => void tab.accepted.push(s) : undefined),
    });
    tab.grant = { ev: 'fast-grant', key: KEY, peer: toHex(ids[1 - i]!), self: toHex(ids[i]!), bound: true, app: appId(''), lane: 1 + i };
    tab.fast.grant(tab.grant);
    await tab.fast.streams.load();
    tabs.push(tab);
  }
  return tabs as [Tab, Tab];
}

async function readAll(s: MeshStream): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s.readable).arrayBuffer());
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** A clear Stream packet as the peer's tab (or a forger) would write it. */
function streamFrame(src: string, dst: string, seg: Segment, id = packetIdAt(Date.now(), 0, 5)): Uint8Array {
  return writePlainPacket({ src: Buffer.from(src, 'hex'), dst: Buffer.from(dst, 'hex'), hops: DEFAULT_HOP_LIMIT, id, kind: PacketKind.Stream, payload: encodeSegment(seg) });
}

describe('streams on the tab data plane', () => {
  test('a node and a tab given the same randomness pick stream ids in ranges of their own', () => {
    const random = { bytes: (n: number) => new Uint8Array(n), float: () => 0.75 };
    const host = { clock: systemClock, random, send: async () => undefined, drop: () => undefined };
    const peer = 'ab'.repeat(32);
    const node = new StreamService(host).open(peer, 1);
    const tab = new StreamService({ ...host, sidBase: TAB_SID_BASE }).open(peer, 1);
    assert.ok(node.sid < TAB_SID_BASE, `the node's id ${node.sid} below 2^47`);
    assert.ok(tab.sid >= TAB_SID_BASE && tab.sid < 2 ** 48, `the tab's id ${tab.sid} from 2^47 to 2^48`);
    for (const s of [node, tab]) s.abort('done');
  });

  test('a stream between two tabs, both ways, half-closed, with a slow reader: intact, and nothing reaches either node', async () => {
    // The bytes are made before the stream opens: making 3 MB takes 0.5-1 s of one core at
    // load 7, and done after the Open went out it held the event loop past the Open's first
    // retransmission timeout (1 s) while B's ack waited behind it, so A sent the Open again
    // and B counted a stream:duplicate.
    const sent = bytes(3 * 1024 * 1024 + 123, 1);
    const answer = bytes(200_000, 2);
    const [a, b] = await linkedTabs();
    const s = a.fast.openStream(b.id, 7)!;
    assert.ok(s, 'opened in the tab: its grant is bound and the link is its own');
    const w = s.writable.getWriter();
    const writing = (async () => {
      for (let at = 0; at < sent.length; at += 100_000) await w.write(sent.subarray(at, at + 100_000));
      await w.close();
    })();
    await until(() => b.accepted.length === 1, 5_000, 'B accepted the stream in its tab');
    const r = b.accepted[0]!;
    assert.equal(r.remote, a.id);
    // A reader slower than the writer: a turn of the event loop per chunk.
    const reader = r.readable.getReader();
    const got: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got.push(value);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await writing; // close() resolved: B acknowledged everything
    assert.deepEqual(Buffer.concat(got), Buffer.from(sent), 'every byte, in order');
    // The other direction after A's half-close: B answers on the same stream.
    const bw = r.writable.getWriter();
    await bw.write(answer);
    await bw.close();
    assert.deepEqual(Buffer.from(await readAll(s)), Buffer.from(answer));
    const sa = a.fast.status();
    const sb = b.fast.status();
    assert.equal(sa.streamsOpened, 1);
    assert.equal(sb.streamsAccepted, 1);
    assert.ok(sa.streamSegmentsOut > 50 && sb.streamSegmentsIn > 50, `segments on the data plane: ${sa.streamSegmentsOut} out, ${sb.streamSegmentsIn} in`);
    assert.deepEqual([a.toNode.length, b.toNode.length], [0, 0], 'no frame left to either node');
    // A segment arrives twice only if its sender sent it again: on an event loop stalled past
    // the retransmission timeout (seen at load 16-20: 1.7 s with 25 ms of work due) the timer can
    // fire before the ack queued behind it is read. Each duplicate must be such a resend.
    const { 'stream:duplicate': dupA = 0, ...otherA } = sa.dropped;
    const { 'stream:duplicate': dupB = 0, ...otherB } = sb.dropped;
    assert.deepEqual([otherA, otherB], [{}, {}], 'no drop but duplicates');
    assert.ok(dupB <= sa.streamRetransmits && dupA <= sb.streamRetransmits, `duplicates ${dupA} / ${dupB} against resends ${sb.streamRetransmits} / ${sa.streamRetransmits}`);
  });

  test('what the tab must not take goes to the node whole; a replay is a counted drop', async () => {
    const [a, b] = await linkedTabs();
    const other = 'cd'.repeat(32);
    const open = (sid: number, port = 7): Segment => ({ type: SegmentType.Open, sid, fromOpener: true, seq: 0, port, app: new Uint8Array(0) });
    const refused: [string, Uint8Array][] = [
      ['an Open the node opened (its id below 2^47)', streamFrame(a.id, b.id, open(12345))],
      ['an Open from a node that is not the link peer', streamFrame(other, b.id, open(TAB_SID_BASE + 1))],
      ['an Open to another node', streamFrame(a.id, other, open(TAB_SID_BASE + 2))],
      ['an Open to a port the tab does not handle', streamFrame(a.id, b.id, open(TAB_SID_BASE + 3, 8))],
      ['data of a stream the tab does not hold', streamFrame(a.id, b.id, { type: SegmentType.Data, sid: TAB_SID_BASE + 4, fromOpener: true, seq: 1, data: new Uint8Array(10) })],
      ['an ack of a stream the tab does not hold', streamFrame(a.id, b.id, { type: SegmentType.Ack, sid: TAB_SID_BASE + 4, fromOpener: false, next: 0, limit: 16, sack: [] })],
    ];
    for (const [what, frame] of refused) assert.equal(b.fast.take(KEY, frame), false, `${what}: to the node`);

    // A stream B holds: its segments from the link peer are B's; the same from another node are not.
    const s = a.fast.openStream(b.id, 7)!;
    await until(() => b.accepted.length === 1, 5_000, 'B accepted the stream');
    const sid = (s as unknown as { sid: number }).sid;
    const data = (seq: number): Segment => ({ type: SegmentType.Data, sid, fromOpener: true, seq, data: new Uint8Array(5) });
    assert.equal(b.fast.take(KEY, streamFrame(other, b.id, data(1))), false, 'a segment of its stream from another node: to the node');
    const frame = streamFrame(a.id, b.id, data(1), packetIdAt(Date.now(), 1, 1));
    assert.equal(b.fast.take(KEY, frame), true, 'from the link peer: the tab takes it');
    assert.equal(b.fast.take(KEY, frame), true, 'a replay is the tab stream\'s too');
    assert.equal(b.fast.status().dropped['fast:replay'], 1, 'and dropped as a replay');

    // While the app has another tab (the grant without inbound), an Open goes to the node.
    b.fast.grant({ ...b.grant, inbound: false });
    assert.equal(b.fast.take(KEY, streamFrame(a.id, b.id, open(TAB_SID_BASE + 9))), false, 'an Open without inbound: to the node');
    assert.equal(b.fast.take(KEY, streamFrame(a.id, b.id, data(2), packetIdAt(Date.now(), 2, 1))), true, "the tab's own stream goes on");
    s.abort('done');
  });

  test('a link gone before its streams heard: they end ABORTED at their next segment, not at their TIMEOUT', async () => {
    const [a, b] = await linkedTabs();
    const s = a.fast.openStream(b.id, 7)!;
    await until(() => b.accepted.length === 1, 5_000, 'B accepted the stream');
    a.open = false; // the channel is gone, and nothing told the data plane yet
    const w = s.writable.getWriter();
    void w.write(bytes(1000, 6)).catch(() => undefined);
    // Not at its TIMEOUT (that fails TIMEOUT): ABORTED, by the link's going (the counter). No
    // bound on the wall time: it fails when the event loop itself is held, as at load 20.
    await within(
      assert.rejects(w.closed, (e: { code?: string }) => e.code === 'ABORTED'),
      5_000,
      "A's writer failing",
    );
    assert.equal(a.fast.status().streamsAbortedByLink, 1);
  });

  test('the link leaves the tab: both ends fail ABORTED, told by the Reset written on the way out; a grant given again keeps them', async () => {
    const [a, b] = await linkedTabs();
    const s = a.fast.openStream(b.id, 7)!;
    const w = s.writable.getWriter();
    await w.write(bytes(1000, 3));
    await until(() => b.accepted.length === 1, 5_000, 'B accepted the stream');
    const r = b.accepted[0]!.readable.getReader();
    assert.equal((await r.read()).value?.length, 1000);

    // The node gives A's grant again (a second tab came and went): the stream goes on.
    a.fast.revoke(KEY, 'changed');
    a.fast.grant(a.grant);
    await w.write(bytes(1000, 4));
    assert.equal((await r.read()).value?.length, 1000, 'still running after a changed grant');

    // A's link entry goes (the tab closes, parks or the link is re-homed): `last` still writes.
    const reading = r.read().then(
      () => 'read',
      (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
    );
    a.fast.gone(KEY, (frame) => {
      const copy = frame.slice();
      setImmediate(() => b.fast.take(KEY, copy));
      return true;
    });
    a.open = false;
    // Told by A's Reset (its reason is in B's error), not by a timeout: B, which only reads, has
    // none. (A bound on the wall time said "at once" before, and failed at load 20, when the
    // event loop itself was held for more than a second.)
    assert.equal(await within(reading, 5_000, "B's read"), 'ABORTED: the other end aborted the stream: the link left the tab', "B's reader fails ABORTED, told by A's Reset");
    await assert.rejects(w.write(bytes(10, 5)), (e: { code?: string }) => e.code === 'ABORTED', "A's writer fails ABORTED");
    assert.equal(a.fast.status().streamsAbortedByLink, 1);
    assert.equal(a.fast.openStream(b.id, 7), undefined, 'no grant now: a new stream goes through the node');
  });
});
