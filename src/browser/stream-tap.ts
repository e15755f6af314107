/**
 * The data plane's side of tab streams (docs/DATA-PLANE.md, "Streams"): which streams run in this
 * tab, and which Stream packets from a link's peer are the tab's to take. The streams themselves
 * run in tab-stream-plane.ts, a file of its own loaded on the app's first use of streams (a
 * dynamic import), so a page that never streams never loads the core's stream code.
 */
import { DEFAULT_HOP_LIMIT } from '../core/limits.js';
import { PacketKind } from '../core/packets.js';
import { type PacketHead, readPlainPacket, writePlainPacket } from '../core/sealed-frame.js';
import { decodeSegment, type Segment, SegmentType } from '../core/streams/segments.js';
import { TAB_SID_BASE } from '../core/streams/service.js';
import { bytesEqual } from '../core/bytes.js';
import { deferredStream } from './deferred-stream.js';
import type { RelayChannel } from './relay-channel.js';
import type { RelayStreams, RouteGrant } from './relay-streams.js';
import type { RelayStreamClient } from './tab-relay.js';
import { fromPeer, type Grant } from './tab-grant.js';
import type { TabStreamPlane, TabStreamPlaneHost, TabStreamStats } from './tab-stream-plane.js';
import type { MeshStream } from './tab-streams.js';

const NONE: TabStreamStats = { streamsOpened: 0, streamsAccepted: 0, streamSegmentsOut: 0, streamSegmentsIn: 0, streamsAbortedByLink: 0 };

/** A grant whose channel is bound to the peer, and hosted by this tab (tab-reliable.ts asks too). */
export const streamable = (g: Grant | undefined): g is Grant => g !== undefined && g.bound && g.via === undefined;

/** A grant the tab may open streams on: streamable, or a bound relay grant, whose host tab's channel carries the segments (relay-streams.ts). */
export const opensStreams = (g: Grant | undefined): g is Grant => g !== undefined && g.bound;

/** What the tab's streams need of its relay channels (tab-relay.ts). */
export interface StreamRelays {
  /** Client role: where the host tab's segments for our streams, and its news of their links, come to (this tap). */
  streamClient?: RelayStreamClient;
  /** Host role: the streams other tabs run on this tab's links. */
  readonly streams: RelayStreams;
  /** Host role, while the app has several tabs: the tab that takes P's streams to `port` (`self`, its channel), or undefined (the node's). */
  streamTo(port: number): 'self' | RelayChannel | undefined;
  /** Whether the node named any tab for P's streams (so that P's other segments are not decoded once more for nothing). */
  readonly handsStreams: boolean;
  /** Host role: link `key` left this tab: those streams end (`last`: see linkGone). */
  streamsGone(key: string, last?: (frame: Uint8Array) => boolean): void;
}

/** A Stream packet this tab claims: the grant it is claimed under, and how it is taken (its frame: moved on, for another tab's stream). */
export interface StreamClaim {
  g: RouteGrant;
  take(frame: Uint8Array): void;
}

export class StreamTap implements RelayStreamClient {
  private plane?: TabStreamPlane<Grant>;
  private loading?: Promise<TabStreamPlane<Grant>>;
  /** While a link's entry goes (linkGone): its streams' Resets are written on the channel directly. */
  private leaving?: { key: string; last: (frame: Uint8Array) => boolean };
  private readonly host: TabStreamPlaneHost<Grant>;
  /** A tab without the link: segments of its streams posted to the host tab (and acked written there), and passed back by it. */
  private readonly via = { viaTabStreamOut: 0, viaTabStreamIn: 0 };

