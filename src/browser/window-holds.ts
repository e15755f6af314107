/**
 * The node's side of a host tab receiving a peer's reliable datagrams itself (docs/DATA-PLANE.md,
 * "Reliable datagrams"): which tab holds the receiving window for which peer and app. A window
 * is handed out with a grant (fast-grants.ts; the node refuses the peer's reliable datagrams for
 * that app from then on: core/reliable.ts WindowHandOver) and handed back by the tab when the
 * grant goes (`reliable-window`), its entries merged into the node's window. No other tab gets
 * the window for that peer and app while one holds it, so one window delivers at a time.
 *
 * A tab that dies without a word (a crash, a kill) cannot hand its window back. Its windows are
 * given up DEAD_TAB_WINDOW_GRACE_MS after the node learns of its death (time for what it posted
 * before it died to arrive), and the node takes the peer's reliable datagrams again: a message
 * that tab delivered and whose ack was lost with it may then be delivered once more. Refusing
 * for the window's life instead (150 s) would fail every reliable send of that peer to the app
 * for that long. The choice and its risk: docs/DATA-PLANE.md.
 */
import type { Clock } from '../core/clock.js';
import type { WindowHandOver } from '../core/reliable.js';
import { WINDOW_CAPACITY } from '../core/reliable.js';

/** How long after a tab's death the windows it did not hand back are given up (host.ts waits as long for a dead tab's answers). */
export const DEAD_TAB_WINDOW_GRACE_MS = 500;

const GIVEN_UP_KEPT = 64;

/** A window as it travels with a grant and back: `gen` names the hand-out; `window` is id, ms left, id, ms left... (ReliableWindow.entries). */
export interface HandedWindow {
  gen: number;
  window: number[];
}

interface Hold {
  tabId: string;
  peer: string;
  /** The app's name (the grant's tab's) and its id, as the node refuses by. */
  app: string;
  appId: Uint8Array;
}

export class WindowHolds {
  private readonly held = new Map<number, Hold>();
  /** Windows given up after their tab died, should their hand-back come after all (the latest few). */
  private readonly givenUp = new Map<number, Hold>();
  private nextGen = 1;
  readonly stats = { handedOut: 0, handedBack: 0, givenUp: 0 };

  constructor(private readonly clock: Clock) {}

  /** Whether a tab other than `tabId` holds the window for `peer` and `app`: no other tab may take it until that one hands it back. */
  heldElsewhere(tabId: string, peer: string, app: string): boolean {
    for (const h of this.held.values()) if (h.peer === peer && h.app === app && h.tabId !== tabId) return true;
    return false;
  }

  /** Tab `tabId` takes `peer`'s reliable datagrams for `app` from now on: the node refuses them, and the tab gets its window. */
  handOut(node: WindowHandOver, tabId: string, peer: string, app: string, appId: Uint8Array): HandedWindow {
    const gen = this.nextGen++;
    this.held.set(gen, { tabId, peer, app, appId });
    this.stats.handedOut++;
    return { gen, window: node.handOut(peer, appId) };
  }

  /**
   * Tab `tabId` hands back the window `gen` (`window`: what it remembers). False: not a window
   * that tab holds (one given up already: its entries are still remembered), or not one at all.
   */
  handBack(node: WindowHandOver, tabId: string, gen: unknown, window: unknown): boolean {
    if (!isWindow(window)) return false;
    const h = typeof gen === 'number' ? this.held.get(gen) : undefined;
    if (!h || h.tabId !== tabId) {
      // Given up after its tab died, then came after all: what it delivered is still worth remembering.
      const late = typeof gen === 'number' ? this.givenUp.get(gen) : undefined;
      if (late?.tabId === tabId) node.remember(late.peer, window);
      return false;
    }
    this.held.delete(gen as number);
    this.stats.handedBack++;
    node.handBack(h.peer, h.appId, window);
    return true;
  }

  /** Tab `tabId` is gone: its windows still out are given up after the grace, then `after` runs (the grants are checked again). */
  tabGone(node: () => WindowHandOver | undefined, tabId: string, after: () => void): void {
    if (![...this.held.values()].some((h) => h.tabId === tabId)) return;
    this.clock.setTimeout(() => {
      const n = node();
      for (const [gen, h] of [...this.held]) {
        if (h.tabId !== tabId) continue;
        this.held.delete(gen);
        this.stats.givenUp++;
        this.givenUp.set(gen, h);
        if (this.givenUp.size > GIVEN_UP_KEPT) this.givenUp.delete(this.givenUp.keys().next().value!);
        n?.handBack(h.peer, h.appId, []);
      }
      after();
    }, DEAD_TAB_WINDOW_GRACE_MS);
  }

  /** Windows out now. */
  get size(): number {
    return this.held.size;
  }
}

/** An even-length list of numbers, at most a full window's. */
function isWindow(w: unknown): w is number[] {
  return Array.isArray(w) && w.length % 2 === 0 && w.length <= 2 * WINDOW_CAPACITY && w.every((x) => typeof x === 'number');
}
