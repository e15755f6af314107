/**
 * The data plane in the host tab (docs/DATA-PLANE.md), node side: which tab may seal and open
 * application packets to and from which linked peer itself. A grant for the WebRTC link to peer
 * P hosted by tab T is given when all of these hold, and taken back as soon as one does not:
 *
 * - the link is open, it is the node's only open WebRTC link to P, and the node admitted it (its
 *   handshake is done: the tab then sends on the link the node uses, and never a packet inside
 *   a handshake, which the peer refuses as HANDSHAKE_FAILED and closes the link for);
 * - T asked for the data plane, runs (not parked), and is a page of the node's own origin;
 *   it may also take the peer's datagrams and requests (`inbound`) only while it is the only
 *   live tab of its app: a datagram T takes is then delivered to every listener of the app, as
 *   the node would deliver it (a change of `inbound` is a revoke and a new grant);
 * - the link's handshake bound its DTLS channel to P (session.ts `channelBound`: the tab then
 *   writes and takes P's packets in the clear inside it, as the node does), or else the node
 *   knows P's X25519 key and P is known to hold ours (e2e.ts pairFor): exactly when the node
 *   itself sends P unsigned sealed packets, and the tab seals and opens them with the pair key.
 *
 * It is checked again on every event that may change one of them: a link up or down, a tab's
 * hello, park or death, and a change of what the node may seal to P (the `peer-key` event).
 * Each granted tab gets a packet-id lane (1-7) for its life, so its ids and the node's never
 * fall under each other's replay floor (replay-guard.ts). Every other tab of the node may send
 * through T's link over a channel to T (relay-grants.ts), told after each check.
 */
import { appId } from '../core/app-namespace.js';
import type { MeshNode } from '../core/node.js';
import { LANES, NODE_LANE } from '../core/replay-guard.js';
import type { Link } from '../core/link.js';
import type { AppData } from '../core/payloads.js';
import type { HostEvent } from './protocol.js';
import { requestLane } from './tab-grant.js';
import { WindowHolds } from './window-holds.js';
import { systemClock } from '../core/clock.js';

export type FastGrantMessage = Extract<HostEvent, { ev: 'fast-grant' }>;

/** What the grants need of a tab. */
export interface FastTab {
  readonly tabId: string;
  readonly app: string;
  readonly alive: boolean;
  readonly parked: boolean;
  /** It told the node it parks or closes, after posting its relay channels' `bye`s (relay-grants.ts). */
  readonly saidLeaving: boolean;
  /** Undefined for a page of the node's own origin. */
  readonly origin: string | undefined;
  readonly fastPath: boolean;
  post(message: HostEvent, transfer?: Transferable[]): void;
}

export interface FastGrantsHost {
  node(): MeshNode | undefined;
  tabs(): Iterable<FastTab>;
  hostedLinks(): { key: string; peer: string; tabId: string; link: Link }[];
  log(text: string): void;
  /** The grants in force changed, or may have (relay-grants.ts): called after each revoke and grant pass, with no await between. */
  settled?(given: ReadonlyMap<string, { tab: FastTab; message: FastGrantMessage }>): void;
  /** Whether host tab `tab`, whose app has several tabs, is told where its app's datagrams go (relay-grants.ts `fansOut`). */
  fansOut?(tab: FastTab): boolean;
  /** A grant for `peer` went to `tab` (answers-home.ts: the answers it may hand the node). */
  granted?(tab: FastTab, peer: string): void;
}

interface Given {
  peer: string;
  tab: FastTab;
  peerPublic: string;
  inbound: boolean;
  bound: boolean;
  /** The tab takes the peer's reliable datagrams for its app, with the window handed out to it (window-holds.ts). */
  rx: boolean;
  /** As posted, less the window (relay-grants.ts copies it for other tabs). */
  message: FastGrantMessage;
}

type Same = Pick<Given, 'tab' | 'peerPublic' | 'inbound' | 'bound' | 'rx'>;
const same = (a: Same, b: Same) => a.tab === b.tab && a.peerPublic === b.peerPublic && a.inbound === b.inbound && a.bound === b.bound && a.rx === b.rx;

export class FastGrants {
  /** By link key. */
  private readonly given = new Map<string, Given>();
  private readonly lanes = new Map<FastTab, number>();
  private running = false;
  private again = false;
  granted = 0;
  revoked = 0;
  /** The receiving windows of the peers' reliable datagrams handed to host tabs (window-holds.ts). */
  readonly windows: WindowHolds;

  constructor(private readonly host: FastGrantsHost, clock = systemClock) {
    this.windows = new WindowHolds(clock);
  }

