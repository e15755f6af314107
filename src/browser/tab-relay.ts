/**
 * The data plane across tabs (docs/DATA-PLANE.md, "Several tabs"): a tab's relay channels to
 * the other tabs of the node (relay-channel.ts), so that a tab whose peer's WebRTC link lives in
 * another tab reaches it in one MessagePort leg instead of two through the worker; and what
 * the tab hosting a link routes over them: the answers to other tabs' requests (by request id),
 * the peer's datagrams to its app's listening tabs, and the peer's requests to the tab that
 * handles their port, both as the node told (`fast-listeners`, `fast-handlers`), the
 * peer's streams to the tab that takes them on their port (relay-streams.ts `handOff`), and the
 * peer's Acks to other tabs' reliable datagrams (by message id: relay-acks.ts).
 */
import type { AppData } from '../core/payloads.js';
import type { TakenRequest, UnrunRequest } from './protocol.js';
import { AckRoutes } from './relay-acks.js';
import { type AskOutcome, RelayChannel, type RelayHost } from './relay-channel.js';
import type { FrameRoute } from './relay-messages.js';
import { RelayStreams, type RouteGrant } from './relay-streams.js';

export type { AskOutcome } from './relay-channel.js';

/** What the relay channels need of their tab's data plane (fast-path.ts), generic over its grant. */
export interface RelayOwner<G> {
  /** The grant this tab holds now for link `key` (it hosts the link), if any. */
  hostGrant(key: string): (G & { peer: string }) | undefined;
  /** Gives a frame from link `key`'s peer to the node whole, as if this tab had never claimed it. */
  toNode(key: string, frame: Uint8Array): void;
  /** Writes a frame on link `key`'s DataChannel with the tab's own backpressure (rtc-host.ts sendOwn); `now`: in this turn if the channel takes it (sendNow), as a tab going may not see another. */
  write(key: string, frame: Uint8Array, now?: boolean): Promise<boolean> | boolean;
  /** Client role: the answer to our request `rid`. */
  answered(rid: number, from: string, ok: boolean, data: AppData, code?: string): void;
  /** Client role: the peer's Ack to our reliable datagram `mid`, taken by the host tab; false: no send of ours waits for it. */
  acked(from: string, mid: number): boolean;
  /** Client role: a datagram to our app, opened by the host tab. */
  delivered(from: string, port: number, data: AppData): void;
  /** Application traffic with `peer` (the idle-link report). */
  busy(peer: string): void;
  /** Client role: runs this tab's handler for `port`; undefined when it has none. */
  handle(from: string, port: number, data: AppData): Promise<{ ok: boolean; data: AppData } | undefined>;
  /** Client role: a request run here for another tab whose answer goes through the node now (RelayHost.adopt). */
  adopt(req: TakenRequest): number;
  adoptedAnswer(token: number, answer: { ok: boolean; data: AppData }): void;
  /** Client role: a request asked of this tab that nothing ran here, whose way back went: the node runs it (RelayHost.unrun). */
  unrun(token: number, req: UnrunRequest): void;
  /** Counts a dropped message with its reason. */
  drop(reason: string): void;
}

/** A request another tab relayed through this one, waiting for its Response on this tab's link. */
interface Route<G> {
  key: string;
  peer: string;
  /** The grant it was written under: its Response opens with this key even after a revoke. */
  grant: G;
  back: RelayChannel;
  timer: ReturnType<typeof setTimeout>;
}

/** Past a relayed request's own timeout, how long its route is kept (its answer is then dropped by the asking tab anyway). */
const ROUTE_SLACK_MS = 1_000;
/** A relayed request that names no timeout: the node's default (node-settings.ts). */
const DEFAULT_REQUEST_MS = 5_000;

/** Client role: the tab's own streams through a host tab (stream-tap.ts), which registers itself. */
export interface RelayStreamClient {
  /**
   * A segment from the peer of link `key` for one of our streams, or an Open to a port we handle,
   * passed by the host tab over channel `via` (relay-streams.ts). A number: the id of a stream
   * whose Open we refuse (no handler for its port here any more), for the host tab to give to the node.
   */
  fromHost(key: string, frame: Uint8Array, via: string): number | undefined;
  /** Our streams on link `key` end ABORTED (`via`: all those through channel `via`, which closed). */
  relayGone(how: { key: string } | { via: string }): void;
}

