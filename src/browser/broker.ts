/**
 * The PeerConnection broker, node side. The node host cannot make an RTCPeerConnection, so for
 * each WebRTC link it asks a live tab to make one and to pipe the DataChannel's bytes through a
 * MessageChannel; the node keeps the other end as a PortLink whose transport is 'webrtc'.
 *
 * Signalling: the host tab's SDP (ICE candidates included: gathering completes before it is
 * sent, so one message each way) goes tab -> here -> `node.sendSignal` over the mesh -> the
 * peer's broker -> the peer's host tab. Each attempt has a random key both sides use.
 *
 * When a host tab dies, its links close, and the links that this side had open are dialled
 * again through another live tab: re-signalled over the mesh, no server needed.
 */
import { toHex } from '../core/bytes.js';
import { MeshError } from '../core/errors.js';
import type { Link } from '../core/link.js';
import type { MeshNode } from '../core/node.js';
import type { PeerRecord } from '../core/peer-memory.js';
import { unreachableError } from '../core/unreachable.js';
import { PortLink } from '../transports/port.js';
import type { IceClient } from './ice-client.js';
import { TAB_PARKED } from './protocol.js';
import { sdpFingerprints } from './sdp-fingerprint.js';
import { withTimeout } from './with-timeout.js';

/** What the broker needs of a tab that can host PeerConnections. */
export interface RtcHostTab {
  readonly tabId: string;
  readonly alive: boolean;
  /** A hidden page is throttled: new links go to visible tabs first. */
  readonly hidden?: boolean;
  openRtc(key: string, peer: string, initiator: boolean, port: MessagePort, iceServers: RTCIceServer[]): void;
  signalRtc(key: string, body: string): void;
}

interface Attempt {
  key: string;
  peer: string;
  initiator: boolean;
  tab: RtcHostTab;
  link: PortLink;
  /** The link opened and was handed to the node. */
  live: boolean;
  /** The path ICE selected, as the host tab reported it. */
  via?: 'direct' | 'turn';
  /** When the link closed (Date.now()), kept a while: a dying tab's channels may close before its lock frees. */
  closedAt?: number;
  /** The DTLS fingerprints our description and the peer's name (sdp-fingerprint.ts). */
  localFp?: Uint8Array;
  remoteFp?: Uint8Array;
  /** Given up for the peer's own dial to us, which crossed it (onSignal). */
  crossed?: boolean;
  /** The node closest to the peer dropped our signalling for want of a route (unreachable). */
  unreachableBy?: string;
  /** When our offer left (Date.now()), and whether the peer said anything since (keepOwnDial). */
  offeredAt?: number;
  heard?: boolean;
}

/** How long a closed attempt is remembered, to re-dial it if its tab turns out to have died. */
const REMEMBER_CLOSED_MS = 10_000;

const OPEN_TIMEOUT_MS = 15_000;
/** A bye's reason when an attempt is given up for the peer's crossing one (keepOwnDial). */
const CROSSED = 'crossed';
/** How long a dial waits for an ICE config request in flight. */
const ICE_WAIT_MS = 3_000;
/**
 * How long our offer may go unanswered before a crossing offer of the peer's is taken instead
 * (keepOwnDial). A real crossing is two offers in flight at once, within a round trip.
 */
export const STALE_OFFER_MS = 3_000;
/** Attempts the peer gave up (its bye came before its offer, or without one): their offers, should they come late, are ignored. */
const BYES_KEPT = 256;

export class RtcBroker {
  private readonly attempts = new Map<string, Attempt>();
  /** Counts re-dials after a tab's death, for status and tests. */
  rehomed = 0;
  /** Told when a channel with `peer` opens, ours or the peer's dial: the dial back-off forgets its pause (dial-backoff.ts). */
  onLinkOpened?: (peer: string) => void;
  /** Told when a link closes (fast-grants.ts checks its grants again). */
  onLinkClosed?: () => void;
  /** Logs every signal to the tabs' consoles (diagnostics). */
  debug = false;
  /** See STALE_OFFER_MS (a test shortens it). */
  staleOfferMs = STALE_OFFER_MS;
  /** `${peer}:${key}` of attempts the peer said bye to before we knew them, oldest first. */
  private readonly byes = new Set<string>();

  constructor(
    private readonly node: () => MeshNode | undefined,
    private readonly hosts: () => RtcHostTab[],
    private readonly log: (text: string) => void = () => undefined,
    private readonly ice?: IceClient,
    /** A tab announced, as it closed a channel it hosted, that it is being frozen or cached. */
    private readonly parked: (tabId: string) => void = () => undefined,
  ) {}

