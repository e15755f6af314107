/**
 * The data plane in the host tab (docs/DATA-PLANE.md), tab side. For a WebRTC link this tab
 * hosts, the node may grant it the pair key of the link's peer: the tab then seals its app's
 * datagrams and requests to that peer itself and writes them on the DataChannel, and opens the
 * Data, Request and Response packets (and Acks to its reliable sends: tab-reliable.ts) that the
 * peer itself sends it there, without a MessagePort leg to the node's worker. Everything else
 * goes to the node as before, untouched. What the tab claims, and why only from the link's own
 * peer, is docs/DATA-PLANE.md "Inbound"; a packet that fails is dropped here with its reason
 * (`fast:...`); an opened one this tab cannot take goes on to the node whole.
 */
import { bytesEqual } from '../core/bytes.js';
import { systemClock, systemRandom } from '../core/clock.js';
import { checkData } from '../core/node-checks.js';
import { PacketKind } from '../core/packets.js';
import { FastPayload } from '../core/payload-fast.js';
import type { AppData } from '../core/payloads.js';
import { ReplayGuard } from '../core/replay-guard.js';
import { readPlainPacket, readSealedPacket, type PacketHead } from '../core/sealed-frame.js';
import { InboundChain } from './claimed-frames.js';
import { FrameBuffers } from './frame-pool.js';
import { OutboundQueue } from './outbound-queue.js';
import type { FrameRoute } from './relay-messages.js';
import { GrantCrypto, HAND_ON } from './grant-crypto.js';
import { PeerRequests } from './peer-requests.js';
import { opensStreams, StreamTap } from './stream-tap.js';
import type { MeshStream } from './tab-streams.js';
import type { FastPathStatus, OwedAnswer, TakenRequest, UnrunRequest } from './protocol.js';
import type { RtcHost, RtcTap } from './rtc-host.js';
import { TabRelays } from './tab-relay.js';
import { fromPeer, type Grant, type GrantEvent, TabGrants } from './tab-grant.js';
import type { HandlerOutcome } from './tab-registrations.js';
import { ackFor, TabReliable } from './tab-reliable.js';
import { TabReliableRx } from './tab-reliable-rx.js';
import { TabRequests } from './tab-requests.js';
import { TrafficReport } from './traffic-report.js';

/** What the data plane needs of its tab. */
export interface FastPathHost {
  rtc: RtcHost;
  /** Whether the app listens to datagrams in this tab. */
  listening(): boolean;
  deliver(from: string, data: AppData, port: number): void;
  /** This tab's handler for `port`, if any. */
  handles(port: number): boolean;
  /** The outcome in this turn when the handler returned a value, a promise of it when it returned one. */
  runHandler(from: string, data: AppData, port: number): HandlerOutcome | Promise<HandlerOutcome>;
  /** Tells the node which peers this tab carried application packets with (idle-links.ts). */
  traffic(peers: string[]): void;
  /** An answer to a peer's request that cannot go back the way the request came: the node sends it (owed-answers.ts). */
  answerHome(a: OwedAnswer): void;
  /** The app's name and its stream handler for a port in this tab (streams on the data plane: stream-tap.ts). */
  app?: string;
  streamHandler?(port: number): ((s: MeshStream) => void) | undefined;
  /** A peer's request passed to this tab that nothing ran here, and whose way back went: the node runs it (relay-channel.ts). */
  runHome(r: UnrunRequest): void;
  /** The receiving window of a peer's reliable datagrams goes back to the node (tab-reliable-rx.ts). */
  handBack?(w: { gen: number; window: number[] }): void;
}

const FAST_KINDS: ReadonlySet<number> = new Set([PacketKind.Data, PacketKind.Request, PacketKind.Response]);

/** A copy of its own of what may be a view into a frame (a payload decoded with views), for what moves it to another tab. */
const owned = (data: AppData): AppData => (typeof data === 'string' ? data : data.slice());

