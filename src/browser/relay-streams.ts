/**
 * Streams from a tab whose link lives in another tab (docs/DATA-PLANE.md, "Streams from a tab
 * without the link"), host role. The other tab T2 runs its streams with the peer P itself, as a
 * host tab does (tab-stream-plane.ts), and posts each segment's finished frame to this tab over
 * their relay channel (relay-channel.ts `post`, its window for backpressure); this tab writes it
 * on P's DataChannel and notes the stream's route: (link, sid, direction) -> that channel. P's
 * segments of the stream come off the DataChannel here and go back to T2 whole, one leg, as the
 * answers to relayed requests do (tab-relay.ts `routeAnswer`).
 *
 * The peer's streams to the app go the same way (`handOff`): while the app has several tabs, an
 * Open from P's tab to a port another tab T2 handles (the node said which: `fast-handlers`
 * `streams`) is claimed here, its route noted from the Open itself, and passed to T2, which runs
 * the stream and writes its frames through this tab as above. A T2 that no longer handles the
 * port says so (`refused`) and the Open goes to the node untouched, from the copy kept here
 * until T2's first frame for the stream.
 *
 * A route ends with the stream's Reset either way, with its channel, or with its link leaving
 * this tab; in the last two cases this tab writes P the stream's Reset itself (T2 can no longer
 * reach P), and in the last tells T2 (`link-gone`), so both ends hear ABORTED rather than wait
 * for TIMEOUT. A stream that ends well keeps its route until it is pushed out (ROUTES_KEPT): a
 * late segment of it still reaches T2, which drops it as its own ended stream's.
 */
import { DEFAULT_HOP_LIMIT } from '../core/limits.js';
import { PacketKind } from '../core/packets.js';
import { type PacketHead, readPlainPacket, writePlainPacket } from '../core/sealed-frame.js';
import { decodeSegment, encodeSegment, SegmentType } from '../core/streams/segments.js';
import type { RelayChannel } from './relay-channel.js';
import { bytesEqual } from '../core/bytes.js';
import type { Grant } from './tab-grant.js';

/** What a route needs of the grant its stream's segments were written under. */
export type RouteGrant = Pick<Grant, 'peer' | 'peerId' | 'selfId' | 'bound' | 'seq'>;

/** Routes kept at most (oldest first out): as many streams as four tabs may hold open (core/streams MAX_STREAMS). */
const ROUTES_KEPT = 4096;

export interface StreamRoute {
  key: string;
  peer: string;
  sid: number;
  /** Whether the other tab opened the stream (its segments say fromOpener; P's the opposite). */
  opener: boolean;
  /** The grant its segments were written under: P's are claimed with it, and the Resets this tab writes use it. */
  grant: RouteGrant;
  back: RelayChannel;
  /** A stream P opened (handOff): its Open as it came, for the node should T2 refuse it; kept until T2's first frame for it. */
  open?: Uint8Array;
}

const routeKey = (key: string, sid: number, fromOpener: boolean): string => `${key} ${sid} ${fromOpener ? 1 : 0}`;

export class RelayStreams {
  /** By (link, sid, direction of P's segments). */
  private readonly routes = new Map<string, StreamRoute>();
  readonly stats = { relayedStreamOut: 0, relayedStreamIn: 0, relayedStreamOpens: 0, relayedStreamOpensToNode: 0 };

  get size(): number {
    return this.routes.size;
  }

  /**
   * A frame the tab on `back` posted for link `key`, which this tab holds grant `g` for: when it
   * is a clear Stream packet of ours to the link's peer, its route is noted (a Reset ends it).
   * True: a stream segment (counted by the caller once written).
   */
  outgoing(key: string, g: RouteGrant, frame: Uint8Array, back: RelayChannel): boolean {
    const p = readPlainPacket(frame);
    if (!p || p.kind !== PacketKind.Stream || !g.bound) return false;
    const seg = decodeSegment(p.payload, true);
    if (typeof seg === 'string') return true;
    const k = routeKey(key, seg.sid, !seg.fromOpener);
    const had = this.routes.get(k);
    if (seg.type === SegmentType.Reset) this.routes.delete(k);
    else if (had?.back === back) had.open = undefined; // T2 runs the stream P opened: no Open to give back
    else this.add(k, { key, peer: g.peer, sid: seg.sid, opener: seg.fromOpener, grant: g, back });
    return true;
  }

