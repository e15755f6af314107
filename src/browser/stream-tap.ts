/**
 * The data plane's side of tab streams (docs/DATA-PLANE.md, "Streams"): which streams run in this
 * tab, and which Stream packets from a link's peer are the tab's to take. The streams themselves
 * run in tab-stream-plane.ts, a file of its own loaded on the app's first use of streams (a
 * dynamic import), so a page that never streams never loads the core's stream code.
 */
import { DEFAULT_HOP_LIMIT } from '../core/limits.js';
import { PacketKind } from '../core/packets.js';
import { type PacketHead, writePlainPacket } from '../core/sealed-frame.js';
import type { Segment } from '../core/streams/segments.js';
import { bytesEqual } from '../core/bytes.js';
import { deferredStream } from './deferred-stream.js';
import { fromPeer, type Grant } from './tab-grant.js';
import type { TabStreamPlane, TabStreamPlaneHost, TabStreamStats } from './tab-stream-plane.js';
import type { MeshStream } from './tab-streams.js';

const NONE: TabStreamStats = { streamsOpened: 0, streamsAccepted: 0, streamSegmentsOut: 0, streamSegmentsIn: 0, streamsAbortedByLink: 0 };

/** A grant the tab may run streams on: its channel bound to the peer, and hosted by this tab. */
export const streamable = (g: Grant | undefined): g is Grant => g !== undefined && g.bound && g.via === undefined;

export class StreamTap {
  private plane?: TabStreamPlane<Grant>;
  private loading?: Promise<TabStreamPlane<Grant>>;
  /** While a link's entry goes (linkGone): its streams' Resets are written on the channel directly. */
  private leaving?: { key: string; last: (frame: Uint8Array) => boolean };
  private readonly host: TabStreamPlaneHost<Grant>;

  /** `host.write`: through the data plane's queue (the same sendOwn path and high-water mark as its other packets). */
  constructor(host: TabStreamPlaneHost<Grant>) {
    this.host = { ...host, write: (g, payload) => (this.leaving?.key === g.key ? Promise.resolve(this.writeLast(g, payload)) : host.write(g, payload)) };
  }

  /** Loads the stream code (once); the app uses streams. */
  load(): Promise<TabStreamPlane<Grant>> {
    this.loading ??= import('./tab-stream-plane.js').then(({ TabStreamPlane }) => (this.plane = new TabStreamPlane(this.host)));
    return this.loading;
  }

  /** A stream to the peer of `g` (streamable), run in this tab; while the code loads, a stand-in that joins it once made. */
  open(g: Grant, port: number, timeoutMs?: number): MeshStream {
    if (this.plane) return this.plane.open(g, port, timeoutMs);
    return deferredStream(g.peer, port, this.load().then((plane) => plane.open(g, port, timeoutMs)));
  }

  /**
   * The segment of a clear Stream packet `p` on link `key` when it is this tab's: from the link's
   * own peer, to us, on a link the tab runs streams on or holds a bound grant for (`grant`, the
   * one in force), and for one of the tab's streams or an Open it accepts (tab-stream-plane.ts).
   */
  claim(key: string, grant: Grant | undefined, p: PacketHead & { payload: Uint8Array }): { g: Grant; seg: Segment } | undefined {
    const plane = this.plane;
    if (!plane) return undefined;
    const g = plane.linkOn(key) ?? (streamable(grant) ? grant : undefined);
    if (!g || !fromPeer(g, p)) return undefined;
    const accepting = (app: Uint8Array) => streamable(grant) && grant.inbound && bytesEqual(app, grant.app);
    const seg = plane.claim(g, p.payload, accepting);
    return seg && { g, seg };
  }

  take(g: Grant, seg: Segment): void {
    this.plane?.take(g, seg);
  }

  /** Whether the tab runs streams on link `key`. */
  on(key: string): boolean {
    return this.plane?.linkOn(key) !== undefined;
  }

  /** The link left the tab: its streams end ABORTED at both ends; `last`, while the link's entry goes, writes their Resets. */
  linkGone(key: string, reason: string, last?: (frame: Uint8Array) => boolean): void {
    this.leaving = last && { key, last };
    try {
      this.plane?.linkGone(key, reason);
    } finally {
      this.leaving = undefined;
    }
  }

  private writeLast(g: Grant, payload: Uint8Array): boolean {
    const head = { src: g.selfId, dst: g.peerId, hops: DEFAULT_HOP_LIMIT, id: g.seq.next(), kind: PacketKind.Stream };
    return this.leaving!.last(writePlainPacket({ ...head, payload }));
  }

  get stats(): TabStreamStats {
    return this.plane ? { ...this.plane.stats } : NONE;
  }
}
