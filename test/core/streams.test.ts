/**
 * Streams over real MeshNodes on memory links under the virtual clock: order and integrity
 * across a relay, under loss, with a reader that stops, many at once, aborts both ways,
 * refusals and timeouts. The relay case through real WebSocket servers, and 50 MB, are in
 * test/server/streams.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import type { MeshNode } from '../../src/core/node.js';
import { decodeSegment, encodeSegment, SEGMENT_BYTES, SegmentType } from '../../src/core/streams/segments.js';
import { RECEIVE_WINDOW, SEND_BUFFER } from '../../src/core/streams/service.js';
import type { CoreStream } from '../../src/core/streams/stream.js';
import { TestNet } from '../helpers/mesh.js';
import { errorOf, readAll, writeAll } from '../helpers/streams.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

/** a – b – c: a and c have no address, so everything between them crosses b. */
async function line(options: { loss?: number; jitterMs?: number; seed?: string } = {}): Promise<{ net: TestNet; a: MeshNode; b: MeshNode; c: MeshNode }> {
  const net = new TestNet({ loss: options.loss ?? 0, jitterMs: options.jitterMs ?? 0, seed: options.seed ?? 'streams' });
  const b = (await net.addNode('st/b')).node;
  const a = (await net.addNode('st/a', { addrs: [], bootstrap: ['mem:st/b'], handshakeTimeoutMs: 1000, maintainMs: 2000 })).node;
  const c = (await net.addNode('st/c', { addrs: [], bootstrap: ['mem:st/b'], handshakeTimeoutMs: 1000, maintainMs: 2000 })).node;
  await drive(net.clock, Promise.all([b.start(), a.start(), c.start()]), 1000, 'start');
  await driveUntil(net.clock, () => b.linkIds().length === 2, 120_000, 'a and c linked to b', 50);
  return { net, a, b, c };
}

/** Accepts streams on `port` at `node`, handing each to `fn`. Resolves with the first stream. */
function accept(node: MeshNode, port: number, fn: (s: CoreStream) => void = () => undefined): Promise<CoreStream> {
  return new Promise((resolve) => {
    node.handleStreams(port, (s) => {
      fn(s);
      resolve(s);
    });
  });
}

