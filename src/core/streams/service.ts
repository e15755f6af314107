/**
 * Streams as a node service: opens streams to (node id, port), accepts them on ports with a
 * handler, and hands each incoming segment to its stream. It needs of its node only a way to
 * send a sealed Stream packet to a node id (StreamHost.send), so it does not care how packets
 * reach a link, nor which path they take: reliability, order and flow control are end to end.
 */
import type { Clock, Random, TimerHandle } from '../clock.js';
import { appId, appKey, checkApp } from '../app-namespace.js';
import { BoundedMap } from '../dedupe.js';
import { isMeshError, MeshError } from '../errors.js';
import { idFromText } from '../id.js';
import { checkPort, safeCall } from '../node-checks.js';
import { decodeSegment, encodeSegment, isSequenced, type Segment, SegmentType } from './segments.js';
import { INITIAL_LIMIT } from './send-window.js';
import { CoreStream } from './stream.js';

/** Segments a receiver holds per stream (60 KiB at most each: 1.9 MiB). */
export const RECEIVE_WINDOW = 32;
/** Segments a sender holds per stream, unsent and unacknowledged (3.75 MiB at most). */
export const SEND_BUFFER = 64;
/** A stream with something unacknowledged and nothing heard for this long fails with TIMEOUT. */
export const DEFAULT_STREAM_TIMEOUT_MS = 30_000;
export const MAX_STREAM_TIMEOUT_MS = 600_000;
/** Streams open at once on one node, both ways; an Open beyond it is refused with BUSY. */
export const MAX_STREAMS = 1024;
/** How long a finished stream still answers copies of its last segments (an ack of ours may be lost). */
const LINGER_MS = 5_000;
/** Recently ended streams, whose late segments are dropped rather than answered with a Reset. */
const ENDED_MEMORY = 4096;

/**
 * Stream ids: a node picks its own below TAB_SID_BASE, and a browser tab that runs streams itself
 * (src/browser/tab-stream-plane.ts) picks at or above it, so the node's and its tabs' streams to
 * one peer never share an id (the far end keys a stream by our node id, the opener's id and the
 * direction). The receiver takes any 48-bit id, as before: the wire does not change.
 */
export const TAB_SID_BASE = 2 ** 47;
/**
 * Within the tabs' range, each tab draws its ids in a range of its packet-id lane's (1-7), this
 * wide: lane n from TAB_SID_BASE + n x TAB_SID_SPAN, so the tabs of one node that stream to the
 * same peer (a host tab, and those whose streams go through it) never share an id either.
 */
export const TAB_SID_SPAN = 2 ** 44;

export interface StreamHost {
  clock: Clock;
  random: Random;
  /** Where this service's stream ids start: 0 (a node, the default) or in the tabs' range (a tab). */
  sidBase?: number;
  /** How wide that range is: TAB_SID_BASE (2^47, the default) for a node, TAB_SID_SPAN for a tab. */
  sidSpan?: number;
  /** Seals and routes one Stream packet to `to`; resolves once it left this node. */
  send(to: string, payload: Uint8Array): Promise<void>;
  /**
   * Where a segment may be encoded when `send` copies the payload before it returns (a tab's
   * data plane: tab-stream-plane.ts), so a 60 KiB segment needs no buffer of its own; a node
   * sealing later has none.
   */
  scratch?(): Uint8Array;
  drop(reason: string): void;
}

export type StreamHandler = (stream: CoreStream) => void;

export interface StreamStatus {
  open: number;
  retransmits: number;
}

export class StreamService {
  private readonly streams = new Map<string, CoreStream>();
  /** Handlers by app and port (`handlerKey`): an app sees only streams opened to its own ports. */
  private readonly handlers = new Map<string, { app: string; fn: StreamHandler }>();
  private readonly endedKeys = new BoundedMap<string, true>(ENDED_MEMORY);
  private readonly lingering = new Set<TimerHandle>();
  private retransmitsOfEnded = 0;
  private stopped?: MeshError;

