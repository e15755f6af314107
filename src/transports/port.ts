/**
 * A Link over a MessagePort: how a SharedWorker reaches the bytes of a DataChannel that lives
 * in a tab (browsers give workers no RTCPeerConnection, and a DataChannel cannot be moved into
 * a SharedWorker). Both ends of the MessageChannel run this class; the worker end is the
 * node's link, the tab end is a pipe the tab joins to the DataChannel.
 *
 * Flow control: the receiver acknowledges the bytes it has consumed, and `bufferedAmount` is
 * what was sent and not yet acknowledged. An end that only consumes once the bytes have left
 * (the tab, once the DataChannel's `bufferedAmount` is low) turns `autoAck` off and calls
 * `ack` itself, so a slow DataChannel pushes back all the way to the node.
 *
 * Acks cost a wake-up of the far side each, so a quiet link does without most of them: a small
 * frame sent while nothing is outstanding goes without `p` (prompt), and the receiver holds its
 * ack until it sends a frame of its own the other way (a pong carries the ack of its ping) or
 * acks a prompt frame. Any other frame asks for a prompt ack, so a sender with more than one
 * small frame outstanding, and every flow-controlled burst, is acknowledged as before. At most
 * one small frame per direction waits for its ack.
 *
 * Messages on the port: `{ f: ArrayBuffer, p?: 1, a?: n }` a frame (`p`: ack it promptly; `a`:
 * an ack riding along), `{ a: n }` n bytes consumed, `{ o: 1, r?: address }` the far side's channel is open
 * (and the network address of its peer, when the tab learned it), `{ x: reason }` closed for good.
 * Uses no DOM or Node types: any MessagePort-shaped object will do.
 */
import { MeshError } from '../core/errors.js';
import { LINK_HIGH_WATER_BYTES, LinkBase, type TransportKind } from '../core/link.js';
import { MAX_FRAME_BYTES } from '../core/limits.js';

export interface PortLike {
  postMessage(message: unknown, transfer?: unknown[]): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  start?(): void;
  close(): void;
}

export interface PortLinkOptions {
  /** What the link reports as its transport: 'webrtc' for a brokered DataChannel. Default 'port'. */
  transport?: TransportKind;
  remoteAddress?: string;
  /**
   * Take the peer's network address from the far side's open message (the worker end of a
   * brokered link: the hosting tab reads it from the selected ICE candidate pair). Default false.
   */
  learnAddress?: boolean;
  /** Acknowledge frames as soon as they are delivered. Default true. */
  autoAck?: boolean;
  /** Called once when the link closes, whoever closed it (for owners other than the node). */
  onClosed?: (reason: string) => void;
  /** Called when the far side announces its close, before the link's user hears of it. */
  onFarClose?: (reason: string) => void;
  /**
   * The sender gives up every frame it passes to `send` (a node's session encodes each frame
   * afresh; a DataChannel hands over each message's buffer): a frame that fills its buffer is
   * transferred without a copy, and the caller's view is detached. Default false: copied.
   */
  framesGivenUp?: boolean;
}

type PortMessage = { f: ArrayBuffer; p?: 1; a?: number } | { a: number } | { o: 1; r?: string } | { x: string };

/** Frames up to this size, sent with nothing outstanding, may wait for a ride for their ack. */
const LAZY_ACK_BYTES = 2048;

export class PortLink extends LinkBase {
  readonly transport: TransportKind;
  /** Set once at open when `learnAddress`: the node checks it when the peer's hello arrives, after that. */
  override remoteAddress?: string;
  /** Resolves when the far side reports its channel open; rejects if the link closes first. */
  readonly opened: Promise<void>;
  private unacked = 0;
  private blocked = false;
  private drainWhenEmpty = false;
  private ackOwed = 0;
  private ackQueued = false;
  /** A frame asked for a prompt ack: the next ack goes out at once instead of waiting for a ride. */
  private promptOwed = false;
  private openResolve!: () => void;
  private openReject!: (e: Error) => void;
  private isOpen = false;

  constructor(
    private readonly port: PortLike,
    private readonly options: PortLinkOptions = {},
  ) {
    super();
    this.transport = options.transport ?? 'port';
    this.remoteAddress = options.remoteAddress;
    this.opened = new Promise((resolve, reject) => {
      this.openResolve = resolve;
      this.openReject = reject;
    });
    this.opened.catch(() => undefined);
    port.addEventListener('message', (e) => this.onMessage(e.data));
    port.start?.();
  }

