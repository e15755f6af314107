/**
 * Streams on the tab's data plane (docs/DATA-PLANE.md, "Streams"): while this tab hosts the
 * WebRTC link to peer P and its grant for P is bound, the tab runs its streams with P itself,
 * with the core's own code (core/streams: windows, retransmission, the WHATWG face), and their
 * segments go on P's DataChannel as clear Stream packets and come off it the same way, never
 * crossing to the node's worker. Built as a file of its own (tab-stream-plane.js), loaded by the
 * data plane on the app's first use of streams (stream-tap.ts), so a page that never streams
 * never loads it.
 *
 * A stream is bound to the link it started on: when that link leaves the tab (it closes, is
 * re-homed, the tab parks or closes, or the grant is taken back for good), the tab aborts it,
 * writing a Reset on the channel while it still can, so both ends hear ABORTED rather than wait
 * for TIMEOUT (docs/STREAMS.md). Its state lives only here, so it cannot move to the node.
 */
import { systemClock, systemRandom } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { StreamService, TAB_SID_BASE, TAB_SID_SPAN } from '../core/streams/service.js';
import { decodeSegment, type Segment, SegmentType } from '../core/streams/segments.js';
import type { CoreStream } from '../core/streams/stream.js';
import type { MeshStream } from './tab-streams.js';

/** The link a stream runs on, as the data plane knows it (a grant, tab-grant.ts). */
export interface StreamLink {
  key: string;
  peer: string;
  /** The tab's packet-id lane (1-7): its stream ids are drawn in a range of that lane's, so no two live tabs of the node share one. */
  lane: number;
  /** The link lives in another tab, reached over this relay channel (relay-streams.ts). */
  via?: string;
}

export interface TabStreamPlaneHost<L extends StreamLink> {
  /** This tab's app name ('' the default app): the service files handlers by its wire id. */
  app: string;
  /** Writes one clear Stream packet with `payload` to the link's peer, its bytes copied before it returns; false: the link is gone. */
  write(link: L, payload: Uint8Array): Promise<boolean>;
  /** Where a segment is encoded for `write` (the data plane's payload scratch), so none needs a buffer of its own. */
  scratch?(): Uint8Array;
  /** The app's stream handler for `port` in this tab, if any. */
  handler(port: number): ((s: MeshStream) => void) | undefined;
  drop(reason: string): void;
}

export interface TabStreamStats {
  /** Streams this tab opened on its data plane, and took from the peer there. */
  streamsOpened: number;
  streamsAccepted: number;
  /** Stream packets this tab wrote on, and took off, its links' DataChannels. */
  streamSegmentsOut: number;
  streamSegmentsIn: number;
  /** Tab streams ended with ABORTED because their link left the tab. */
  streamsAbortedByLink: number;
}

export class TabStreamPlane<L extends StreamLink> {
  /** The link the tab's streams with each peer run on (one link per peer at a time: the granted one). */
  private readonly links = new Map<string, L>();
  private readonly service: StreamService;
  private readonly registered = new Set<number>();
  readonly stats: TabStreamStats = { streamsOpened: 0, streamsAccepted: 0, streamSegmentsOut: 0, streamSegmentsIn: 0, streamsAbortedByLink: 0 };

  /** Segments this tab's streams sent again (timeouts, fast retransmits), ended streams' included. */
  get retransmits(): number {
    return this.service.status().retransmits;
  }

  /** The lane of the link a stream is being opened on (`open`): its id is drawn in that lane's range. */
  private lane = 0;

  constructor(private readonly host: TabStreamPlaneHost<L>) {
    const plane = this;
    this.service = new StreamService({
      clock: systemClock,
      random: systemRandom,
      // Each tab in a range of its lane's, 2^44 wide (service.ts): the host tab and the tabs whose
      // streams go through it (relay grants) write to the same peer under the same node id.
      get sidBase() {
        return TAB_SID_BASE + plane.lane * TAB_SID_SPAN;
      },
      sidSpan: TAB_SID_SPAN,
      send: (to, payload) => this.send(to, payload),
      scratch: host.scratch && (() => host.scratch!()),
      drop: (reason) => host.drop(reason),
    });
  }

