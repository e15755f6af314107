/**
 * The receiving side of reliable datagrams in the host tab (docs/DATA-PLANE.md, "Reliable
 * datagrams"): a tab that hosts the bound link to peer P and holds the node's window for P with
 * its grant (`rx`: its app's only tab, or one the node told where the app's datagrams go) takes
 * P's ReliableData for its app off the link, delivers it to the app's listeners (here, and over
 * their channels in the app's other tabs) and writes the unsigned Ack back in the bound channel
 * itself, as the node does (services.ts `onReliableData`): no MessagePort leg at this end.
 *
 * At most once: the tab checks each message id against a window of its own (core/reliable.ts
 * ReliableWindow, the node's entries for P merged in), and the node refuses P's reliable
 * datagrams for the app while the tab holds the window (window-holds.ts). When its grant goes
 * (revoked, the link's entry gone, the tab parks or closes) the tab stops taking them and hands
 * its window back to the node (`reliable-window`), keeping its own copy: a grant given again
 * merges the node's entries into it. A duplicate copy is acked again, not delivered; with no
 * listener in the tab nothing is acked (the sender tries again), as at the node.
 */
import type { Clock } from '../core/clock.js';
import { bytesEqual } from '../core/bytes.js';
import { PacketKind } from '../core/packets.js';
import { type AppData, Payload } from '../core/payloads.js';
import { ReliableWindow } from '../core/reliable.js';
import type { Grant } from './tab-grant.js';

export interface TabReliableRxStats {
  reliableIn: number;
  reliableAckedOut: number;
  reliableWindowHandedBack: number;
}

export interface TabReliableRxHost {
  /**
   * Whether the app listens: in this tab (its only tab), or in any of its tabs, which the tab
   * then reaches over their channels (the node's `fast-listeners` list). Undefined: the app has
   * several tabs and no list now: the tab cannot deliver to all of them, and leaves it to the node.
   */
  listening(g: Grant): boolean | undefined;
  /** Delivers to the app's listeners: here, or in each of its listening tabs (fast-path.ts `deliverAll`). */
  deliver(g: Grant, data: AppData, port: number): void;
  /** Writes one clear packet of ours to the grant's peer, after those before it (fast-path.ts `queue`). */
  write(g: Grant, kind: number, plaintext: Uint8Array): Promise<boolean>;
  /** Posts a window handed back to the node (`reliable-window`). */
  handBack(w: { gen: number; window: number[] }): void;
  drop(reason: string): void;
}

export class TabReliableRx {
  /** Every peer's message ids delivered here (or handed over with a grant), each for WINDOW_MS. */
  private readonly window: ReliableWindow;
  /** Peer -> the window it holds now (`gen` of the grant's `rx`). */
  private readonly holds = new Map<string, number>();
  readonly stats: TabReliableRxStats = { reliableIn: 0, reliableAckedOut: 0, reliableWindowHandedBack: 0 };

  constructor(
    clock: Clock,
    private readonly host: TabReliableRxHost,
  ) {
    this.window = new ReliableWindow(clock);
  }

  /** A grant for `peer` came; with `rx`, the tab takes the peer's reliable datagrams under that window from now on (a window it held before is handed back first). */
  give(peer: string, rx: { gen: number; window: number[] } | undefined): void {
    this.handBack(peer);
    if (!rx) return;
    this.window.merge(peer, rx.window);
    this.holds.set(peer, rx.gen);
  }

  /** Whether the tab takes `peer`'s reliable datagrams now. */
  holding(peer: string): boolean {
    return this.holds.size > 0 && this.holds.has(peer);
  }

  /** It no longer does (its grant went): the window goes back to the node. */
  handBack(peer: string): void {
    const gen = this.holds.get(peer);
    if (gen === undefined) return;
    this.holds.delete(peer);
    this.stats.reliableWindowHandedBack++;
    this.host.handBack({ gen, window: this.window.entries(peer) });
  }

  /** The tab closes or parks: every window goes back. */
  handBackAll(): void {
    for (const peer of [...this.holds.keys()]) this.handBack(peer);
  }

  /**
   * P's ReliableData `plain` (clear, or opened), claimed on grant `g` (fast-path.ts: unsigned,
   * its exact encoding, from the link's own peer, to us). False: not this tab's to take (another
   * app, no window held for P any more): it goes to the node whole. `fresh` is the replay window
   * (after it, the packet is spent).
   */
  take(g: Grant, plain: Uint8Array, fresh: () => boolean): boolean {
    const d = Payload.reliableData.decode(plain);
    if (!d) return (this.host.drop('fast:bad-payload'), true);
    const listening = this.host.listening(g);
    if (!bytesEqual(d.app, g.app) || !this.holding(g.peer) || listening === undefined) return false;
    if (!fresh()) return true;
    if (this.window.has(g.peer, d.messageId)) {
      // A copy of a message already delivered: its ack was lost or is on its way. Ack again.
      this.host.drop('fast:duplicate-reliable');
      return (this.ack(g, d.messageId), true);
    }
    // Not acked, so the sender tries again: a listener may be there by then.
    if (!listening) return (this.host.drop('fast:no-listener'), true);
    if (!this.window.record(g.peer, d.messageId)) return (this.host.drop('fast:reliable-window-full'), true);
    this.stats.reliableIn++;
    this.host.deliver(g, d.data, d.port);
    this.ack(g, d.messageId);
    return true;
  }

  private ack(g: Grant, messageId: number): void {
    this.stats.reliableAckedOut++;
    void this.host.write(g, PacketKind.Ack, Payload.ack.encode({ messageId })).catch(() => this.host.drop('fast:ack-unwritten'));
  }
}