/** This tab's relay channels, both roles, and the routes of relayed requests. */
export class TabRelays<G extends RouteGrant> implements RelayHost {
  private readonly channels = new Map<string, RelayChannel>();
  private readonly routes = new Map<number, Route<G>>();
  /** Host role: the streams other tabs run on this tab's links, by (link, sid, direction) (relay-streams.ts). */
  readonly streams = new RelayStreams();
  /** Client role: set by the tab's stream code (stream-tap.ts). */
  streamClient?: RelayStreamClient;
  /** Host role: other tabs' reliable datagrams written on our links, by (peer, message id), for their Acks (relay-acks.ts). */
  readonly acks = new AckRoutes();
  readonly stats = { relayedOut: 0, relayedBack: 0, relayedData: 0, relayedRequests: 0, relayedReplies: 0, relayedRequestsToNode: 0, viaTabRequests: 0, relayedReliable: 0, relayedAcks: 0, relayedAcksToNode: 0, reliableAckedViaTab: 0 };
  /**
   * Host role, while this tab's app has several tabs: where a datagram to the app goes, `self`
   * or a channel, as the node told (`fast-listeners`); null: the node hands them out.
   */
  private listeners: string[] | null = null;

  /**
   * Host role, while this tab's app has several tabs: which tab handles each port, `self` or a
   * channel, the one the node itself would ask (host-handlers.ts ask), as the node told
   * (`fast-handlers`); null: the node hands the app's requests out.
   */
  private handlers: Map<number, string> | null = null;
  /** Host role, the same for the peer's streams: which tab takes a stream P opens on each port (`fast-handlers` `streams`). */
  private streamHandlers: Map<number, string> | null = null;

  /** The node's choice of handling tab per port of this app, for requests and for streams (null: leave them to the node). */
  setHandlers(ports: [number, string][] | null, streams?: [number, string][] | null): void {
    this.handlers = ports ? new Map(ports) : null;
    this.streamHandlers = streams ? new Map(streams) : null;
  }

  get handsStreams(): boolean {
    return (this.streamHandlers?.size ?? 0) > 0;
  }

  /** Host role: where a stream P opens to `port` of this tab's app goes: `self`, the channel to the tab that takes it, or undefined (the node's). */
  streamTo(port: number): 'self' | RelayChannel | undefined {
    const to = this.streamHandlers?.get(port);
    if (to === undefined || to === 'self') return to;
    const c = this.channels.get(to);
    return c?.open === true ? c : undefined;
  }

  /** Whether this tab may take a request to its app although the app has other tabs. */
  get handling(): boolean {
    return this.handlers !== null;
  }

  /** Where a request to this tab's app on `port` goes: `self`, a channel, or undefined (the node's). */
  handlerFor(port: number): string | undefined {
    const to = this.handlers?.get(port);
    if (to === undefined || to === 'self') return to;
    return this.channels.get(to)?.open === true ? to : undefined;
  }

  /** Host role: asks the tab on channel `ch` to run its handler (see RelayChannel.ask). */
  ask(ch: string, from: string, port: number, data: AppData, rid: number): Promise<AskOutcome> {
    const c = this.channels.get(ch);
    if (!c || !c.open) return Promise.resolve('not-run');
    this.stats.relayedRequests++;
    return c.ask(from, port, data, rid);
  }

  /** The node's list of this app's listening tabs (null: leave the app's datagrams to the node). */
  setListeners(tabs: string[] | null): void {
    this.listeners = tabs;
  }

  /** Whether this tab may take a datagram to its app although the app has other tabs. */
  get fanningOut(): boolean {
    return this.listeners !== null;
  }