  /** Signalling travels over the mesh: it needs at least one open link. */
  canSignal(): boolean {
    return (this.node()?.linkIds().length ?? 0) > 0;
  }

  hasHost(): boolean {
    return this.hosts().some((t) => t.alive);
  }

  /** Outbound: opens a DataChannel to `peer` through the least busy live host tab. */
  async dial(peer: PeerRecord): Promise<Link> {
    // A first dial waits (briefly) for the ICE servers a server is handing out: TURN may be the only way.
    await this.ice?.ready(ICE_WAIT_MS);
    // A link with the peer already on its way (its offer we answered, or a dial of ours): the node
    // sees no session until the channel opens, so it may ask again. Making a second one would only
    // end in a duplicate.
    if ([...this.attempts.values()].some((x) => x.peer === peer.id && !x.live && !x.link.closed)) {
      throw new MeshError('DUPLICATE', `a WebRTC link with ${peer.id.slice(0, 12)} is already being made`);
    }
    const a = this.start(randomKey(), peer.id, true);
    if (!a) throw new MeshError('DIAL_FAILED', 'no live tab can host a PeerConnection');
    try {
      await withTimeout(a.link.opened, OPEN_TIMEOUT_MS, `WebRTC link to ${peer.id.slice(0, 12)}`);
    } catch (err) {
      // Not a failure of the peer's: its own dial to us, made at the same moment, is the one kept.
      if (a.crossed) throw new MeshError('DUPLICATE', `WebRTC dial to ${peer.id.slice(0, 12)} crossed the peer's dial to us, which is kept`);
      if (a.unreachableBy) {
        this.log(`webrtc dial ${peer.id.slice(0, 8)}: unreachable, said ${a.unreachableBy.slice(0, 8)}`);
        throw unreachableError(peer.id, a.unreachableBy);
      }
      this.log(`webrtc dial ${peer.id.slice(0, 8)} via tab ${a.tab.tabId.slice(0, 6)} failed: ${(err as Error).message}`);
      a.link.close('dial failed');
      throw err instanceof MeshError && err.code !== 'TIMEOUT' ? new MeshError('DIAL_FAILED', err.message) : new MeshError('DIAL_FAILED', (err as Error).message);
    }
    a.live = true;
    this.onLinkOpened?.(peer.id);
    return a.link;
  }

  /** A signal from the mesh: an offer starts an inbound attempt; anything else goes to its attempt's tab. */
  onSignal(from: string, body: string): void {
    let msg: { k?: unknown; t?: unknown; sdp?: unknown; why?: unknown };
    try {
      msg = JSON.parse(body) as { k?: unknown; t?: unknown; sdp?: unknown; why?: unknown };
    } catch {
      return;
    }
    if (typeof msg.k !== 'string' || msg.k.length > 64) return;
    if (this.debug) this.log(`signal ${String(msg.t)} ${msg.k.slice(0, 6)} from ${from.slice(0, 8)}`);
    let a = this.attempts.get(msg.k);
    if (a && a.peer !== from) return; // a key belongs to one peer
    if (!a) {
      const said = `${from}:${msg.k}`;
      if (msg.t === 'bye') this.rememberBye(said);
      if (msg.t !== 'offer') return;
      // The peer gave this attempt up before its offer got here (keepOwnDial on its side, a stale offer).
      if (this.byes.has(said)) return void this.node()?.counters.drop('webrtc:offer-after-bye');
      if (this.keepOwnDial(from, msg.k)) return;
      a = this.start(msg.k, from, false);
      if (!a) {
        // No tab here can make a PeerConnection (none open, or none has RTCPeerConnection).
        this.node()?.counters.drop('webrtc-no-host');
        return;
      }
      const attempt = a;
      withTimeout(a.link.opened, OPEN_TIMEOUT_MS, 'inbound WebRTC link').then(
        () => {
          attempt.live = true;
          this.onLinkOpened?.(from);
          const node = this.node();
          if (!node) return attempt.link.close('node not running');
          node.addLink(attempt.link, { outbound: false }).catch(() => undefined);
        },
        (err: Error) => {
          this.log(`inbound webrtc from ${from.slice(0, 8)} failed: ${err.message}`);
          attempt.link.close('inbound WebRTC link did not open');
        },
      );
    }
    a.heard = true;
    // The peer kept its own dial to us, which crossed this one (keepOwnDial on its side).
    if (msg.t === 'bye' && msg.why === CROSSED && a.initiator && !a.live) a.crossed = true;
    this.fingerprint(a, msg, 'remote');
    a.tab.signalRtc(a.key, body);
  }

