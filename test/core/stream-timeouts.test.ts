/**
 * The stream's retransmission timeout over the links streams really ride on. WebRTC
 * DataChannels and WebSockets are reliable and ordered: a loss on one is repaired below us
 * (SCTP, TCP) while everything behind it waits, so the path stalls for a while and then
 * delivers all of it. The send window must not take such a stall for the loss of everything in
 * flight: before, its timer marked every segment lost, cut the congestion window to one and
 * sent them all again, and a 1 MB stream at 1 % loss took 1.8x as long as a bare DataChannel
 * (docs/BENCHMARKS.md). SendWindow and ReceiveWindow, joined by a pipe under the virtual clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SendWindow } from '../../src/core/streams/send-window.js';
import { ReceiveWindow } from '../../src/core/streams/receive-window.js';
import { SEGMENT_BYTES, SegmentType, type AckSegment, type Sequenced } from '../../src/core/streams/segments.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';

const ONE_WAY_MS = 20;
const SEND_MS = 5;

/**
 * A stream's two windows over a reliable, ordered pipe that stalls: a segment sent during
 * `stalls` (start, end in ms) comes out at the stall's end (and in order), as a DataChannel
 * repairing a lost packet delivers everything behind it. `drop` loses chosen transmissions
 * outright (a relay dropping them), by sequence number, first transmission only.
 */
function pair(o: { stalls?: [number, number][]; drop?: Set<number> } = {}) {
  const clock = new VirtualClock();
  const c = clock.scoped(0);
  // One segment leaves every SEND_MS (60 KiB per 5 ms: 12 MB/s), in order; one that would
  // leave during a stall leaves at its end.
  let free = 0;
  const arrivalAt = (now: number): number => {
    let leaves = Math.max(now, free);
    for (const [start, end] of o.stalls ?? []) if (leaves >= start && leaves < end) leaves = end;
    free = leaves + SEND_MS;
    return free + ONE_WAY_MS;
  };
  const sentOnce = new Set<number>();
  let delivered = 0;
  let opened = false;
  let sw!: SendWindow;
  const rw: ReceiveWindow = new ReceiveWindow(
    {
      clock: c,
      sendAck: (next, limit, sack) => {
        const ack = { type: SegmentType.Ack, sid: 1, fromOpener: false, next, limit, sack } as AckSegment;
        clock.schedule(0, () => sw.onAck(ack), ONE_WAY_MS);
      },
      readable: () => {
        while (rw.take()) delivered++;
      },
    },
    32,
  );
  sw = new SendWindow(
    {
      clock: c,
      transmit: (seg) => {
        if (seg.type === SegmentType.Probe) return void clock.schedule(0, () => rw.onProbe(), ONE_WAY_MS);
        const s = seg as Sequenced;
        const first = !sentOnce.has(s.seq);
        sentOnce.add(s.seq);
        if (first && o.drop?.has(s.seq)) return;
        clock.schedule(0, () => {
          // As the stream service does: nothing of a stream whose opening segment never came.
          if (s.type === SegmentType.Open) opened = true;
          if (opened) rw.onSegment(s);
        }, arrivalAt(clock.now()) - clock.now());
      },
      stalled: () => assert.fail('the stream stalled'),
    },
    { sid: 1, fromOpener: true },
    { maxBuffered: 64, timeoutMs: 30_000 },
  );
  return { clock, sw, delivered: () => delivered };
}

/** Writes `segments` full segments and a Fin; resolves with the virtual time everything was acknowledged. */
async function run(p: ReturnType<typeof pair>, segments: number): Promise<number> {
  p.sw.open(1, new Uint8Array(16));
  let done: number | undefined;
  void (async () => {
    await p.sw.write(new Uint8Array(segments * SEGMENT_BYTES));
    await p.sw.finish();
    done = p.clock.now();
  })();
  for (let t = 0; done === undefined && t < 120_000; t += 50) await p.clock.runUntil(p.clock.now() + 50);
  assert.ok(done !== undefined, 'everything acknowledged within two virtual minutes');
  return done;
}

describe('stream retransmission timeout on a reliable, ordered path', () => {
  it('a path that stalls (a loss repaired below) costs at most a probe per stall, not everything in flight again', async () => {
    // Warm up the estimate on a steady path, then three stalls of 400 ms, each longer than the
    // timeout (RTT 40-200 ms: the timeout near its 200 ms floor).
    const stalls: [number, number][] = [[600, 1_000], [1_600, 2_000], [2_600, 3_000]];
    const p = pair({ stalls });
    const doneAt = await run(p, 800);
    assert.equal(p.delivered(), 801, 'every data segment and the Fin, once each, in order');
    console.log(`# 800 segments over a path with 3 stalls of 400 ms: ${p.sw.retransmits} segments sent again, done at ${doneAt} ms`);
    assert.ok(p.sw.retransmits <= 2 * stalls.length, `at most two probes a stall, sent ${p.sw.retransmits} again`);
  });

  it('segments a relay dropped at the tail of a burst are found by a probe and sent again', async () => {
    // 40 segments; the last three never arrive the first time, and nothing after them brings a
    // selective ack that would show the hole.
    const p = pair({ drop: new Set([38, 39, 40]) });
    await run(p, 39);
    assert.equal(p.delivered(), 40, 'every data segment and the Fin arrived');
    assert.ok(p.sw.retransmits >= 3, 'the dropped ones were sent again');
    assert.ok(p.sw.retransmits <= 6, `and little else: ${p.sw.retransmits}`);
  });

  it('a lost opening segment is what the first probe sends again: the other end ignores the rest until it comes', async () => {
    const p = pair({ drop: new Set([0]) });
    await run(p, 30);
    assert.equal(p.delivered(), 31);
    console.log(`# opening segment lost: ${p.sw.retransmits} segments sent again`);
    assert.ok(p.sw.retransmits <= 12, `the opening one, then what was ignored before it came: ${p.sw.retransmits}`);
  });

  it('a hole in the middle is repaired from selective acks, without waiting for the timer', async () => {
    const p = pair({ drop: new Set([10]) });
    await run(p, 60);
    assert.equal(p.delivered(), 61);
    assert.equal(p.sw.retransmits, 1, `exactly the dropped segment sent again, sent ${p.sw.retransmits}`);
  });
});
