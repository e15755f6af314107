/**
 * One stream between two nodes: a SendWindow and a ReceiveWindow behind a WHATWG
 * ReadableStream and WritableStream. Bytes the application reads are taken from the receive
 * window only when it asks (the readable's high-water mark is 0), so an application that stops
 * reading stops the window from opening, and the far writer stops with it.
 */
import type { Clock } from '../clock.js';
import { appId } from '../app-namespace.js';
import { MeshError } from '../errors.js';
import { ReceiveWindow } from './receive-window.js';
import { type AckSegment, MAX_REASON_CHARS, type Segment, SegmentType, type Sequenced } from './segments.js';
import { SendWindow } from './send-window.js';
import { type ReadableController, type ReadableStreamLike, webStreams, type WritableController, type WritableStreamLike } from './web-streams.js';

export interface StreamWiring {
  clock: Clock;
  /** Sends a segment of this stream to the other end. */
  transmit(seg: Segment): void;
  /** The stream ended (both directions done, or aborted): forget it. */
  ended(): void;
  receiveWindow: number;
  sendBuffer: number;
  timeoutMs: number;
}

export class CoreStream {
  readonly readable: ReadableStreamLike<Uint8Array>;
  readonly writable: WritableStreamLike<Uint8Array>;
  readonly send: SendWindow;
  readonly recv: ReceiveWindow;
  private readController?: ReadableController<Uint8Array>;
  private writeController?: WritableController;
  private readWaiter?: () => void;
  private error?: MeshError;
  private readDone = false;
  private isEnded = false;

  constructor(
    /** The other end's node id. */
    readonly remote: string,
    readonly port: number,
    /** The app (namespace) whose port this is: '' for the default app. */
    readonly app: string,
    readonly sid: number,
    /** Whether this end opened the stream. */
    readonly opener: boolean,
    private readonly w: StreamWiring,
  ) {
    const head = { sid, fromOpener: opener };
    this.send = new SendWindow(
      { clock: w.clock, transmit: (seg) => w.transmit({ ...head, ...seg } as Segment), stalled: () => this.stalled() },
      head,
      { maxBuffered: w.sendBuffer, timeoutMs: w.timeoutMs },
    );
    this.recv = new ReceiveWindow(
      {
        clock: w.clock,
        sendAck: (next, limit, sack) => w.transmit({ ...head, type: SegmentType.Ack, next, limit, sack }),
        readable: () => this.wakeReader(),
      },
      w.receiveWindow,
    );
    const { ReadableStream, WritableStream } = webStreams();
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => void (this.readController = c),
        pull: (c) => this.pull(c),
        cancel: (reason) => this.abort(reasonText(reason, 'the reader cancelled')),
      },
      { highWaterMark: 0 },
    );
    this.writable = new WritableStream<Uint8Array>({
      start: (c) => void (this.writeController = c),
      write: (chunk) => this.write(chunk),
      close: () => this.finishWriting(),
      abort: (reason) => this.abort(reasonText(reason, 'the writer aborted')),
    });
  }

  /** Sends the opening segment (the opener only, once the service knows the stream). */
  begin(): void {
    if (this.opener) this.send.open(this.port, appId(this.app));
  }

  /**
   * Ends this side's writing once what was written is sent (half-close: the other direction
   * stays open for reading). Resolves when the other end has acknowledged all of it.
   */
  close(): Promise<void> {
    if (this.writable.locked) return Promise.reject(MeshError.invalid('the writable is locked by a writer: close that writer instead'));
    return this.writable.close();
  }

  /** Ends the stream at once, both directions; the other end gets a MeshError ABORTED with `reason`. */
  abort(reason = 'aborted'): void {
    if (this.error || this.isEnded) return;
    const text = String(reason).slice(0, MAX_REASON_CHARS);
    this.w.transmit({ sid: this.sid, fromOpener: this.opener, type: SegmentType.Reset, code: 'ABORTED', reason: text });
    this.teardown(new MeshError('ABORTED', `stream aborted here: ${text}`));
  }

  /** A segment of this stream from the other end. */
  onSegment(seg: Segment): string | undefined {
    switch (seg.type) {
      case SegmentType.Ack:
        if (seg.next > this.send.assigned || seg.limit > seg.next + 1_000_000) return 'stream:bad-ack';
        this.send.onAck(seg as AckSegment);
        this.checkEnded();
        return undefined;
      case SegmentType.Probe:
        this.recv.onProbe();
        return undefined;
      case SegmentType.Reset: {
        const text = seg.reason.slice(0, MAX_REASON_CHARS);
        this.teardown(seg.code === 'REFUSED' ? new MeshError('REFUSED', text) : new MeshError('ABORTED', `the other end aborted the stream: ${text}`));
        return undefined;
      }
      default: {
        const arrival = this.recv.onSegment(seg as Sequenced);
        if (arrival === 'beyond-window') return 'stream:beyond-window';
        if (arrival === 'duplicate') return 'stream:duplicate';
        return undefined;
      }
    }
  }

  /** Ends the stream with `err` on both sides of the API (the node stopped, or the other end is gone). */
  teardown(err: MeshError): void {
    if (this.error) return;
    this.error = err;
    this.send.fail(err);
    this.recv.stop();
    try {
      if (!this.readDone) this.readController?.error(err);
    } catch {
      // Already closed or errored.
    }
    try {
      this.writeController?.error(err);
    } catch {
      // Already closed or errored.
    }
    this.wakeReader();
    this.end();
  }

  private stalled(): void {
    const seconds = this.w.timeoutMs / 1000;
    this.w.transmit({ sid: this.sid, fromOpener: this.opener, type: SegmentType.Reset, code: 'ABORTED', reason: `no acknowledgement for ${seconds} s` });
    this.teardown(new MeshError('TIMEOUT', `stream to ${this.remote.slice(0, 8)} port ${this.port}: nothing heard for ${seconds} s`));
  }

  /** Whether the stream is over, finished or failed: nothing more is owed to the other end. */
  get over(): boolean {
    return this.error !== undefined || this.isEnded;
  }

  /** Whether the stream ended in an error (aborted, refused, timed out, stopped). */
  get aborted(): boolean {
    return this.error !== undefined;
  }

  private async pull(c: ReadableController<Uint8Array>): Promise<void> {
    for (;;) {
      if (this.error) return;
      const seg = this.recv.take();
      if (seg?.type === SegmentType.Data) return c.enqueue(seg.data);
      if (seg?.type === SegmentType.Fin) {
        this.readDone = true;
        c.close();
        this.checkEnded();
        return;
      }
      await new Promise<void>((resolve) => (this.readWaiter = resolve));
    }
  }

  private wakeReader(): void {
    const wake = this.readWaiter;
    this.readWaiter = undefined;
    wake?.();
  }

  private async write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) throw MeshError.invalid('a stream carries Uint8Array chunks');
    if (chunk.length === 0) return;
    await this.send.write(chunk);
  }

  private async finishWriting(): Promise<void> {
    await this.send.finish();
    this.checkEnded();
  }

  /** Both directions are done: this end read the other's end, and the other acknowledged ours. */
  private checkEnded(): void {
    if (this.readDone && this.send.finishedAndAcked && this.send.idle) this.end();
  }

  private end(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.w.ended();
  }
}

function reasonText(reason: unknown, fallback: string): string {
  if (reason instanceof Error) return reason.message;
  if (typeof reason === 'string' && reason.length > 0) return reason;
  return fallback;
}