export class FastPath implements RtcTap {
  /** The grants this tab holds, by peer and by link key (tab-grant.ts). */
  private readonly grants = new TabGrants();
  private readonly replays = new ReplayGuard(() => Date.now());
  /** The requests this tab sent, waiting for their answers (tab-requests.ts); its reliable datagrams, waiting for their acks (tab-reliable.ts). */
  private readonly requests = new TabRequests();
  /** Through a relay grant, each copy names its message id and time left, for the host tab to route the Ack back by (relay-acks.ts). */
  readonly reliable = new TabReliable(systemClock, systemRandom, { grant: (to) => this.grants.byPeer.get(to), write: (g, plaintext, mid, ms) => this.queue(g, PacketKind.ReliableData, plaintext, g.via !== undefined ? { mid, ms } : undefined) });
  /** The peers' reliable datagrams this tab takes, delivers and acks itself, and their window (tab-reliable-rx.ts). */
  readonly rx: TabReliableRx = new TabReliableRx(systemClock, { listening: (g) => (g.inbound ? this.host.listening() : this.relays.fanningOut || undefined), deliver: (g, d, port) => this.deliverAll(g, port, d), write: (g, kind, plaintext) => this.queue(g, kind, plaintext), handBack: (w) => this.host.handBack?.(w), drop: (r) => this.drop(r) });
  /** Relay channels to other tabs of the node, and the routes of requests relayed through this one (tab-relay.ts). */
  readonly relays: TabRelays<Grant> = new TabRelays<Grant>({
    hostGrant: (key) => this.grants.hostOf(key),
    write: (key, frame, now) => (now ? this.host.rtc.sendNow(key, frame) : undefined) ?? this.host.rtc.sendOwn(key, frame),
    answered: (rid, from, ok, data, code) => this.answered(rid, from, ok, data, code),
    acked: (from, mid) => this.reliable.ack(from, mid),
    delivered: (from, port, data) => {
      if (!this.host.listening()) return;
      this.stats.viaTabData++;
      this.host.deliver(from, data, port);
    },
    busy: (peer) => this.traffic.note(peer),
    toNode: (key, frame) => this.host.rtc.toNode(key, frame),
    handle: async (from, port, data) => (this.host.handles(port) ? this.host.runHandler(from, data, port) : undefined),
    adopt: (req) => this.peerRequests.adopt(req),
    adoptedAnswer: (token, a) => this.peerRequests.adoptedAnswer(token, a),
    unrun: (token, r) => this.peerRequests.unrun(token, r),
    drop: (reason) => this.drop(reason),
  });
  /** Claimed frames, opened a few at a time (grant-crypto.ts) and taken in the order they came, or given back to the node (claimed-frames.ts). */
  private readonly inbound = new InboundChain(() => this.drop('fast:error'));
  /** Sealing and opening for grants whose channel is not bound (grant-crypto.ts). */
  private readonly crypto = new GrantCrypto();
  /** The peers this tab carried application packets with, told to the node (traffic-report.ts). */
  private readonly traffic: TrafficReport;
  private readonly stats = { grants: 0, revoked: 0, sent: 0, received: 0, requests: 0, responses: 0, handedOn: 0, viaTab: 0, viaTabAnswers: 0, viaTabData: 0, answersViaNode: 0, answersHome: 0, requestsHome: 0, givenBack: 0, clear: 0 };
  private readonly dropped: Record<string, number> = {};
  /** Scratch and pooled buffers for our packets (frame-pool.ts; docs/DATA-PLANE.md, "Per-message work"). */
  private readonly buffers = new FrameBuffers();
  /** Our packets, numbered and written in the order they were sent (outbound-queue.ts). */
  private readonly outbound: OutboundQueue;

  /** The peers' requests this tab took: where they run, and who answers them (peer-requests.ts). */
  private readonly peerRequests: PeerRequests;
  /** Streams run in this tab (stream-tap.ts, tab-stream-plane.ts). */
  readonly streams: StreamTap;

  constructor(private readonly host: FastPathHost) {
    this.traffic = new TrafficReport((peers) => host.traffic(peers));
    this.outbound = new OutboundQueue({ rtc: host.rtc, relays: this.relays, crypto: this.crypto, buffers: this.buffers, stats: this.stats, written: (g, sent) => this.written(g, sent) });
    this.peerRequests = new PeerRequests({
      tab: host,
      relays: this.relays,
      put: (g, kind, plaintext) => this.outbound.put(g, kind, plaintext),
      scratch: () => this.buffers.payload,
      handOn: (g, frame) => this.handOn(g, frame),
      stats: this.stats,
      drop: (reason) => this.drop(reason),
    });
    this.streams = new StreamTap({ app: host.app ?? '', write: (g, payload) => this.queue(g, PacketKind.Stream, payload), scratch: () => this.buffers.payload, handler: (port) => host.streamHandler?.(port), drop: (reason) => this.drop(reason) }, this.relays, (key) => this.grants.byKey.get(key));
  }