  /**
   * `by`, the node closest to `peer`, dropped our signalling to it for want of a route and said
   * so (core unreachable.ts, the node's `unreachable` event): `peer` is most likely gone, and no
   * answer will come. Its attempts still being made end now, not at OPEN_TIMEOUT_MS: a dial of
   * ours then rejects as UNREACHABLE and frees its slot within a round trip, where it held one
   * for 15 s per departed peer (the lab's warm restart, docs/BENCHMARKS.md).
   */
  unreachable(peer: string, by: string): void {
    for (const a of this.attempts.values()) {
      if (a.peer !== peer || a.live || a.link.closed) continue;
      a.unreachableBy = by;
      a.link.close(`${peer.slice(0, 8)} unreachable`);
    }
  }

  /**
   * An offer from a peer we are dialling ourselves: the two dials crossed (both nodes learned of
   * each other at once, or both re-dial after a host tab closed). Both sides keep the attempt the
   * smaller id dialled, the rule links.ts applies to two open links, so they agree without a word:
   * one PeerConnection and one handshake instead of two, the second then closed as a duplicate.
   * True when ours is kept and the offer `key` is ignored. Each side tells the other it gave an
   * attempt up (a bye), so that neither waits out OPEN_TIMEOUT_MS for an answer that will not
   * come, should the other's offer not have reached it (it dialled after sending its answer).
   */
  private keepOwnDial(from: string, key: string): boolean {
    const node = this.node();
    const own = [...this.attempts.values()].find((x) => x.peer === from && x.initiator && !x.live && !x.link.closed);
    if (!node || !own) return false;
    // Our offer long gone and nothing heard: it never reached the peer, which would have answered
    // it rather than dial us (the larger id gives way; either side refuses a dial while an attempt
    // with the peer is under way). It went, say, into the server's link to the peer's previous
    // run, which the server had not yet seen close. Keeping it would make both wait out
    // OPEN_TIMEOUT_MS; the peer's offer is taken instead. Our bye tells the peer to ignore our
    // offer, should it still come.
    const stale = !own.heard && own.offeredAt !== undefined && Date.now() - own.offeredAt > this.staleOfferMs;
    if (stale) node.counters.drop('webrtc:stale-offer');
    if (node.id < from && !stale) {
      node.counters.drop('webrtc:crossed-offer');
      node.sendSignal(from, JSON.stringify({ k: key, t: 'bye', why: CROSSED })).catch(() => undefined);
      return true;
    }
    own.crossed = true;
    node.sendSignal(from, JSON.stringify({ k: own.key, t: 'bye', why: CROSSED })).catch(() => undefined);
    own.link.close("crossed the peer's dial to us, which is kept");
    return false;
  }

  /**
   * Notes the fingerprints of a description on its way out (ours) or in (the peer's). Once both
   * are known, the link carries them as its channel binding, which its handshake signs over
   * (session.ts): both descriptions are exchanged before DTLS, so before the link opens.
   */
  private fingerprint(a: Attempt, msg: { t?: unknown; sdp?: unknown }, side: 'local' | 'remote'): void {
    if ((msg.t !== 'offer' && msg.t !== 'answer') || typeof msg.sdp !== 'string') return;
    const fp = sdpFingerprints(msg.sdp);
    if (side === 'local') a.localFp = fp;
    else a.remoteFp = fp;
    a.link.channelBinding = a.localFp && a.remoteFp ? { local: a.localFp, remote: a.remoteFp } : undefined;
  }

  /** From a host tab: signalling to carry to the attempt's peer. */
  fromTab(tabId: string, key: string, body: string): void {
    const a = this.attempts.get(key);
    if (this.debug) this.log(`signal out ${key.slice(0, 6)} to ${a?.peer.slice(0, 8)} ${a ? '' : '(no attempt)'}`);
    // A closed attempt's late description (a crossed dial given up while its tab gathered) stays here.
    if (!a || a.tab.tabId !== tabId || a.link.closed) return;
    try {
      const msg = JSON.parse(body) as { t?: unknown; sdp?: unknown };
      if (msg.t === 'offer' && a.initiator) a.offeredAt ??= Date.now();
      this.fingerprint(a, msg, 'local');
    } catch {
      // Our own tab's JSON: cannot fail; an unparsable one only leaves the link unbound.
    }
    this.node()
      ?.sendSignal(a.peer, body)
      .catch(() => a.link.close('signalling unroutable'));
  }

  private rememberBye(said: string): void {
    this.byes.add(said);
    if (this.byes.size > BYES_KEPT) this.byes.delete(this.byes.values().next().value!);
  }

  /** From a host tab: the path ICE selected for an attempt. */
  pathFromTab(tabId: string, key: string, via: 'direct' | 'turn'): void {
    const a = this.attempts.get(key);
    if (a && a.tab.tabId === tabId) a.via = via;
  }