  constructor(private readonly host: StreamHost) {}

  /** Opens a stream to `to` on `port` of `app`; data may be written at once (it waits for the other end's window). */
  open(to: string, port: number, options: { timeoutMs?: number; app?: string } = {}): CoreStream {
    const app = checkApp(options.app);
    if (this.stopped) throw this.stopped;
    idFromText(to);
    checkPort(port);
    const timeoutMs = options.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS;
    if (!(timeoutMs > 0 && timeoutMs <= MAX_STREAM_TIMEOUT_MS)) throw MeshError.invalid(`timeoutMs must be from 1 to ${MAX_STREAM_TIMEOUT_MS}`);
    if (this.streams.size >= MAX_STREAMS) throw new MeshError('BUSY', `${MAX_STREAMS} streams are open already`);
    let sid: number;
    do sid = (this.host.sidBase ?? 0) + Math.floor(this.host.random.float() * (this.host.sidSpan ?? TAB_SID_BASE));
    while (this.streams.has(key(to, sid, true)));
    const stream = this.create(to, port, app, sid, true, timeoutMs);
    stream.begin();
    return stream;
  }

  /** Calls `fn` with every stream opened to `port` of `app` ('' the default app). Returns a function that stops accepting. */
  handle(port: number, fn: StreamHandler, app = ''): () => void {
    checkPort(port);
    checkApp(app);
    const k = handlerKey(appId(app), port);
    if (this.handlers.has(k)) throw MeshError.invalid(`port ${port}${app ? ` of app "${app}"` : ''} already has a stream handler`);
    const entry = { app, fn };
    this.handlers.set(k, entry);
    return () => {
      if (this.handlers.get(k) === entry) this.handlers.delete(k);
    };
  }

  /** A Stream packet's opened payload from `from`. */
  onPacket(from: string, payload: Uint8Array): void {
    const seg = decodeSegment(payload);
    if (typeof seg === 'string') return this.host.drop(seg);
    this.onSegment(from, seg);
  }

  /**
   * Whether the stream this segment from `from` belongs to is this service's: running, or ended
   * a short while ago (its late segments are this service's to drop). A tab asks before it claims
   * a segment from its node's way (tab-stream-plane.ts).
   */
  owns(from: string, seg: Pick<Segment, 'sid' | 'fromOpener'>): boolean {
    const k = key(from, seg.sid, !seg.fromOpener);
    return this.streams.has(k) || this.endedKeys.get(k) === true;
  }

  /** Aborts every running stream with `remote` (both ends hear ABORTED with `reason`). Returns how many. */
  abortWith(remote: string, reason: string): number {
    const live = [...this.streams.values()].filter((s) => s.remote === remote && !s.over);
    for (const s of live) s.abort(reason);
    return live.length;
  }

  /** A decoded segment from `from` (onPacket, or a caller that decoded it to decide where it goes). */
  onSegment(from: string, seg: Segment): void {
    const k = key(from, seg.sid, !seg.fromOpener);
    const stream = this.streams.get(k);
    if (stream) {
      const refused = stream.onSegment(seg);
      if (refused) this.host.drop(refused);
      return;
    }
    if (this.endedKeys.get(k)) return this.host.drop('stream:ended');
    if (seg.type === SegmentType.Open) return this.accept(from, seg.sid, seg.port, seg.app, seg);
    if (seg.type === SegmentType.Reset) return this.host.drop('stream:unknown');
    // Segments that overtook their stream's Open (lost, or on its way): the opener sends it
    // again. Anything further than the opener may send unacknowledged means we forgot the stream.
    if (seg.fromOpener && isSequenced(seg) && seg.seq < INITIAL_LIMIT) return this.host.drop('stream:before-open');
    this.reset(from, seg, 'ABORTED', 'no such stream');
    this.host.drop('stream:unknown');
  }