  grant(g: GrantEvent): void {
    this.grants.give(g);
    this.stats.grants++;
    // The peer's reliable datagrams too, on a bound grant of the link this tab hosts (delivered here, or to the app's listening tabs).
    this.rx.give(g.peer, g.bound && g.via === undefined ? g.rx : undefined);
  }

  /** `reason`: the node's; a grant `changed` is given again at once, and the tab's streams on the link go on. */
  revoke(key: string, reason?: string): void {
    const g = this.grants.take(key);
    // Its window for the peer's reliable datagrams goes back to the node (tab-reliable-rx.ts).
    if (g) (this.stats.revoked++, this.rx.handBack(g.peer));
    // Reliable sends on it go to the node under their ids (tab-reliable.ts), unless a grant is given again at once.
    if (g && reason !== 'changed' && !this.grants.byPeer.has(g.peer)) this.reliable.linkGone(g.peer);
    if (reason !== undefined && reason !== 'changed') this.streams.linkGone(key, 'the link left the tab (its grant was taken back)');
  }

  /** The link's entry went (RtcTap): its grant goes with it, and its streams end, `last` writing their Resets while the channel takes them. */
  gone(key: string, last?: (frame: Uint8Array) => boolean): void {
    this.revoke(key);
    this.streams.linkGone(key, 'the link left the tab', last);
  }

  /** The tab closes: requests waiting for an answer fail with `err`. */
  failAll(err: Error): void {
    this.requests.failAll(err);
    this.reliable.failAll(err);
  }

  /**
   * The tab closes (after its links closed, or before they do in the same turn): the peers'
   * requests it took and leaves unanswered, for its `closing`, which the node answers; from now
   * on it writes none of them (owed-answers.ts).
   */
  leave(): { failed: TakenRequest[]; answers: OwedAnswer[] } {
    this.rx.handBackAll();
    return this.peerRequests.leave();
  }

  /** Whether a datagram or request to `to` goes on the fast path. */
  has(to: string): boolean {
    return this.grants.byPeer.has(to);
  }

  /** A stream to `to` run in this tab, when its grant for `to` is bound and the link is this tab's; else undefined (the node's path). */
  openStream(to: string, port: number, timeoutMs?: number): MeshStream | undefined {
    const g = this.grants.byPeer.get(to);
    return opensStreams(g) ? this.streams.open(g, port, timeoutMs) : undefined;
  }

  status(): FastPathStatus {
    return { granted: this.grants.byPeer.size, bound: this.grants.bound, ...this.stats, ...this.relays.stats, ...this.streams.stats, ...this.reliable.stats, ...this.rx.stats, ackRoutesEvicted: this.relays.acks.evicted, dropped: { ...this.dropped } };
  }

  /**
   * A datagram to a granted peer; resolves once written on its DataChannel, as the node's
   * resolves once it left the node. Should the link be gone by then (its grant with it), the
   * datagram goes through the node instead (`viaNode`).
   */
  send(to: string, data: AppData, port: number, viaNode: () => Promise<void>): Promise<void> {
    checkData(data);
    const g = this.grants.byPeer.get(to)!;
    const plaintext = FastPayload.data.encode({ app: g.app, port, data }, this.buffers.payload);
    return this.queue(g, PacketKind.Data, plaintext).then((sent) => {
      if (!sent) return viaNode();
      this.stats.sent++;
    });
  }

  /** A request to a granted peer; through the node instead (`viaNode`) when the link turns out gone before it is written. */
  request(to: string, data: AppData, port: number, timeoutMs: number | undefined, viaNode: () => Promise<AppData>): Promise<AppData> {
    checkData(data);
    const g = this.grants.byPeer.get(to)!;
    const { requestId, ms, reply } = this.requests.open(to, g, port, timeoutMs);
    const plaintext = FastPayload.request.encode({ app: g.app, port, requestId, data }, this.buffers.payload);
    const sent = this.outbound.put(g, PacketKind.Request, plaintext, { rid: requestId, ms });
    // Written in this turn: nothing more to wait for (the common case; no promise after send()).
    if (sent === true) {
      this.stats.requests++;
      return reply;
    }
    (typeof sent === 'boolean' ? Promise.resolve(sent) : sent).then(
      (sent) => {
        if (sent) return void this.stats.requests++;
        this.requests.settle(requestId, (resolve, reject) => void viaNode().then(resolve, reject));
      },
      (err: unknown) => this.requests.settle(requestId, (_, reject) => reject(err as Error)),
    );
    return reply;
  }