  /** The path of the open WebRTC link to each peer, for status. */
  paths(): Map<string, 'direct' | 'turn'> {
    const m = new Map<string, 'direct' | 'turn'>();
    for (const a of this.attempts.values()) if (a.live && !a.link.closed && a.via) m.set(a.peer, a.via);
    return m;
  }

  /** A tab died, or was frozen or cached: close what it hosted and dial again, through another tab, the links that were up. */
  tabDied(tabId: string): void {
    const peers = new Set<string>();
    for (const a of [...this.attempts.values()]) {
      if (a.tab.tabId !== tabId) continue;
      const wasLive = a.live && (!a.link.closed || Date.now() - (a.closedAt ?? 0) < REMEMBER_CLOSED_MS);
      a.link.close('host tab closed');
      this.attempts.delete(a.key);
      if (wasLive) peers.add(a.peer);
    }
    for (const peer of peers) this.redial(peer);
  }

  private redial(peer: string): void {
    const node = this.node();
    const rec = node?.memory.get(peer);
    if (!node || !rec || !this.hasHost()) return;
    // Queued behind the node's handling of the closed link, so `linkIds` is current.
    void node.actor
      .run(() => node.linkIds().includes(peer))
      .then(async (linked) => {
        if (linked) return;
        this.rehomed++;
        await node.addLink(await this.dial(rec), { outbound: true, expectedId: peer });
      })
      .catch(() => undefined);
  }

  private start(key: string, peer: string, initiator: boolean): Attempt | undefined {
    const tab = this.pickHost();
    if (!tab) return undefined;
    const channel = new MessageChannel();
    // eslint-disable-next-line prefer-const
    let a: Attempt;
    const link = new PortLink(channel.port1, {
      transport: 'webrtc',
      // The node's session encodes every frame afresh and keeps none: no copy before the transfer.
      framesGivenUp: true,
      // Until the hosting tab reports the peer's address from the selected candidate pair: one
      // address per peer, so a link whose address stays unknown is never capped with another.
      remoteAddress: `webrtc:${peer.slice(0, 16)}`,
      // Before the node hears of the close (and logs it to every tab): see TAB_PARKED.
      onFarClose: (reason) => reason === TAB_PARKED && this.parked(a.tab.tabId),
      learnAddress: true,
      onClosed: () => {
        a.closedAt = Date.now();
        this.onLinkClosed?.();
        setTimeout(() => this.attempts.get(key) === a && this.attempts.delete(key), REMEMBER_CLOSED_MS);
      },
    });
    a = { key, peer, initiator, tab, link, live: false };
    this.attempts.set(key, a);
    tab.openRtc(key, peer, initiator, channel.port2, (this.ice?.servers() ?? []) as RTCIceServer[]);
    return a;
  }

  /**
   * A visible live tab before a hidden one (browsers throttle hidden pages), and among those the
   * one hosting the fewest links: spreading them means one closing tab costs less.
   */
  private pickHost(): RtcHostTab | undefined {
    const load = new Map<string, number>();
    for (const a of this.attempts.values()) if (!a.link.closed) load.set(a.tab.tabId, (load.get(a.tab.tabId) ?? 0) + 1);
    const cost = (t: RtcHostTab) => (t.hidden ? 1e6 : 0) + (load.get(t.tabId) ?? 0);
    let best: RtcHostTab | undefined;
    for (const t of this.hosts()) {
      if (!t.alive) continue;
      if (!best || cost(t) < cost(best)) best = t;
    }
    return best;
  }

  /** The network address each open WebRTC link counts under, as its hosting tab reported it (for first-party status). */
  addresses(): Map<string, string> {
    const m = new Map<string, string>();
    for (const a of this.attempts.values()) if (a.live && !a.link.closed && a.link.remoteAddress) m.set(a.peer, a.link.remoteAddress);
    return m;
  }

  /** The open WebRTC links, the tab hosting each, and the link itself (fast-grants.ts). */
  hostedLinks(): { key: string; peer: string; tabId: string; link: Link }[] {
    const out: { key: string; peer: string; tabId: string; link: Link }[] = [];
    for (const a of this.attempts.values()) if (a.live && !a.link.closed) out.push({ key: a.key, peer: a.peer, tabId: a.tab.tabId, link: a.link });
    return out;
  }

  /** Links per host tab, for status. */
  hostedBy(): Map<string, number> {
    const m = new Map<string, number>();
    for (const a of this.attempts.values()) if (a.live && !a.link.closed) m.set(a.tab.tabId, (m.get(a.tab.tabId) ?? 0) + 1);
    return m;
  }
}

function randomKey(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(12)));
}
