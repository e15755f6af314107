/**
 * Streams for tabs, tab side: the ReadableStream and WritableStream an app holds are proxies of
 * a stream that lives in the node host (see host-streams.ts for the credit both ways). What the
 * app writes is copied and its buffer transferred to the host; what arrives is taken from a
 * local queue that never holds more than the credit this tab granted.
 */
import { MeshError, type MeshErrorCode } from '../core/errors.js';
import { type HostEvent, TAB_CREDIT_BYTES, type TabRequest } from './protocol.js';

/** A stream to or from another node: ordered, reliable, flow-controlled end to end (docs/STREAMS.md). */
export interface MeshStream {
  /** The other end's node id. */
  readonly remote: string;
  /** This app's port (0..65535). */
  readonly port: number;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Closes the writable (when no writer holds it): half-close; resolves once the other end acknowledged everything. */
  close(): Promise<void>;
  /** Ends both directions now; the other end sees MeshError ABORTED with `reason`. */
  abort(reason?: string): void;
}

type Call = (req: TabRequest, transfer?: Transferable[]) => Promise<unknown>;
type StreamEvent = Extract<HostEvent, { sh: string }>;

class TabStream implements MeshStream {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private granted = 0;
  private received = 0;
  private ended = false;
  private writeClosed = false;
  private error?: MeshError;
  private wake?: () => void;
  private unanswered = 0;
  private writes = new Set<Promise<unknown>>();
  private readController?: ReadableStreamDefaultController<Uint8Array>;
  private writeController?: WritableStreamDefaultController;