  /**
   * Host role: P's Open `frame` (claimed on link `key` under host grant `g`, its replay window
   * passed; stream `sid`, opened by P's tab) to a port the tab on `back` handles: the route is
   * noted from the Open, and the frame moves there. A copy stays here until that tab's first
   * frame for the stream, should it refuse it (`refused`).
   */
  handOff(key: string, g: RouteGrant, sid: number, frame: Uint8Array, back: RelayChannel): void {
    const r: StreamRoute = { key, peer: g.peer, sid, opener: false, grant: g, back, open: frame.slice() };
    this.add(routeKey(key, sid, true), r);
    this.stats.relayedStreamOpens++;
    this.pass(r, frame, false);
  }

  /** The tab on `back` refused P's stream `sid` on link `key` (no handler any more): its Open, for the node; undefined when none is kept. */
  refused(back: RelayChannel, key: string, sid: number): Uint8Array | undefined {
    const k = routeKey(key, sid, true);
    const r = this.routes.get(k);
    if (!r?.open || r.back !== back) return undefined;
    this.routes.delete(k);
    this.stats.relayedStreamOpensToNode++;
    return r.open;
  }

  private add(k: string, r: StreamRoute): void {
    this.routes.delete(k);
    this.routes.set(k, r);
    if (this.routes.size > ROUTES_KEPT) this.routes.delete(this.routes.keys().next().value!);
  }

  /** The route of a clear Stream packet `p` from the peer of link `key`, when it is a relayed stream's. */
  route(key: string, p: PacketHead & { payload: Uint8Array }): { r: StreamRoute; reset: boolean } | undefined {
    if (this.routes.size === 0) return undefined;
    const seg = decodeSegment(p.payload, true);
    if (typeof seg === 'string') return undefined;
    const r = this.routes.get(routeKey(key, seg.sid, seg.fromOpener));
    if (!r || !r.back.open || !bytesEqual(p.src, r.grant.peerId) || !bytesEqual(p.dst, r.grant.selfId)) return undefined;
    return { r, reset: seg.type === SegmentType.Reset };
  }

  /** P's segment (its whole frame, moved), claimed and past the replay window: to the tab that runs the stream. */
  pass(r: StreamRoute, frame: Uint8Array, reset: boolean): void {
    if (reset) this.routes.delete(routeKey(r.key, r.sid, !r.opener));
    r.back.stream(r.key, frame);
    this.stats.relayedStreamIn++;
  }

  /** Whether link `key` carries relayed streams. */
  on(key: string): boolean {
    for (const r of this.routes.values()) if (r.key === key) return true;
    return false;
  }

  /** The grant a relayed stream on link `key` runs under (its segments are claimed while no grant is in force). */
  grantOn(key: string): RouteGrant | undefined {
    for (const r of this.routes.values()) if (r.key === key) return r.grant;
    return undefined;
  }

  /**
   * The channel `back` closed (its tab went, parked or said `bye`): its streams end, and P is
   * told by a Reset this tab writes (`write`: through its queue; false, the link is gone too).
   */
  channelClosed(back: RelayChannel, write: (key: string, frame: Uint8Array) => unknown): number {
    return this.end((r) => r.back === back, (r) => write(r.key, this.reset(r, 'the tab running the stream went')));
  }

  /**
   * Link `key` left this tab (`last`: while its entry goes, a writer straight to the DataChannel;
   * else through the tab's queue, `write`): its relayed streams end; P gets their Resets, and the
   * tabs that run them hear `link-gone`, so they end them too.
   */
  linkGone(key: string, write: (frame: Uint8Array) => unknown): number {
    const tabs = new Set<RelayChannel>();
    const n = this.end(
      (r) => r.key === key,
      (r) => {
        write(this.reset(r, 'the link left the tab hosting it'));
        tabs.add(r.back);
      },
    );
    for (const back of tabs) back.linkGone(key);
    return n;
  }

  private end(which: (r: StreamRoute) => boolean, fn: (r: StreamRoute) => void): number {
    let n = 0;
    for (const [k, r] of [...this.routes]) {
      if (!which(r)) continue;
      this.routes.delete(k);
      n++;
      try {
        fn(r);
      } catch {
        // The channel or the link is gone as it ends: nothing more to tell.
      }
    }
    return n;
  }

  /** The stream's Reset to P, as the other tab would have written it (its side, ABORTED). */
  private reset(r: StreamRoute, reason: string): Uint8Array {
    const g = r.grant;
    const payload = encodeSegment({ sid: r.sid, fromOpener: r.opener, type: SegmentType.Reset, code: 'ABORTED', reason });
    return writePlainPacket({ src: g.selfId, dst: g.peerId, hops: DEFAULT_HOP_LIMIT, id: g.seq.next(), kind: PacketKind.Stream, payload });
  }
}