  get bufferedAmount(): number {
    return this.unacked;
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) throw MeshError.linkClosed('port link is closed');
    if (frame.length > MAX_FRAME_BYTES) throw MeshError.payloadTooLarge(frame.length, MAX_FRAME_BYTES);
    const length = frame.length;
    // Transferred, never cloned: the frame's own buffer when the caller gave it up and it holds
    // nothing else, else a copy we own (the caller keeps its view intact).
    const whole = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer;
    const buffer = this.options.framesGivenUp && whole ? (frame.buffer as ArrayBuffer) : (frame.slice().buffer as ArrayBuffer);
    const m: { f: ArrayBuffer; p?: 1; a?: number } = { f: buffer };
    if (this.unacked > 0 || length > LAZY_ACK_BYTES) m.p = 1;
    if (this.ackOwed > 0) {
      m.a = this.ackOwed; // the ack we owe rides along
      this.ackOwed = 0;
    }
    this.post(m, [buffer]);
    this.unacked += length;
    if (this.unacked <= LINK_HIGH_WATER_BYTES) return true;
    this.blocked = true;
    return false;
  }

  /** Tells the far side that `bytes` more of its frames have been consumed (with `autoAck: false`). */
  ack(bytes: number): void {
    if (bytes <= 0 || this.closed) return;
    this.ackOwed += bytes;
    if (this.ackQueued || !this.promptOwed) return;
    this.ackQueued = true;
    // One ack per burst of frames, not one per frame.
    queueMicrotask(() => {
      this.ackQueued = false;
      this.promptOwed = false;
      const n = this.ackOwed;
      this.ackOwed = 0;
      if (n > 0 && !this.closed) this.post({ a: n });
    });
  }

  /** Tells the far side that the channel behind this end is open (tab side of a brokered link), and the peer's address if known. */
  markOpen(remoteAddress?: string): void {
    if (!this.closed) this.post(remoteAddress === undefined ? { o: 1 } : { o: 1, r: remoteAddress });
  }

  close(reason = 'closed by local side'): void {
    if (this.closed) return;
    this.post({ x: reason });
    this.finish(reason);
  }

  private onMessage(data: unknown): void {
    if (this.closed || typeof data !== 'object' || data === null) return;
    const m = data as Partial<Record<'f' | 'p' | 'a' | 'o' | 'r' | 'x', unknown>>;
    if (m.f instanceof ArrayBuffer) {
      const bytes = new Uint8Array(m.f);
      if (typeof m.a === 'number') this.acked(m.a);
      if (m.p === 1) this.promptOwed = true;
      if (this.options.autoAck !== false) this.ack(bytes.length);
      if (!this.closed) this.receive(bytes);
    } else if (typeof m.a === 'number') {
      this.acked(m.a);
    } else if (m.o === 1) {
      if (this.options.learnAddress && typeof m.r === 'string' && m.r.length <= 64) this.remoteAddress = m.r;
      this.isOpen = true;
      this.openResolve();
    } else if (typeof m.x === 'string') {
      this.options.onFarClose?.(m.x);
      this.finish(m.x);
    }
  }

  /** The far side consumed `n` more bytes of ours. */
  private acked(n: number): void {
    this.unacked = Math.max(0, this.unacked - n);
    if (this.blocked && this.unacked <= LINK_HIGH_WATER_BYTES / 2) {
      this.blocked = false;
      this.drainWhenEmpty = this.unacked > 0;
      this.drained();
    } else if (this.drainWhenEmpty && this.unacked === 0) {
      // Once more when everything is through, for a sender that waits for an empty buffer.
      this.drainWhenEmpty = false;
      this.drained();
    }
  }

  private post(m: PortMessage, transfer?: ArrayBuffer[]): void {
    try {
      this.port.postMessage(m, transfer);
    } catch (err) {
      this.finish(`port failed: ${(err as Error).message}`);
    }
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closedWith(reason);
    if (!this.isOpen) this.openReject(MeshError.linkClosed(reason));
    try {
      this.port.close();
    } catch {
      // Closing an already dead port is fine.
    }
    this.options.onClosed?.(reason);
  }
}