  /** `host.write`: through the data plane's queue (the same sendOwn path and high-water mark as its other packets); `grants`: the grant held for a link. */
  constructor(
    host: TabStreamPlaneHost<Grant>,
    private readonly relays: StreamRelays,
    private readonly grants: (key: string) => Grant | undefined,
  ) {
    const write = (g: Grant, payload: Uint8Array) => host.write(g, payload).then((ok) => (ok && g.via !== undefined && this.via.viaTabStreamOut++, ok));
    this.host = { ...host, write: (g, payload) => (this.leaving?.key === g.key ? Promise.resolve(this.writeLast(g, payload)) : write(g, payload)) };
    relays.streamClient = this;
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
   * A clear Stream packet `p` on link `key` when it is this tab's: from the link's own peer, to
   * us, on a link the tab runs streams on or hosts and holds a bound grant for (`grant`, the one
   * in force), and for one of the tab's streams or an Open it accepts (tab-stream-plane.ts); or,
   * on a link this tab hosts, for a stream another tab runs through it, or P's Open for the tab
   * that takes it (relay-streams.ts).
   */
  claim(key: string, grant: Grant | undefined, p: PacketHead & { payload: Uint8Array }): StreamClaim | undefined {
    const own = this.claimOwn(key, grant, p);
    if (own) return { g: own.g, take: () => this.plane?.take(own.g, own.seg) };
    const routed = this.relays.streams.route(key, p);
    if (routed) return { g: routed.r.grant, take: (frame) => this.relays.streams.pass(routed.r, frame, routed.reset) };
    return this.handOff(key, grant, p);
  }

  /**
   * Host role, while the app has several tabs (the grant without `inbound`): P's Open to a port
   * of the app that another tab takes, the node said (`fast-handlers` `streams`), goes to that
   * tab; only one P's tab opened (its id at or above TAB_SID_BASE): a stream P's node holds
   * (`durable`) survives the link going, so our node holds it too (STREAMS.md).
   */
  private handOff(key: string, grant: Grant | undefined, p: PacketHead & { payload: Uint8Array }): StreamClaim | undefined {
    if (!streamable(grant) || grant.inbound || !this.relays.handsStreams || !fromPeer(grant, p)) return undefined;
    const seg = decodeSegment(p.payload, true);
    if (typeof seg === 'string' || seg.type !== SegmentType.Open || seg.sid < TAB_SID_BASE || !bytesEqual(seg.app, grant.app)) return undefined;
    const to = this.relays.streamTo(seg.port);
    if (to === undefined || to === 'self') return undefined;
    const sid = seg.sid;
    return { g: grant, take: (frame) => this.relays.streams.handOff(key, grant, sid, frame, to) };
  }

  /**
   * A tab without the link: a segment of one of its streams that the host tab took off the link
   * (claimed there, its replay window passed) and passed on whole over channel `via`, or P's
   * Open to a port this tab takes streams on (the host tab's `handOff`), accepted here under our
   * relay grant through that channel. A number: the id of an Open we refuse (no handler for its
   * port here any more: the node's list was a message behind), which the host tab gives the node.
   */
  fromHost(key: string, frame: Uint8Array, via: string): number | undefined {
    const p = readPlainPacket(frame);
    if (p?.kind !== PacketKind.Stream) return void this.host.drop('fast:stray-stream');
    const own = this.claimOwn(key, undefined, p) ?? this.acceptRelayed(key, via, p);
    if (own) {
      this.via.viaTabStreamIn++;
      return void this.plane!.take(own.g, own.seg);
    }
    const seg = decodeSegment(p.payload, true);
    if (typeof seg !== 'string' && seg.type === SegmentType.Open) return seg.sid;
    this.host.drop('fast:stray-stream');
  }

  /** P's Open passed by the host tab over `via`: taken as a host tab takes one, under our relay grant through that channel. */
  private acceptRelayed(key: string, via: string, p: PacketHead & { payload: Uint8Array }): { g: Grant; seg: Segment } | undefined {
    const g = this.grants(key);
    if (!this.plane || !opensStreams(g) || g.via !== via || !fromPeer(g, p)) return undefined;
    const seg = this.plane.claim(g, p.payload, (app) => bytesEqual(app, g.app));
    return seg?.type === SegmentType.Open ? { g, seg } : undefined;
  }

  /** A tab without the link: its streams on link `key`, or on every link through channel `via` (which closed), end ABORTED. */
  relayGone(how: { key: string } | { via: string }): void {
    const plane = this.plane;
    if (!plane) return;
    for (const g of plane.linksNow()) if ('key' in how ? g.key === how.key : g.via === how.via) plane.linkGone(g.key, 'the link left the tab hosting it, or the way to that tab went');
  }

  private claimOwn(key: string, grant: Grant | undefined, p: PacketHead & { payload: Uint8Array }): { g: Grant; seg: Segment } | undefined {
    const plane = this.plane;
    if (!plane) return undefined;
    const hosted = streamable(grant) ? grant : undefined;
    const g = plane.linkOn(key) ?? hosted;
    if (!g || !fromPeer(g, p)) return undefined;
    // The app's only tab (`inbound`), or the tab the node said takes P's streams on that port (`self`).
    const accepting = (app: Uint8Array, port: number) => hosted !== undefined && bytesEqual(app, hosted.app) && (hosted.inbound || this.relays.streamTo(port) === 'self');
    const seg = plane.claim(g, p.payload, accepting);
    return seg && { g, seg };
  }

  /** Whether the tab runs streams on link `key`, its own or (host role) another tab's. */
  on(key: string): boolean {
    return this.plane?.linkOn(key) !== undefined || this.relays.streams.on(key);
  }

  /**
   * The link left the tab: its streams end ABORTED at both ends; `last`, while the link's entry
   * goes, writes their Resets. Those other tabs run on it through this one end too (tab-relay.ts).
   */
  linkGone(key: string, reason: string, last?: (frame: Uint8Array) => boolean): void {
    this.leaving = last && { key, last };
    try {
      this.plane?.linkGone(key, reason);
    } finally {
      this.leaving = undefined;
      this.relays.streamsGone(key, last);
    }
  }

  private writeLast(g: Grant, payload: Uint8Array): boolean {
    const head = { src: g.selfId, dst: g.peerId, hops: DEFAULT_HOP_LIMIT, id: g.seq.next(), kind: PacketKind.Stream };
    return this.leaving!.last(writePlainPacket({ ...head, payload }));
  }

  get stats(): TabStreamStats & RelayStreams['stats'] & { viaTabStreamOut: number; viaTabStreamIn: number; streamRetransmits: number } {
    return { ...(this.plane ? this.plane.stats : NONE), streamRetransmits: this.plane?.retransmits ?? 0, ...this.relays.streams.stats, ...this.via };
  }
}