describe('streams on memory links', () => {
  it('carries 4 MB in order across a relay, then the answer back on the same stream (half-close)', async () => {
    const { net, a, c } = await line();
    let received: Promise<{ bytes: number; sha256: string }> | undefined;
    void accept(c, 5, (s) => {
      received = readAll(s.readable).then(async (r) => {
        // This end's reading is over; its writing is not.
        const w = s.writable.getWriter();
        await w.write(new TextEncoder().encode(r.sha256));
        await w.close();
        return r;
      });
    });
    const s = a.openStream(c.id, { port: 5 });
    const sent = await drive(net.clock, writeAll(s.writable, 4 << 20, 50_000), 60_000, 'write 4 MB');
    await driveUntil(net.clock, () => received !== undefined, 1000, 'accepted');
    const got = await drive(net.clock, received!, 60_000, 'read 4 MB');
    assert.equal(got.bytes, 4 << 20);
    assert.equal(got.sha256, sent, 'same bytes, same order');
    const answer = await drive(net.clock, readAll(s.readable), 10_000, 'read the answer');
    assert.equal(answer.bytes, 64, 'the hex digest came back');
    assert.equal(a.status().streams.retransmits, 0, 'nothing lost, nothing sent twice');
    await driveUntil(net.clock, () => a.status().streams.open === 0 && c.status().streams.open === 0, 20_000, 'both ends forget the finished stream');
    await net.stopAll();
  });

  it('delivers 2 MB intact under 5% loss per link with jitter, retransmitting end to end', async () => {
    const { net, a, b, c } = await line({ loss: 0.05, jitterMs: 4, seed: 'streams/loss' });
    let received: Promise<{ bytes: number; sha256: string }> | undefined;
    void accept(c, 6, (s) => void (received = readAll(s.readable)));
    const s = a.openStream(c.id, { port: 6 });
    const sent = await drive(net.clock, writeAll(s.writable, 2 << 20, 30_000), 300_000, 'write 2 MB under loss', 20);
    await driveUntil(net.clock, () => received !== undefined, 10_000, 'accepted');
    const got = await drive(net.clock, received!, 300_000, 'read 2 MB under loss', 20);
    assert.equal(got.sha256, sent);
    const retransmits = a.status().streams.retransmits;
    console.log(`# 2 MB under 5% loss per link: ${retransmits} segments sent again, ${b.status().counters.forwarded} packets forwarded by the relay`);
    assert.ok(retransmits > 0, 'losses were repaired by the endpoints');
    await net.stopAll();
  });

  it('a reader that stops holds the writer: memory stays bounded at both ends and at the relay', async () => {
    const { net, a, b, c } = await line();
    const accepted = accept(c, 7); // not read until later
    const s = a.openStream(c.id, { port: 7 });
    let written = 0;
    const total = 8 << 20;
    const writing = writeAll(s.writable, total, 16 * 1024, (n) => (written = n));
    const server = await drive(net.clock, accepted, 5000, 'accepted');
    // 20 virtual seconds: at memory-link speed any unbounded buffer would swallow all 8 MB.
    await advance(net.clock, 15_000);
    // Relays keep nothing per stream; while the window is shut only probes and acks cross.
    const forwardedBefore = b.status().counters.forwarded;
    await advance(net.clock, 5_000);
    const crossing = b.status().counters.forwarded - forwardedBefore;
    const segment = 16 * 1024; // every write of this test is one segment
    const held = server.recv.held;
    console.log(`# stalled reader: writer got ${written} bytes accepted; receiver holds ${held} segments; ${crossing} packets crossed the relay in the last 5 s`);
    assert.equal(held, RECEIVE_WINDOW, `the receiver holds exactly its window (${held})`);
    assert.ok(written <= (RECEIVE_WINDOW + SEND_BUFFER + 2) * segment, `the writer is held after window + send buffer (${written} bytes accepted)`);
    assert.ok(crossing <= 10, `only probes and their acks cross the relay while the window is shut (${crossing})`);
    const before = written;
    await advance(net.clock, 5000);
    assert.equal(written, before, 'no progress while nobody reads');
    assert.equal(a.status().streams.open, 1, 'the writer still waits: its probes are answered');
    // Now read: everything flows, intact.
    const got = await drive(net.clock, readAll(server.readable), 120_000, 'read the rest');
    assert.equal(got.sha256, await drive(net.clock, writing, 10_000, 'writer done'));
    assert.equal(got.bytes, total);
    await net.stopAll();
  });

  it('100 streams at once between the same two nodes each carry their own bytes', async () => {
    const { net, a, c } = await line();
    const results = new Map<string, string>();
    c.handleStreams(8, (s) => {
      void readAll(s.readable).then(async () => undefined);
    });
    c.handleStreams(9, (s) => {
      void (async () => {
        const reader = s.readable.getReader();
        const parts: Uint8Array[] = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value!);
        }
        const text = new TextDecoder().decode(Buffer.concat(parts));
        const w = s.writable.getWriter();
        await w.write(new TextEncoder().encode(`echo ${text}`));
        await w.close();
      })();
    });
    const one = async (i: number) => {
      const s = a.openStream(c.id, { port: 9 });
      const w = s.writable.getWriter();
      await w.write(new TextEncoder().encode(`stream ${i} `.repeat(1 + (i % 7) * 300)));
      await w.close();
      const reader = s.readable.getReader();
      const parts: Uint8Array[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value!);
      }
      results.set(String(i), new TextDecoder().decode(Buffer.concat(parts)));
    };
    await drive(net.clock, Promise.all(Array.from({ length: 100 }, (_, i) => one(i))), 60_000, '100 streams');
    for (let i = 0; i < 100; i++) assert.equal(results.get(String(i)), `echo ${`stream ${i} `.repeat(1 + (i % 7) * 300)}`);
    await driveUntil(net.clock, () => a.status().streams.open === 0 && c.status().streams.open === 0, 20_000, 'all 100 forgotten once finished');
    await net.stopAll();
  });

  it('an abort reaches the other end as MeshError ABORTED, from either end', async () => {
    const { net, a, c } = await line();
    // The opener aborts: the acceptor's reader fails.
    const first = accept(c, 10);
    const s1 = a.openStream(c.id, { port: 10 });
    const w1 = s1.writable.getWriter();
    await drive(net.clock, w1.write(new Uint8Array(1000)), 5000, 'first write');
    const remote1 = await drive(net.clock, first, 5000, 'accepted');
    const r1 = remote1.readable.getReader();
    await drive(net.clock, r1.read(), 5000, 'first read');
    s1.abort('changed my mind');
    const e1 = await drive(net.clock, errorOf(r1.read()), 5000, 'read after the abort');
    assert.ok(isMeshError(e1, 'ABORTED'), `ABORTED at the acceptor, got ${String(e1)}`);
    assert.match((e1 as Error).message, /changed my mind/);
    const local1 = await drive(net.clock, errorOf(w1.write(new Uint8Array(1))), 5000, 'write after own abort');
    assert.ok(isMeshError(local1, 'ABORTED'), 'the aborting end fails too');
    // The acceptor aborts (by cancelling its reader): the opener's writer fails.
    const second = accept(c, 11, (s) => void s.readable.cancel('no thanks'));
    const s2 = a.openStream(c.id, { port: 11 });
    const w2 = s2.writable.getWriter();
    await drive(net.clock, second, 5000, 'accepted');
    const e2 = await drive(
      net.clock,
      (async () => {
        for (let i = 0; i < 1000; i++) await w2.write(new Uint8Array(10_000));
      })().then(
        () => undefined,
        (e: unknown) => e,
      ),
      10_000,
      'writes until the abort arrives',
    );
    assert.ok(isMeshError(e2, 'ABORTED'), `ABORTED at the opener, got ${String(e2)}`);
    assert.match((e2 as Error).message, /no thanks/);
    await driveUntil(net.clock, () => a.status().streams.open === 0 && c.status().streams.open === 0, 5000, 'aborted streams are forgotten at once');
    await net.stopAll();
  });

  it('a port without a stream handler refuses with REFUSED', async () => {
    const { net, a, c } = await line();
    const s = a.openStream(c.id, { port: 12 });
    const e = await drive(net.clock, errorOf(s.readable.getReader().read()), 10_000, 'refused');
    assert.ok(isMeshError(e, 'REFUSED'), `REFUSED, got ${String(e)}`);
    assert.equal(c.status().counters.dropped['stream:no-handler'], 1);
    await net.stopAll();
  });

  it('a stream reaches only the app it was opened to: a look-alike name (x182) or the default app on the same port is never offered it', async () => {
    const { net, a, c } = await line();
    const offered: string[] = [];
    c.handleStreams(3, () => void offered.push('x182'), { app: 'x182' }); // the old 8-bit slot of "chat"
    c.handleStreams(3, () => void offered.push('default'));
    const toChat = new Promise<CoreStream>((resolve) => c.handleStreams(3, (st) => resolve(st), { app: 'chat' }));
    const s = a.openStream(c.id, { port: 3, app: 'chat' });
    const w = s.writable.getWriter();
    await drive(net.clock, w.write(new Uint8Array([1, 2, 3])), 5000, 'write to chat');
    const got = await drive(net.clock, toChat, 5000, 'chat accepts');
    assert.equal(got.app, 'chat');
    assert.deepEqual(offered, [], 'no other app was offered the stream');
    // Opened to an app with no handler on that port: refused, though other apps handle port 3.
    const stray = a.openStream(c.id, { port: 3, app: 'Chat' });
    const e = await drive(net.clock, errorOf(stray.readable.getReader().read()), 10_000, 'refused');
    assert.ok(isMeshError(e, 'REFUSED'), `REFUSED, got ${String(e)}`);
    assert.deepEqual(offered, [], 'still no other app was offered anything');
    await net.stopAll();
  });

  it('a node that stops tells the other end of its streams at once: ABORTED, not a TIMEOUT later', async () => {
    const { net, a, c } = await line();
    const accepted = accept(c, 14);
    const s = a.openStream(c.id, { port: 14, timeoutMs: 30_000 });
    const w = s.writable.getWriter();
    await drive(net.clock, w.write(new Uint8Array(100)), 5000, 'first write');
    const remote = await drive(net.clock, accepted, 5000, 'accepted');
    const reader = remote.readable.getReader();
    await drive(net.clock, reader.read(), 5000, 'first read');
    const writing = errorOf((async () => { for (;;) await w.write(new Uint8Array(1000)); })());
    await drive(net.clock, c.stop(), 5000, 'the accepting node stops');
    const start = net.clock.now();
    const e = await drive(net.clock, writing, 5000, 'the writer hears of it');
    assert.ok(isMeshError(e, 'ABORTED'), `ABORTED, got ${String(e)}`);
    assert.match((e as Error).message, /the node stopped/);
    assert.ok(net.clock.now() - start < 1000, 'within a round trip, not the 30 s stream timeout');
    const own = await drive(net.clock, errorOf((async () => { for (;;) if ((await reader.read()).done) return; })()), 1000, 'the stopped end reads');
    assert.ok(isMeshError(own, 'STOPPED'), `the stopped end fails its own stream with STOPPED, got ${String(own)}`);
    await net.stopAll();
  });

  it('a stream whose other end is gone fails with TIMEOUT after timeoutMs of silence', async () => {
    const { net, a, b, c } = await line();
    void accept(c, 13);
    const s = a.openStream(c.id, { port: 13, timeoutMs: 3000 });
    const w = s.writable.getWriter();
    await drive(net.clock, w.write(new Uint8Array(100)), 5000, 'first write');
    await drive(net.clock, b.stop(), 1000, 'the relay goes');
    await drive(net.clock, c.stop(), 1000, 'and the other end');
    const start = net.clock.now();
    const writing = errorOf((async () => { for (;;) await w.write(new Uint8Array(30_000)); })());
    const e = await drive(net.clock, writing, 20_000, 'timeout');
    assert.ok(isMeshError(e, 'TIMEOUT'), `TIMEOUT, got ${String(e)}`);
    assert.ok(net.clock.now() - start <= 3000 + 11_000, 'within timeoutMs and one backed-off retransmission timer');
    await net.stopAll();
  });

  it('refuses bad arguments and malformed segments with a reason', async () => {
    const { net, a, c } = await line();
    assert.throws(() => a.openStream('nope', { port: 1 }), (e: unknown) => isMeshError(e, 'INVALID_ARGUMENT'));
    assert.throws(() => a.openStream(c.id, { port: 70_000 }), (e: unknown) => isMeshError(e, 'INVALID_ARGUMENT'));
    assert.throws(() => a.openStream(c.id, { port: 1, timeoutMs: 0 }), (e: unknown) => isMeshError(e, 'INVALID_ARGUMENT'));
    a.handleStreams(3, () => undefined);
    assert.throws(() => a.handleStreams(3, () => undefined), (e: unknown) => isMeshError(e, 'INVALID_ARGUMENT'));
    const ok = encodeSegment({ type: SegmentType.Ack, sid: 5, fromOpener: false, next: 3, limit: 40, sack: [5, 7] });
    assert.deepEqual(decodeSegment(ok), { type: SegmentType.Ack, sid: 5, fromOpener: false, next: 3, limit: 40, sack: [5, 7] });
    for (const bad of [
      encodeSegment({ type: SegmentType.Ack, sid: 5, fromOpener: false, next: 3, limit: 40, sack: [2, 7] }), // range below next
      encodeSegment({ type: SegmentType.Ack, sid: 5, fromOpener: false, next: 3, limit: 2, sack: [] }), // limit below next
      encodeSegment({ type: SegmentType.Open, sid: 5, fromOpener: false, seq: 0, port: 1, app: new Uint8Array(0) }), // opened by the acceptor
      encodeSegment({ type: SegmentType.Open, sid: 5, fromOpener: true, seq: 0, port: 1, app: new Uint8Array(5) }), // an app id of neither 0 nor 16 bytes
      encodeSegment({ type: SegmentType.Data, sid: 5, fromOpener: true, seq: 1, data: new Uint8Array(0) }),
      encodeSegment({ type: SegmentType.Data, sid: 5, fromOpener: true, seq: 1, data: new Uint8Array(SEGMENT_BYTES + 1) }),
      new Uint8Array([0x83, 0x09, 0x01, 0x01]),
      new Uint8Array([0xff]),
    ]) {
      assert.equal(decodeSegment(bad), 'stream:malformed');
    }
    await net.stopAll();
  });
});