  /**
   * Tells the other end of every stream still running that this node is stopping, so its app
   * hears ABORTED now rather than TIMEOUT after the stream's timeout. Resolves once each Reset
   * left this node (or could not); call before the links close.
   */
  async resetAll(reason: string): Promise<void> {
    const live = [...this.streams.values()].filter((s) => !s.over);
    await Promise.all(
      live.map((s) =>
        this.host.send(s.remote, encodeSegment({ sid: s.sid, fromOpener: s.opener, type: SegmentType.Reset, code: 'ABORTED', reason })).catch(() => this.host.drop('stream:reset-unsent')),
      ),
    );
  }

  /** Ends every stream with `err` (the node stops). */
  stopAll(err: MeshError): void {
    this.stopped = err;
    for (const t of this.lingering) t.cancel();
    for (const s of [...this.streams.values()]) s.teardown(err);
    this.streams.clear();
  }

  status(): StreamStatus {
    let retransmits = this.retransmitsOfEnded;
    for (const s of this.streams.values()) retransmits += s.send.retransmits;
    return { open: this.streams.size, retransmits };
  }

  private accept(from: string, sid: number, port: number, app: Uint8Array, open: Segment): void {
    // Exact match on the 128-bit app id: no other app's handler ever sees this stream.
    const handler = this.handlers.get(handlerKey(app, port));
    if (!handler) {
      this.reset(from, open, 'REFUSED', `no stream handler on port ${port}`);
      return this.host.drop('stream:no-handler');
    }
    if (this.streams.size >= MAX_STREAMS || this.stopped) {
      this.reset(from, open, 'REFUSED', `the node is busy (${MAX_STREAMS} streams open)`);
      return this.host.drop('stream:busy');
    }
    const stream = this.create(from, port, handler.app, sid, false, DEFAULT_STREAM_TIMEOUT_MS);
    stream.onSegment(open);
    safeCall(() => handler.fn(stream));
  }

  private create(remote: string, port: number, app: string, sid: number, opener: boolean, timeoutMs: number): CoreStream {
    const k = key(remote, sid, opener);
    const stream: CoreStream = new CoreStream(remote, port, app, sid, opener, {
      clock: this.host.clock,
      receiveWindow: RECEIVE_WINDOW,
      sendBuffer: SEND_BUFFER,
      timeoutMs,
      transmit: (seg) => this.transmit(stream, seg),
      ended: () => this.ended(k, stream),
    });
    this.streams.set(k, stream);
    return stream;
  }

  private transmit(stream: CoreStream, seg: Segment): void {
    this.host.send(stream.remote, encodeSegment(seg, this.host.scratch?.())).catch((err: unknown) => {
      // A lost packet is the windows' business (they send it again); these never get better.
      if (isMeshError(err, 'ENCRYPTION_UNAVAILABLE') || isMeshError(err, 'STOPPED')) stream.teardown(err as MeshError);
      else this.host.drop(`stream:send-${isMeshError(err) ? err.code : 'error'}`);
    });
  }

  /** A finished stream lingers a while to acknowledge copies of the other end's last segments; an aborted one goes at once. */
  private ended(k: string, stream: CoreStream): void {
    const forget = () => {
      if (this.streams.get(k) !== stream) return;
      this.streams.delete(k);
      this.endedKeys.set(k, true);
      this.retransmitsOfEnded += stream.send.retransmits;
    };
    if (stream.aborted) return forget();
    const timer = this.host.clock.setTimeout(() => {
      this.lingering.delete(timer);
      forget();
    }, LINGER_MS);
    this.lingering.add(timer);
  }

  private reset(to: string, about: Segment, code: string, reason: string): void {
    this.host.send(to, encodeSegment({ sid: about.sid, fromOpener: !about.fromOpener, type: SegmentType.Reset, code, reason })).catch(() => this.host.drop('stream:reset-unsent'));
  }
}

/** A stream's key: the other end, the opener's stream id, and which end opened it. */
function key(remote: string, sid: number, weOpened: boolean): string {
  return `${remote}/${sid}/${weOpened ? 'o' : 'a'}`;
}

function handlerKey(app: Uint8Array, port: number): string {
  return `${appKey(app)}/${port}`;
}