  open(link: L, port: number, timeoutMs?: number): MeshStream {
    this.links.set(link.peer, link);
    this.lane = link.lane;
    const core = this.service.open(link.peer, port, { timeoutMs, app: this.host.app });
    this.stats.streamsOpened++;
    return core as unknown as MeshStream;
  }

  /**
   * The segment in a clear Stream packet from the peer of `link`, when it is this tab's
   * (docs/DATA-PLANE.md, "Streams"): it belongs to one of the tab's streams on this very link, or
   * it opens a stream to a port this tab's app handles and `accepting` says the grant lets the
   * tab take the peer's traffic to that app. Undefined: the node's, whole (a segment that does
   * not parse too: the node judges and counts it).
   */
  claim(link: L, payload: Uint8Array, accepting: (app: Uint8Array, port: number) => boolean): Segment | undefined {
    // Views into the frame, not copies: a DataChannel message's bytes are this tab's alone, and
    // a segment the tab claims is never handed on (fast-path.ts).
    const seg = decodeSegment(payload, true);
    if (typeof seg === 'string') return undefined;
    if (this.service.owns(link.peer, seg)) return this.links.get(link.peer)?.key === link.key ? seg : undefined;
    // Only a stream the peer's tab opened (its id in the tabs' range): that one ends with the link
    // at the peer's end anyway, while one its node holds survives the link going (STREAMS.md), so
    // the node takes it here too.
    const fromTab = seg.type === SegmentType.Open && seg.sid >= TAB_SID_BASE;
    return fromTab && accepting(seg.app, seg.port) && this.host.handler(seg.port) !== undefined ? seg : undefined;
  }

  /** A claimed segment (replay window passed). */
  take(link: L, seg: Segment): void {
    this.stats.streamSegmentsIn++;
    if (seg.type === SegmentType.Open && !this.service.owns(link.peer, seg)) {
      this.links.set(link.peer, link);
      if (!this.registered.has(seg.port)) {
        this.registered.add(seg.port);
        // The service asks this tab's handler of the moment; claims() checked there is one.
        this.service.handle(seg.port, (core) => this.accepted(core), this.host.app);
      }
    }
    this.service.onSegment(link.peer, seg);
  }

  /** The link `key` as the tab's streams on it know it (their segments are claimed also while no grant is in force). */
  linkOn(key: string): L | undefined {
    for (const l of this.links.values()) if (l.key === key) return l;
    return undefined;
  }

  /** The links the tab's streams run on now. */
  linksNow(): L[] {
    return [...this.links.values()];
  }

  /** The link `key` left this tab: its streams end with ABORTED at both ends (a Reset goes while the channel takes it). */
  linkGone(key: string, reason: string): void {
    for (const [peer, l] of [...this.links]) {
      if (l.key !== key) continue;
      this.stats.streamsAbortedByLink += this.service.abortWith(peer, reason);
      this.links.delete(peer);
    }
  }

  private accepted(core: CoreStream): void {
    const fn = this.host.handler(core.port);
    if (!fn) return core.abort(`no stream handler on port ${core.port} in this tab`);
    this.stats.streamsAccepted++;
    try {
      fn(core as unknown as MeshStream);
    } catch (err) {
      console.error('meshwork: a stream handler threw', err);
    }
  }

  private async send(to: string, payload: Uint8Array): Promise<void> {
    const link = this.links.get(to);
    if (link && (await this.host.write(link, payload))) return void this.stats.streamSegmentsOut++;
    // The link went before its streams heard (one opened while the code loaded, say): they end
    // now, not at their TIMEOUT; after this turn, as this send may come from one of their aborts.
    if (link) queueMicrotask(() => this.linkGone(link.key, 'the link left the tab'));
    throw new MeshError('ABORTED', 'the link left this tab');
  }
}