  /** Checks every grant again (see the file comment); revocations go out before anything is awaited. */
  refresh(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    });
  }

  /** A tab is gone: its grants with it (no message: nobody is there), and its lane is free again. */
  tabGone(tab: FastTab): void {
    for (const [key, g] of [...this.given]) if (g.tab === tab) this.given.delete(key);
    this.lanes.delete(tab);
    this.windows.tabGone(() => this.host.node()?.reliableHandOver, tab.tabId, () => this.refresh());
    this.refresh();
  }

  /** A tab hands back the receiving window `gen` (its grant went): merged into the node's, and another tab may take it now. */
  handBack(tab: FastTab, gen: unknown, window: unknown): void {
    const node = this.host.node();
    if (!node) return;
    if (!this.windows.handBack(node.reliableHandOver, tab.tabId, gen, window)) return node.counters.drop('tab:stray-window');
    this.refresh();
  }

  private async run(): Promise<void> {
    const wanted = this.wanted();
    for (const [key, g] of [...this.given]) {
      const w = wanted.get(key);
      if (w && same(w, g)) continue;
      this.given.delete(key);
      this.revoked++;
      if (g.tab.alive) g.tab.post({ ev: 'fast-revoke', key, reason: w ? 'changed' : 'no longer eligible' });
    }
    this.host.settled?.(this.given);
    for (const [key, w] of wanted) {
      if (this.given.has(key)) continue;
      const lane = this.laneOf(w.tab);
      if (lane === undefined) continue;
      const aes = w.pair ? await w.pair.aes.catch(() => undefined) : undefined;
      // Checked again after the wait: the link, the tab or the key may have changed meanwhile.
      const now = this.wanted().get(key);
      if ((!aes && !w.bound) || !now || !same(now, w) || this.given.has(key)) continue;
      const node = this.host.node()!;
      const app = appId(w.tab.app);
      const message: FastGrantMessage = {
        ev: 'fast-grant', key, peer: w.peer, self: node.id, bound: w.bound, app, lane, inbound: w.inbound,
        ...(aes && w.pair ? { aes: aes as CryptoKey, ownPublic: w.pair.ownPublic, peerPublic: w.pair.peerPublic } : {}),
      };
      // The node's window for the peer goes with the grant, and in this same turn the node starts refusing what the tab now takes.
      const rx = w.rx ? this.windows.handOut(node.reliableHandOver, w.tab.tabId, w.peer, w.tab.app, app) : undefined;
      try {
        w.tab.post(rx ? { ...message, rx } : message);
      } catch (err) {
        if (rx) this.windows.handBack(node.reliableHandOver, w.tab.tabId, rx.gen, []);
        // An engine that cannot post a CryptoKey to a page: that tab goes through the node.
        this.host.log(`fast path: cannot grant ${w.peer.slice(0, 8)} to tab ${w.tab.tabId.slice(0, 6)}: ${(err as Error).message}`);
        continue;
      }
      this.given.set(key, { peer: w.peer, tab: w.tab, peerPublic: w.peerPublic, inbound: w.inbound, bound: w.bound, rx: w.rx, message });
      this.granted++;
      this.host.granted?.(w.tab, w.peer);
    }
    this.host.settled?.(this.given);
  }

  /** The grants that should exist now, by link key. */
  private wanted(): Map<string, Wanted> {
    const out = new Map<string, Wanted>();
    const node = this.host.node();
    if (!node) return out;
    const tabs = [...this.host.tabs()].filter((t) => t.alive);
    const links = this.host.hostedLinks();
    const perPeer = new Map<string, number>();
    for (const l of links) perPeer.set(l.peer, (perPeer.get(l.peer) ?? 0) + 1);
    for (const l of links) {
      // A channel opens before its handshake: until the node admits the link, only the node speaks on it.
      if (perPeer.get(l.peer) !== 1 || !node.linkedOn(l.peer, l.link)) continue;
      const tab = tabs.find((t) => t.tabId === l.tabId);
      if (!tab || !tab.fastPath || tab.parked || tab.origin !== undefined) continue;
      const inbound = tabs.filter((t) => t.app === tab.app).length === 1;
      const pair = node.fastPair(l.peer);
      const bound = node.boundOn(l.peer, l.link);
      if (!pair && !bound) continue;
      // The peer's reliable datagrams: on a bound link to the app's only tab, or to a tab told where
      // the app's datagrams go (several tabs: it hands them out), unless another tab still holds their window.
      const rx = bound && (inbound || this.host.fansOut?.(tab) === true) && !this.windows.heldElsewhere(tab.tabId, l.peer, tab.app);
      out.set(l.key, { peer: l.peer, tab, peerPublic: pair ? hex(pair.peerPublic) : '', inbound, bound, rx, pair });
    }
    return out;
  }

  /**
   * The node got the answer to a request a tab sent on its data plane (the id is in the lane
   * that tab holds: tab-grant.ts), on a link that tab holds no grant for: it goes on to the tab,
   * which settles it if it still waits (tab-requests.ts). False: no tab holds that lane.
   */
  answerTab(from: string, rid: number, ok: boolean, data: AppData, code?: string): boolean {
    const lane = requestLane(rid);
    for (const [tab, held] of this.lanes) {
      if (held !== lane || !tab.alive) continue;
      tab.post({ ev: 'fast-answer', rid, from, ok, data, ...(code !== undefined ? { code } : {}) });
      return true;
    }
    return false;
  }

  /**
   * An Ack for a reliable datagram the node is not sending reached it (on another link to the
   * peer, while links re-home): it may be for a send a tab began on its data plane
   * (tab-reliable.ts), whose message id names no tab, so it goes to every live tab that held a
   * grant (a lane); the one sending that message to `from` settles it, the others ignore it.
   * False: no such tab (the node counts it `late-ack`).
   */
  ackTab(from: string, messageId: number): boolean {
    let told = false;
    for (const tab of this.lanes.keys()) {
      if (!tab.alive) continue;
      tab.post({ ev: 'fast-ack', from, messageId });
      told = true;
    }
    return told;
  }

  /** The tab's packet-id lane, held for its life; undefined when all are taken. */
  laneOf(tab: FastTab): number | undefined {
    const held = this.lanes.get(tab);
    if (held !== undefined) return held;
    const used = new Set(this.lanes.values());
    for (let lane = NODE_LANE + 1; lane < LANES; lane++) {
      if (used.has(lane)) continue;
      this.lanes.set(tab, lane);
      return lane;
    }
    return undefined;
  }
}

interface Wanted {
  peer: string;
  tab: FastTab;
  peerPublic: string;
  inbound: boolean;
  bound: boolean;
  rx: boolean;
  pair: ReturnType<MeshNode['fastPair']>;
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