  /**
   * Host role: a datagram to this tab's app, opened here, goes to every listening tab of the app
   * as the node would send it; `self`: whether this tab itself listens. False: no list (the
   * node's), or a listener's channel is gone (counted by the caller).
   */
  fanOut(from: string, port: number, data: AppData, self: () => void): boolean {
    const to = this.listeners;
    if (!to) return false;
    let all = true;
    const channels = to.filter((t) => t !== 'self').map((t) => this.channels.get(t));
    channels.forEach((c, i) => {
      if (!c || !c.open) return void (all = false);
      // The last one gets the buffer moved, the others copies, and this tab (if it listens) first.
      c.data(from, port, data, i === channels.length - 1 && !to.includes('self'));
      this.stats.relayedData++;
    });
    if (to.includes('self')) self();
    return all;
  }

  constructor(private readonly owner: RelayOwner<G>) {}

  open(ch: string, port: MessagePort): void {
    this.channels.get(ch)?.close();
    this.channels.set(ch, new RelayChannel(ch, port, this));
  }

  /** The node says the other tab of channel `ch` went; `said`: it said so itself, and its `bye` is on its way. */
  close(ch: string, said = false): void {
    const c = this.channels.get(ch);
    if (said) c?.awaitBye();
    else c?.close();
  }

  /**
   * This tab parks, or closes for good (its pagehide, or close()): its channels go (a message to a
   * page in the back/forward cache would evict it), each telling the other tab which of its
   * requests ran here unanswered. Without `leaving`: the channels just go (nothing of theirs runs).
   */
  closeAll(leaving?: 'parked' | 'closing'): void {
    for (const c of [...this.channels.values()]) c.close({ leaving });
  }

  /** Client role: posts a frame for link `key` on channel `ch`; not sent when that channel is gone. */
  post(ch: string, key: string, frame: Uint8Array, route?: FrameRoute): Promise<{ sent: Promise<boolean> }> {
    const c = this.channels.get(ch);
    if (!c || !c.open) return Promise.resolve({ sent: Promise.resolve(false) });
    return c.post(key, frame, route);
  }

  get routing(): boolean {
    return this.routes.size > 0 || this.streams.size > 0;
  }

  /** A grant a relayed request on link `key` was written under (its Response is still claimed after a revoke). */
  routedGrant(key: string): G | undefined {
    for (const r of this.routes.values()) if (r.key === key) return r.grant;
    return undefined;
  }

  /**
   * Host role: link `key` left this tab, or its grant was taken back for good: the streams other
   * tabs run on it end, P told by their Resets (`last` while the link's entry goes, else
   * through the tab's queue) and those tabs by `link-gone`.
   */
  streamsGone(key: string, last?: (frame: Uint8Array) => boolean): void {
    this.streams.linkGone(key, last ?? ((frame) => this.owner.write(key, frame, true)));
  }

  /**
   * Host role: a Response from `peer` on link `key`, opened here, answers `rid`: true when it
   * was a relayed request's and went back to the tab that asked.
   */
  routeAnswer(key: string, peer: string, rid: number, ok: boolean, data: AppData, code?: string): boolean {
    const r = this.routes.get(rid);
    if (!r || r.key !== key || r.peer !== peer) return false;
    this.routes.delete(rid);
    clearTimeout(r.timer);
    r.back.answer(rid, peer, ok, data, code);
    this.stats.relayedBack++;
    return true;
  }

  /**
   * Host role: the peer's clear Ack on link `key`, taken here, for reliable datagram `mid` another
   * tab sent through us (acks.has said so): back to that tab, the whole frame with it (should
   * that tab no longer send it, it hands the frame back for the node: `relayedAckRefused`).
   */
  routeAck(key: string, peer: string, mid: number, frame: Uint8Array): void {
    const back = this.acks.take(key, peer, mid);
    if (back?.routeAck(key, peer, mid, frame)) this.stats.relayedAcks++;
    else this.owner.toNode(key, frame);
  }

  /** Whether `rid` is a relayed request's (its replay check comes before routeAnswer). */
  isRouted(key: string, peer: string, rid: number): boolean {
    const r = this.routes.get(rid);
    return r !== undefined && r.key === key && r.peer === peer;
  }