  /**
   * The answer to our request `rid` reached the node instead (on another link to the peer: see
   * tab-requests.ts), which opened it as it opens any packet and passed it on: `from` is proven.
   */
  answeredByNode(rid: number, from: string, ok: boolean, data: AppData, code?: string): void {
    if (!this.requests.answer(rid, from, ok, data, code)) return this.drop('fast:stray-answer');
    this.stats.answersViaNode++;
    this.stats.received++;
  }

  /** RtcTap: claims a frame from the peer of link `key` when it is ours to take (see the file comment). */
  take(key: string, frame: Uint8Array): boolean {
    const grant = this.grants.byKey.get(key);
    if (!grant && this.requests.size === 0 && !this.relays.routing && !this.streams.on(key)) return false;
    // One pass, views into the frame (sealed-frame.ts): an unsigned Packet in its one exact
    // encoding, its payload in the clear (only on a bound channel) or sealed; else the node's to judge.
    const clear = readPlainPacket(frame);
    if (clear) {
      // An Ack to a reliable send of ours, or of another tab's through this link (back to it by message id).
      const acked = clear.kind === PacketKind.Ack ? ackFor(this.reliable, this.relays.acks, key, grant, clear) : undefined;
      if (acked !== undefined) {
        this.stats.clear++;
        if (this.fresh(grant!, clear)) acked.relayed ? this.relays.routeAck(key, grant!.peer, acked.mid, frame) : this.reliable.ack(grant!.peer, acked.mid);
        return true;
      }
      // A Stream packet by stream, not by kind: one of the tab's streams, an Open it accepts, or another tab's stream (stream-tap.ts).
      const s = clear.kind === PacketKind.Stream ? this.streams.claim(key, grant, clear) : undefined;
      const g = s?.g ?? this.grantFor(clear.kind, grant, key);
      if (!g || !g.bound || !fromPeer(g, clear)) return false;
      this.stats.clear++;
      // Taken in this turn when nothing waits before it (no closure made then: this runs per packet).
      if (this.inbound.idle) {
        try {
          if (s) void (this.fresh(g, clear) && (this.traffic.note(g.peer), s.take(frame)));
          else this.onOpened(g as Grant, clear, frame, clear.payload);
        } catch {
          this.drop('fast:error');
        }
      } else {
        const take = s ? () => void (this.fresh(g, clear) && (this.traffic.note(g.peer), s.take(frame))) : () => this.onOpened(g as Grant, clear, frame, clear.payload);
        this.inbound.after(Promise.resolve(), take, s ? undefined : { key, frame });
      }
      return true;
    }
    const p = readSealedPacket(frame);
    if (!p) return false;
    const g = this.grantFor(p.kind, grant, key);
    if (!g?.sealing || !fromPeer(g, p)) return false;
    // Opened as soon as a crypto slot is free, so AES-GCM runs for a few frames at a time; taken in arrival order.
    this.inbound.after(this.crypto.open(g.sealing, p), (plain) => this.onOpened(g, p, frame, plain), { key, frame });
    return true;
  }

  /**
   * The grant a packet of `kind` on link `key` is taken under (`grant`: the link's), if any. A
   * Response may answer a request sent under a grant since revoked: it is taken as that grant
   * says. While its app has other tabs (inbound false), a request is the node's to hand out
   * unless the node told this tab which tab handles which port, and a datagram unless it told
   * where the app's listening tabs are.
   */
  private grantFor(kind: number, grant: Grant | undefined, key: string): Grant | undefined {
    if (kind === PacketKind.ReliableData) return grant && this.rx.holding(grant.peer) ? grant : undefined;
    if (!FAST_KINDS.has(kind)) return undefined;
    if (kind === PacketKind.Request) return grant?.inbound === false && !this.relays.handling ? undefined : grant;
    if (kind === PacketKind.Data) return grant?.inbound === false && !this.relays.fanningOut ? undefined : grant;
    return grant ?? this.pendingGrant(key);
  }

  /** RtcTap: the links close (this tab parks or goes): what it claimed and has not taken goes to the node, ahead of each link's close. */
  release(): void {
    this.stats.givenBack += this.inbound.release((key, frame) => this.host.rtc.toNode(key, frame));
  }

