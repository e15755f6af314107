/**
 * The Link compliance suite: the behaviour every transport owes the core, whatever carries
 * the bytes (memory, WebSocket, WebRTC DataChannel, MessagePort). A transport's test file calls
 * `runLinkCompliance('websocket', makePair)` with a factory that opens one fresh, connected
 * pair of links per case; the suite never looks behind the `Link` interface.
 *
 * Every wait here is bounded in real time, so a transport that loses a frame or never
 * delivers a close fails with a sentence saying so instead of hanging the run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { LINK_HIGH_WATER_BYTES, type Link, type TransportKind } from '../../src/core/link.js';
import { MAX_FRAME_BYTES } from '../../src/core/limits.js';
import { within } from '../helpers/wait.js';

export interface LinkPair {
  a: Link;
  b: Link;
  cleanup(): Promise<void>;
}

/** How long any single expected event may take. Generous: a loaded CI machine is slow. */
const WAIT_MS = 5000;
const TRANSPORTS: readonly TransportKind[] = ['memory', 'websocket', 'webrtc', 'port'];

/** Everything one side of a link observed through its handlers. */
class Inbox {
  readonly frames: Uint8Array[] = [];
  readonly closes: string[] = [];
  drains = 0;
  private waiters: (() => void)[] = [];

  constructor(link: Link) {
    link.attach({
      // Copy into a plain Uint8Array: a transport may hand out a Buffer or a view it reuses.
      frame: (bytes) => this.record(() => this.frames.push(new Uint8Array(bytes))),
      close: (reason) => this.record(() => this.closes.push(reason)),
      drain: () => this.record(() => this.drains++),
    });
  }