  constructor(
    readonly sh: string,
    readonly remote: string,
    readonly port: number,
    private readonly call: Call,
    private readonly gone: () => void,
  ) {
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => void (this.readController = c),
        pull: (c) => this.pull(c),
        cancel: (reason) => this.abort(text(reason, 'the reader cancelled')),
      },
      { highWaterMark: 0 },
    );
    this.writable = new WritableStream<Uint8Array>({
      start: (c) => void (this.writeController = c),
      write: (chunk) => this.write(chunk),
      close: () => this.finish(),
      abort: (reason) => this.abort(text(reason, 'the writer aborted')),
    });
  }

  close(): Promise<void> {
    if (this.writable.locked) return Promise.reject(MeshError.invalid('the writable is locked by a writer: close that writer instead'));
    return this.writable.close();
  }

  abort(reason = 'aborted'): void {
    if (this.error) return;
    void this.call({ op: 'stream-abort', sh: this.sh, reason: String(reason) }).catch(() => undefined);
    this.fail(new MeshError('ABORTED', `stream aborted here: ${reason}`));
  }

  onEvent(m: StreamEvent): void {
    switch (m.ev) {
      case 'stream-data':
        this.received += m.data.length;
        this.queue.push(m.data);
        this.queued += m.data.length;
        break;
      case 'stream-end':
        this.ended = true;
        if (this.writeClosed) this.gone();
        break;
      case 'stream-error':
        this.fail(new MeshError(m.code as MeshErrorCode, m.message));
        break;
    }
    this.wakeUp();
  }

  fail(err: MeshError): void {
    if (this.error) return;
    this.error = err;
    try {
      if (!this.ended || this.queue.length > 0) this.readController?.error(err);
    } catch {
      // Already closed.
    }
    try {
      this.writeController?.error(err);
    } catch {
      // Already closed.
    }
    this.wakeUp();
    this.gone();
  }

  private async pull(c: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      if (this.error) return;
      const chunk = this.queue.shift();
      if (chunk) {
        this.queued -= chunk.length;
        c.enqueue(chunk);
        this.grant();
        return;
      }
      if (this.ended) {
        c.close();
        return;
      }
      this.grant();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Grants the host credit up to TAB_CREDIT_BYTES, counting what is queued here and what is on its way. */
  private grant(): void {
    if (this.ended || this.error) return;
    const ahead = this.granted - this.received + this.queued;
    if (ahead > TAB_CREDIT_BYTES / 2) return;
    const bytes = TAB_CREDIT_BYTES - ahead;
    this.granted += bytes;
    void this.call({ op: 'stream-read', sh: this.sh, bytes }).catch(() => undefined);
  }

  private async write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) throw MeshError.invalid('a stream carries Uint8Array chunks');
    if (this.error) throw this.error;
    if (chunk.length === 0) return;
    // A copy of its own: its buffer is transferred, and the app may reuse the chunk it wrote.
    const copy = chunk.slice();
    const length = copy.length; // read before the transfer empties the copy
    this.unanswered += length;
    const sent = this.call({ op: 'stream-write', sh: this.sh, data: copy }, [copy.buffer]);
    this.writes.add(sent);
    sent.then(
      () => {
        this.unanswered -= length;
        this.writes.delete(sent);
        this.wakeUp();
      },
      (err: unknown) => this.fail(err instanceof MeshError ? err : new MeshError('ABORTED', String(err))),
    );
    while (this.unanswered > TAB_CREDIT_BYTES && !this.error) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.error) throw this.error;
  }

  private async finish(): Promise<void> {
    await Promise.all(this.writes);
    if (this.error) throw this.error;
    await this.call({ op: 'stream-close', sh: this.sh });
    this.writeClosed = true;
    if (this.ended) this.gone();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export class TabStreams {
  private readonly streams = new Map<string, TabStream>();
  private readonly handlers = new Map<number, (s: MeshStream) => void>();
  /** Stream handlers registered or removed and not yet in effect at the node (the first loads the streams part there). */
  private readonly registering = new Set<Promise<unknown>>();
  private next = 1;

  constructor(private readonly call: Call) {}

  open(to: string, port: number, timeoutMs?: number): MeshStream {
    const sh = `t${this.next++}`;
    const s = this.adopt(sh, to, port);
    this.call({ op: 'stream-open', sh, to, port, timeoutMs }).catch((err: unknown) => s.fail(err instanceof MeshError ? err : new MeshError('ABORTED', String(err))));
    return s;
  }

  handle(port: number, fn: (s: MeshStream) => void): () => void {
    if (this.handlers.has(port)) throw MeshError.invalid(`port ${port} already has a stream handler in this tab`);
    this.handlers.set(port, fn);
    this.register(this.call({ op: 'stream-handle', port }).catch((err: unknown) => console.warn('meshwork: stream-handle failed:', err)));
    return () => {
      if (this.handlers.get(port) !== fn) return;
      this.handlers.delete(port);
      this.register(this.call({ op: 'stream-unhandle', port }).catch(() => undefined));
    };
  }

  /** Settles once every stream handler registered or removed so far is in effect at the node. */
  async registered(): Promise<void> {
    await Promise.all(this.registering);
  }

  private register(done: Promise<unknown>): void {
    this.registering.add(done);
    void done.finally(() => this.registering.delete(done));
  }

  /** This tab's handler for `port` (a stream the data plane accepts in the tab: stream-tap.ts). */
  handler(port: number): ((s: MeshStream) => void) | undefined {
    return this.handlers.get(port);
  }

  /** The ports with a handler, to register again with a new host. */
  ports(): number[] {
    return [...this.handlers.keys()];
  }

  onEvent(m: StreamEvent): void {
    if (m.ev === 'stream-incoming') {
      const fn = this.handlers.get(m.port);
      const s = this.adopt(m.sh, m.from, m.port);
      if (!fn) return s.abort(`no stream handler on port ${m.port} in this tab`);
      try {
        fn(s);
      } catch (err) {
        console.error('meshwork: a stream handler threw', err);
      }
      return;
    }
    this.streams.get(m.sh)?.onEvent(m);
  }

  /** The host is gone or changed: every stream fails. */
  failAll(err: MeshError): void {
    for (const s of [...this.streams.values()]) s.fail(err);
  }

  private adopt(sh: string, remote: string, port: number): TabStream {
    const s = new TabStream(sh, remote, port, this.call, () => {
      if (this.streams.get(sh) === s) this.streams.delete(sh);
    });
    this.streams.set(sh, s);
    return s;
  }
}

function text(reason: unknown, fallback: string): string {
  if (reason instanceof Error) return reason.message;
  if (typeof reason === 'string' && reason.length > 0) return reason;
  return fallback;
}