  private onOpened(g: Grant, p: PacketHead, frame: Uint8Array, plain: Uint8Array | typeof HAND_ON | string): void {
    if (plain === HAND_ON) return this.handOn(g, frame);
    if (typeof plain === 'string') return this.drop(plain);
    if (p.kind === PacketKind.ReliableData) return void (this.rx.take(g, plain, () => this.fresh(g, p) && (this.traffic.note(g.peer), true)) || this.handOn(g, frame));
    if (p.kind === PacketKind.Data) {
      // Byte strings as views into the frame (or the opened plaintext), which only this tab
      // holds: the app gets its data with no copy; what moves to another tab is copied first.
      const m = FastPayload.data.decode(plain);
      if (!m) return this.drop('fast:bad-payload');
      if (!bytesEqual(m.app, g.app) || !this.grants.byKey.has(g.key)) return this.handOn(g, frame);
      if (g.inbound ? !this.host.listening() : !this.relays.fanningOut) return this.handOn(g, frame);
      if (!this.fresh(g, p)) return;
      this.stats.received++;
      this.traffic.note(g.peer);
      return this.deliverAll(g, m.port, m.data);
    }
    if (p.kind === PacketKind.Request) {
      const r = FastPayload.request.decode(plain);
      if (!r) return this.drop('fast:bad-payload');
      // The app has several tabs: the tab the node would ask, this one or another over its channel.
      const to = g.inbound ? 'self' : this.relays.handlerFor(r.port);
      if (!bytesEqual(r.app, g.app) || to === undefined || (to === 'self' && !this.host.handles(r.port)) || !this.grants.byKey.has(g.key)) return this.handOn(g, frame);
      if (!this.fresh(g, p)) return;
      this.stats.received++;
      this.traffic.note(g.peer);
      return this.peerRequests.run(g, r, to, frame);
    }
    const r = FastPayload.response.decode(plain);
    if (!r) return this.drop('fast:bad-payload');
    if (!this.requests.waits(r.requestId, g.peer)) {
      // The answer to a request another tab sent through this one: back to it, one leg.
      if (!this.relays.isRouted(g.key, g.peer, r.requestId)) return this.handOn(g, frame);
      if (!this.fresh(g, p)) return;
      this.traffic.note(g.peer);
      this.relays.routeAnswer(g.key, g.peer, r.requestId, r.ok, owned(r.data), r.code);
      return;
    }
    if (!this.fresh(g, p)) return;
    this.stats.received++;
    this.traffic.note(g.peer);
    this.requests.answer(r.requestId, g.peer, r.ok, r.data, r.code);
  }

  /** A datagram to the app: here (its only tab), or to each of its listening tabs over their channels (tab-relay.ts) when it has several. */
  private deliverAll(g: Grant, port: number, data: AppData): void {
    if (g.inbound) return this.host.deliver(g.peer, data, port);
    const self = () => this.host.listening() && this.host.deliver(g.peer, data, port);
    if (!this.relays.fanOut(g.peer, port, owned(data), self)) this.drop('fast:listener-gone');
  }

  /** The replay window, as the node keeps it (per source and lane), after the AEAD proved the packet. */
  private fresh(g: { peer: string }, p: PacketHead): boolean {
    const replay = this.replays.check(g.peer, p.id);
    if (replay) this.drop(`fast:${replay}`);
    return replay === undefined;
  }

  private handOn(g: Grant, frame: Uint8Array): void {
    this.stats.handedOn++;
    this.host.rtc.toNode(g.key, frame);
  }

  /** One packet of ours to the peer of `g`, in call order (outbound-queue.ts); false: the link is gone. */
  private queue(g: Grant, kind: number, plaintext: Uint8Array, route?: FrameRoute): Promise<boolean> {
    return this.outbound.queue(g, kind, plaintext, route);
  }

  private written(g: Grant, sent: boolean): boolean {
    if (sent) this.traffic.note(g.peer);
    // The link went (its entry first, the revoke after): nothing more goes this way.
    else if (this.grants.byKey.get(g.key) === g) this.revoke(g.key);
    return sent;
  }

  /** Tab-relay client: the host tab opened the answer to our request `rid`. */
  private answered(rid: number, from: string, ok: boolean, data: AppData, code?: string): void {
    if (!this.requests.answer(rid, from, ok, data, code)) return this.drop('fast:stray-answer');
    this.stats.viaTabAnswers++;
    this.stats.received++;
  }

  private pendingGrant(key: string): Grant | undefined {
    return this.requests.grantOn(key) ?? this.relays.routedGrant(key);
  }

  private drop(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }
}