  private record(change: () => void): void {
    change();
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Resolves once `condition` holds; rejects after `ms` naming `what`. The deadline is an
   * ordinary (ref'd) timer on purpose: it keeps the process alive while a transport whose own
   * timers do not (an unref'd clock) still has frames in flight.
   */
  until(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(
        () => reject(new Error(`${what}: not seen within ${ms} ms (frames ${this.frames.length}, closes ${JSON.stringify(this.closes)})`)),
        ms,
      );
      const check = () => {
        if (!condition()) return void this.waiters.push(check);
        clearTimeout(deadline);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  frameCount(n: number, what = `${n} frames`): Promise<void> {
    return this.until(() => this.frames.length >= n, what);
  }

  closed(what = 'close'): Promise<void> {
    return this.until(() => this.closes.length > 0, what);
  }
}

/** A frame whose bytes tell its index and are otherwise pseudo-random, so reordering or corruption shows. */
function numberedFrame(index: number, size: number): Uint8Array {
  const out = new Uint8Array(Math.max(size, 4));
  new DataView(out.buffer).setUint32(0, index);
  let x = (index * 2654435761) >>> 0 || 1;
  for (let i = 4; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function indexOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Real-time pause long enough for any transport under test to carry a frame across. */
const SETTLE_MS = 100;

export function runLinkCompliance(name: string, makePair: () => Promise<LinkPair>): void {
  /** Runs `body` on a fresh pair and always cleans up, even when the body fails. */
  const withPair = async (body: (p: LinkPair) => Promise<void>) => {
    const pair = await within(makePair(), WAIT_MS, `${name}: makePair`);
    try {
      await body(pair);
    } finally {
      await pair.cleanup();
    }
  };

  describe(`${name} link compliance`, { timeout: 60_000 }, () => {
    it('reports its transport and starts open', () =>
      withPair(async ({ a, b }) => {
        assert.ok(TRANSPORTS.includes(a.transport), `unknown transport ${a.transport}`);
        assert.equal(b.transport, a.transport, 'both ends of a link are the same transport');
        assert.equal(a.closed, false);
        assert.equal(b.closed, false);
        assert.equal(typeof a.bufferedAmount, 'number');
        assert.ok(a.bufferedAmount >= 0);
      }));

    it('echoes one frame each way', () =>
      withPair(async ({ a, b }) => {
        const ia = new Inbox(a);
        const ib = new Inbox(b);
        const ping = Uint8Array.from([1, 2, 3, 250, 0, 7]);
        assert.equal(a.send(ping), true, 'a small frame on an idle link is under the high-water mark');
        await ib.frameCount(1, 'frame a -> b');
        assert.deepEqual(ib.frames[0], ping);
        const pong = Uint8Array.from(ib.frames[0]!.map((x) => 255 - x));
        b.send(pong);
        await ia.frameCount(1, 'frame b -> a');
        assert.deepEqual(ia.frames[0], pong);
        // Nothing echoed back to its own sender.
        assert.equal(ia.frames.length, 1);
        assert.equal(ib.frames.length, 1);
      }));

    it('delivers many small frames complete and in order, both directions at once', () =>
      withPair(async ({ a, b }) => {
        const ia = new Inbox(a);
        const ib = new Inbox(b);
        const count = 1000;
        const sizes = (i: number) => 1 + ((i * 37) % 96);
        for (let i = 0; i < count; i++) {
          a.send(numberedFrame(i, sizes(i)));
          b.send(numberedFrame(count + i, sizes(i)));
        }
        await ib.frameCount(count, `${count} frames a -> b`);
        await ia.frameCount(count, `${count} frames b -> a`);
        ib.frames.forEach((f, i) => assert.deepEqual(f, numberedFrame(i, sizes(i)), `frame ${i} a -> b`));
        ia.frames.forEach((f, i) => assert.deepEqual(f, numberedFrame(count + i, sizes(i)), `frame ${i} b -> a`));
        await delay(SETTLE_MS);
        assert.equal(ib.frames.length, count, 'no frame delivered twice');
      }));

    it(`carries one frame of MAX_FRAME_BYTES - 64 (${MAX_FRAME_BYTES - 64} bytes) intact`, () =>
      withPair(async ({ a, b }) => {
        const ib = new Inbox(b);
        const big = numberedFrame(42, MAX_FRAME_BYTES - 64);
        a.send(big);
        await ib.frameCount(1, 'the big frame');
        assert.equal(ib.frames[0]!.length, big.length, 'arrives as one frame, not in pieces');
        assert.deepEqual(ib.frames[0], big);
      }));

    it('keeps frames that arrive before the receiver attaches', () =>
      withPair(async ({ a, b }) => {
        const frames = [0, 1, 2, 3, 4].map((i) => numberedFrame(i, 10 + i));
        for (const f of frames) a.send(f);
        // Give the frames time to cross and sit unclaimed on b's side.
        await delay(SETTLE_MS);
        const ib = new Inbox(b);
        await ib.frameCount(frames.length, 'frames sent before attach');
        assert.deepEqual(ib.frames, frames);
        // And the link works normally afterwards.
        a.send(numberedFrame(5, 15));
        await ib.frameCount(6, 'a frame sent after attach');
        assert.deepEqual(ib.frames[5], numberedFrame(5, 15));
      }));

    it('delivers frames and then the close to a receiver that attaches after both', () =>
      withPair(async ({ a, b }) => {
        const frames = [numberedFrame(0, 8), numberedFrame(1, 300)];
        for (const f of frames) a.send(f);
        a.close('done early');
        await delay(SETTLE_MS);
        const ib = new Inbox(b);
        await ib.closed('close that happened before attach');
        assert.deepEqual(ib.frames, frames, 'frames sent before the close are not lost');
        assert.deepEqual(ib.closes, ['done early']);
      }));

    it('hands the close reason to the other side exactly once, and marks both closed', () =>
      withPair(async ({ a, b }) => {
        const ia = new Inbox(a);
        const ib = new Inbox(b);
        a.close('test says goodbye');
        assert.equal(a.closed, true, 'closed at once on the closing side');
        a.close('a second close is a no-op');
        await ib.closed('close on the far side');
        assert.equal(b.closed, true);
        await delay(SETTLE_MS);
        assert.deepEqual(ib.closes, ['test says goodbye']);
        assert.ok(ia.closes.length <= 1, `the closing side's handler runs at most once, got ${JSON.stringify(ia.closes)}`);
      }));

    it('throws MeshError LINK_CLOSED on send after close, on both sides', () =>
      withPair(async ({ a, b }) => {
        const ib = new Inbox(b);
        new Inbox(a);
        a.close('closing for the test');
        assert.throws(() => a.send(Uint8Array.of(1)), (err: unknown) => isMeshError(err, 'LINK_CLOSED'));
        await ib.closed();
        assert.throws(() => b.send(Uint8Array.of(1)), (err: unknown) => isMeshError(err, 'LINK_CLOSED'));
      }));

    it('survives a close while the other side keeps writing', () =>
      withPair(async ({ a, b }) => {
        new Inbox(a);
        const ib = new Inbox(b);
        let sent = 0;
        let writerError: unknown;
        let giveUp = false;
        const writer = (async () => {
          // b writes until its link reports closed; a send may only fail with LINK_CLOSED.
          while (!b.closed && !giveUp) {
            try {
              b.send(numberedFrame(sent++, 200));
            } catch (err) {
              if (!isMeshError(err, 'LINK_CLOSED')) writerError = err;
              break;
            }
            if (sent % 20 === 0) await delay(1);
          }
        })();
        await delay(20);
        a.close('closed mid-stream');
        try {
          await ib.closed('close seen by the writing side');
        } finally {
          giveUp = true;
          await writer;
        }
        assert.equal(writerError, undefined, `unexpected error from send: ${String(writerError)}`);
        assert.ok(sent > 0, 'the writer wrote something before the close');
        assert.deepEqual(ib.closes, ['closed mid-stream']);
      }));

    it('signals backpressure past the high-water mark, drains, and still delivers everything', () =>
      withPair(async ({ a, b }) => {
        const ia = new Inbox(a);
        const ib = new Inbox(b);
        const frameSize = 32 * 1024;
        const count = Math.ceil((3 * LINK_HIGH_WATER_BYTES) / frameSize);
        let refused = 0;
        let maxBuffered = 0;
        // Write far past the high-water mark without yielding, as a careless sender would.
        for (let i = 0; i < count; i++) {
          if (!a.send(numberedFrame(i, frameSize))) refused++;
          maxBuffered = Math.max(maxBuffered, a.bufferedAmount);
        }
        assert.ok(
          refused > 0 || maxBuffered <= LINK_HIGH_WATER_BYTES + frameSize,
          `send never returned false, yet bufferedAmount reached ${maxBuffered} bytes`,
        );
        if (refused > 0) {
          // A link that asked the sender to wait must say when it may go on.
          await ia.until(() => ia.drains > 0, 'drain after send returned false');
          assert.ok(a.bufferedAmount <= LINK_HIGH_WATER_BYTES, 'drain comes once the buffer is back under the mark');
        }
        await ib.frameCount(count, `all ${count} frames of ${frameSize} bytes`);
        ib.frames.forEach((f, i) => assert.equal(indexOf(f), i, `frame ${i} in order`));
        assert.deepEqual(ib.frames[count - 1], numberedFrame(count - 1, frameSize));
        await ia.until(() => a.bufferedAmount === 0, 'bufferedAmount back to 0 once everything left');
      }));

    it('lets a sender that honours backpressure move many megabytes', () =>
      withPair(async ({ a, b }) => {
        const ia = new Inbox(a);
        const ib = new Inbox(b);
        const frameSize = 48 * 1024;
        const count = Math.ceil((4 * LINK_HIGH_WATER_BYTES) / frameSize);
        for (let i = 0; i < count; i++) {
          if (!a.send(numberedFrame(i, frameSize))) {
            const drains = ia.drains;
            await ia.until(() => ia.drains > drains, `drain before frame ${i + 1}`);
          }
        }
        await ib.frameCount(count, `all ${count} frames`);
        assert.equal(ib.frames.length, count);
        ib.frames.forEach((f, i) => assert.equal(indexOf(f), i, `frame ${i} in order`));
        assert.deepEqual(ib.frames[count - 1], numberedFrame(count - 1, frameSize));
      }));
  });
}