  async relayFrame(key: string, frame: Uint8Array, back: RelayChannel, { rid, mid, ms }: FrameRoute = {}): Promise<boolean> {
    // Only on a link this tab holds a grant for: it must be able to open the answer.
    const g = this.owner.hostGrant(key);
    if (!g) return false;
    // A reliable datagram's copy: its Ack comes back to us, by message id, while the send may still be acked.
    if (Number.isSafeInteger(mid)) this.acks.add(key, g.peer, mid!, back, typeof ms === 'number' ? ms : DEFAULT_REQUEST_MS);
    if (rid !== undefined) {
      const keep = (typeof ms === 'number' && ms > 0 ? ms : DEFAULT_REQUEST_MS) + ROUTE_SLACK_MS;
      const timer = setTimeout(() => this.routes.delete(rid), keep);
      const old = this.routes.get(rid);
      if (old) clearTimeout(old.timer);
      this.routes.set(rid, { key, peer: g.peer, grant: g, back, timer });
    }
    const stream = this.streams.outgoing(key, g, frame, back);
    const ok = await this.owner.write(key, frame);
    if (ok && stream) {
      this.streams.stats.relayedStreamOut++;
      this.owner.busy(g.peer);
    } else if (ok) {
      this.stats.relayedOut++;
      if (mid !== undefined) this.stats.relayedReliable++;
      this.owner.busy(g.peer);
    } else if (mid !== undefined) this.acks.unwritten(g.peer, mid, back);
    else if (rid !== undefined && this.routes.get(rid)?.back === back) {
      clearTimeout(this.routes.get(rid)!.timer);
      this.routes.delete(rid);
    }
    return ok;
  }

  relayedAck(from: string, mid: number): boolean {
    const mine = this.owner.acked(from, mid);
    if (mine) this.stats.reliableAckedViaTab++;
    return mine;
  }

  relayedAckRefused(key: string, frame: Uint8Array): void {
    this.stats.relayedAcksToNode++;
    this.owner.toNode(key, frame);
  }

  relayedData(from: string, port: number, data: AppData): void {
    this.owner.delivered(from, port, data);
  }

  relayedStream(key: string, frame: Uint8Array, back: RelayChannel): void {
    if (!this.streamClient) return this.owner.drop('fast:stray-stream');
    const refused = this.streamClient.fromHost(key, frame, back.ch);
    if (refused !== undefined) back.refuseStream(key, refused);
  }

  relayedStreamRefused(key: string, sid: number, back: RelayChannel): void {
    const open = this.streams.refused(back, key, sid);
    if (open) this.owner.toNode(key, open);
    else this.owner.drop('fast:stray-refusal');
  }

  relayedLinkGone(key: string): void {
    this.streamClient?.relayGone({ key });
  }

  relayedAnswer(rid: number, from: string, ok: boolean, data: AppData, code?: string): void {
    this.owner.answered(rid, from, ok, data, code);
  }

  async relayedRequest(from: string, port: number, data: AppData): Promise<{ ok: boolean; data: AppData } | undefined> {
    const out = await this.owner.handle(from, port, data);
    if (out) this.stats.viaTabRequests++;
    return out;
  }

  adopt(req: TakenRequest): number {
    return this.owner.adopt(req);
  }

  adoptedAnswer(token: number, answer: { ok: boolean; data: AppData }): void {
    this.owner.adoptedAnswer(token, answer);
  }

  unrun(token: number, req: UnrunRequest): void {
    this.owner.unrun(token, req);
  }

  stray(reason: string): void {
    this.owner.drop(reason);
  }

  channelClosed(ch: RelayChannel): void {
    if (this.channels.get(ch.ch) === ch) this.channels.delete(ch.ch);
    // Host role: the streams that tab ran on our links end, P told; client role: ours through it end.
    this.streams.channelClosed(ch, (key, frame) => this.owner.write(key, frame, true));
    this.streamClient?.relayGone({ via: ch.ch });
    this.acks.channelClosed(ch);
    for (const [rid, r] of [...this.routes]) {
      if (r.back !== ch) continue;
      clearTimeout(r.timer);
      this.routes.delete(rid);
    }
  }
}
