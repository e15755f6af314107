/**
 * Buffers for the frames the data plane writes and keeps until the DataChannel takes them
 * (fast-path.ts): while the channel is over its high-water mark, every datagram of a burst waits
 * as a frame of its own, and allocating and filling a fresh 16 KiB buffer for each was, in the
 * sending tab's CPU profile, its largest cost (docs/DATA-PLANE.md, "Per-message work"). Once
 * `send()` has copied a frame, its buffer serves the next one of the same size class.
 */

import { MAX_FRAME_BYTES } from '../core/limits.js';
import type { FrameBytes } from '../core/sealed-frame.js';

/** Free frame buffers kept: a burst of datagrams over the channel's high-water mark (rtc-host.ts, 1 MiB) and then some. */
const POOL_BYTES = 2 * 1024 * 1024;

/** Size classes: whole pages, so a 16 KiB datagram's frame (16 KiB and a head) takes a 20 KiB buffer. */
const PAGE = 4096;

export class FramePool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private bytes = 0;

  /** `maxBytes`: at most this much is kept free (a burst's worth); beyond it a buffer is left to the collector. */
  constructor(private readonly maxBytes: number) {}

  /** `length` bytes for a frame (not zeroed: the frame writer sets every byte), in a free buffer of its class or a new one. */
  take(length: number): Uint8Array {
    const size = Math.ceil(length / PAGE) * PAGE;
    const b = this.free.get(size)?.pop();
    if (b) this.bytes -= size;
    return new Uint8Array(b ?? new ArrayBuffer(size), 0, length);
  }

  /** A frame from `take` whose bytes were copied away (written on the channel) and that nothing else holds. */
  give(frame: Uint8Array): void {
    const b = frame.buffer;
    // Moved to another tab meanwhile (detached: length 0), or not one of ours.
    if (!(b instanceof ArrayBuffer) || b.byteLength === 0 || b.byteLength % PAGE !== 0) return;
    if (this.bytes + b.byteLength > this.maxBytes) return;
    let list = this.free.get(b.byteLength);
    if (!list) this.free.set(b.byteLength, (list = []));
    list.push(b);
    this.bytes += b.byteLength;
  }
}

/**
 * The data plane's buffers: two scratch buffers, where a payload is encoded and a frame written
 * that go on the channel in the same call (`send()` copies its bytes; made on first use), and
 * the pool for frames that wait.
 */
export class FrameBuffers {
  private scratch?: { payload: Uint8Array; frame: Uint8Array };
  private readonly pool = new FramePool(POOL_BYTES);

  /** Where a payload is encoded for a packet that is written, or copied, before the call returns. */
  get payload(): Uint8Array {
    return this.made().payload;
  }

  /** A frame that goes on the channel before the call returns: in the scratch buffer. */
  readonly now: FrameBytes = (length) => {
    const f = this.made().frame;
    return length <= f.length ? f.subarray(0, length) : new Uint8Array(length);
  };

  /** A frame that waits for the channel: a pooled buffer, to be given back once written (`give`). */
  readonly waiting: FrameBytes = (length) => this.pool.take(length);

  give(frame: Uint8Array): void {
    this.pool.give(frame);
  }

  private made(): { payload: Uint8Array; frame: Uint8Array } {
    return (this.scratch ??= { payload: new Uint8Array(MAX_FRAME_BYTES), frame: new Uint8Array(MAX_FRAME_BYTES) });
  }
}

/** A frame's buffer to move with it when the frame is the whole of it (else it is copied). */
export function movable(frame: Uint8Array): ArrayBuffer[] {
  return frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer ? [frame.buffer] : [];
}
