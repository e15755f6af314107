/**
 * Requests to an app's tabs: which tabs handle which port of which app, and the requests the
 * node asked a tab to run until it answers. The node has one handler per (app, port) while a
 * tab handles it; a request goes to the first live tab that does, and to another one if that
 * tab dies meanwhile. The host tab of a link does the same for its peer's requests while the
 * app has several tabs (relay-grants.ts `fast-handlers`, from `of`), and gives the node what it
 * could not.
 *
 * A tab that closes says so (`closing`, posted at its pagehide after every answer it posted, so
 * its port brings them first) and names the requests whose handler it started and has not
 * answered. Those fail to their requester with HANDLER_CLOSED: the handler may have done part of
 * its work (written, sent, charged), and running it again in another tab could do it twice; the
 * requester is told, and decides. The ones it never started go to another tab at once. A tab
 * that dies without a word (a crash, a kill, a frozen tab discarded) is learnt of from its lock
 * alone: then a grace for answers still on their way, and another tab (retryFrom).
 */
import { MeshError } from '../core/errors.js';
import type { Message, MeshNode } from '../core/node.js';
import type { AppData } from '../core/payloads.js';
import { appKey, ownApp, type TabSession } from './host-tab.js';

/** Tabs that went and what became of their requests (status().tabsGone; TabHandlers.gone). */
export interface GoneCounts {
  closing: number;
  silent: number;
  moved: number;
  failed: number;
  afterGrace: number;
}

const noneGone = (): GoneCounts => ({ closing: 0, silent: 0, moved: 0, failed: 0, afterGrace: 0 });

/** Apps whose tabsGone are kept apart (goneByApp): each needs a tab of its own, so only a flood of names reaches it. */
const MAX_APPS_COUNTED = 1_024;

interface PendingReply {
  resolve: (d: AppData) => void;
  reject: (e: Error) => void;
  tab: TabSession;
  port: number;
  retry: () => void;
}

export class TabHandlers {
  /** Keyed by app and port (appKey). */
  private readonly byPort = new Map<string, { tabs: TabSession[]; off: () => void }>();
  private readonly replies = new Map<number, PendingReply>();
  private nextRid = 1;
  /** Requests the node asked a tab to run (ask), retries included: status().tabRequests. */
  asked = 0;
  /**
   * Tabs that went, and what became of the requests they had not answered (status().tabsGone):
   * `closing`, tabs that said so; `silent`, tabs whose death their lock told before any word
   * from them (counted by the host: a crash, or a `closing` still on its way, since the lock is
   * not ordered with the port; Firefox often tells the lock first); `moved` and `failed`,
   * requests given to another tab or failed at a `closing`; `afterGrace`, requests given to
   * another tab once a grace was over with no `closing`.
   */
  readonly gone = noneGone();
  /**
   * The same per app of one origin (ownApp): all a hub app is told (host-status.ts), so one site
   * cannot watch another's tabs come and go. Kept for the last MAX_APPS_COUNTED apps.
   */
  private readonly goneByApp = new Map<string, GoneCounts>();

  /** `tabsGone` as `tab`'s own app sees it: tabs of its origin and app alone. */
  goneOf(tab: TabSession): GoneCounts {
    return { ...(this.goneByApp.get(ownApp(tab)) ?? noneGone()) };
  }

  /** Counts one of `tab`'s way of going (or its requests'), for the node and for its own app. */
  countGone(tab: TabSession, what: keyof GoneCounts): void {
    this.gone[what]++;
    const key = ownApp(tab);
    const mine = this.goneByApp.get(key) ?? noneGone();
    this.goneByApp.delete(key); // last counted last: the oldest goes first past the cap
    this.goneByApp.set(key, mine);
    mine[what]++;
    if (this.goneByApp.size > MAX_APPS_COUNTED) this.goneByApp.delete(this.goneByApp.keys().next().value!);
  }

  add(node: MeshNode, tab: TabSession, port: number): void {
    const key = appKey(tab.app, port);
    let entry = this.byPort.get(key);
    if (!entry) {
      const off = node.handle(port, (m) => this.ask(key, m), { app: tab.app });
      entry = { tabs: [], off };
      this.byPort.set(key, entry);
    }
    if (!entry.tabs.includes(tab)) entry.tabs.push(tab);
  }

  remove(tab: TabSession, port: number): void {
    this.removeKey(tab, appKey(tab.app, port));
  }

  /** The tab is gone: it handles nothing any more (its pending requests: retryFrom). */
  removeTab(tab: TabSession): void {
    for (const key of [...this.byPort.keys()]) this.removeKey(tab, key);
  }

  /** The handling tabs of each port of `app`, in the order `ask` tries them. */
  of(app: string): [number, TabSession[]][] {
    const out: [number, TabSession[]][] = [];
    for (const [key, entry] of this.byPort) {
      const [a, port] = JSON.parse(key) as [string, number];
      if (a === app) out.push([port, entry.tabs]);
    }
    return out;
  }

  /** A tab's answer to request `rid`; only the tab that was asked may give it. */
  onReply(tab: TabSession, rid: number, ok: boolean, data: AppData): void {
    const p = this.replies.get(rid);
    if (!p || p.tab !== tab) return;
    this.replies.delete(rid);
    if (ok) p.resolve(data);
    else p.reject(new Error(typeof data === 'string' ? data : 'handler failed'));
  }

  /** `to` is the same page as `from`, registered again: the requests `from` was asked and has not answered are `to`'s to answer. */
  handOver(from: TabSession, to: TabSession): void {
    for (const p of this.replies.values()) if (p.tab === from) p.tab = to;
  }

  /**
   * The requests `tab` was asked and did not answer go to another tab that handles their port
   * (or fail), after `graceMs`. A tab that dies may have run a request and posted its answer
   * just before: that answer is still on its way on the tab's port, and the lock that tells us
   * of the death is not ordered with the port. Until the grace is over the answer is still
   * taken (onReply), so a request that ran is not run a second time by another tab.
   */
  retryFrom(tab: TabSession, graceMs = 0): void {
    const pending = [...this.replies].filter(([, p]) => p.tab === tab);
    if (pending.length === 0) return;
    const retry = () => {
      for (const [rid, p] of pending) {
        if (this.replies.get(rid) !== p) continue; // answered meanwhile, or its `closing` came
        this.replies.delete(rid);
        this.countGone(p.tab, 'afterGrace');
        p.retry();
      }
    };
    if (graceMs > 0) setTimeout(retry, graceMs);
    else retry();
  }

  /**
   * `tab` said it is closing (after every answer it posted): of the requests it was asked and has
   * not answered, those in `started` fail with HANDLER_CLOSED and the others go to another tab
   * now. Call it once the tab handles nothing (removeTab), so none goes back to it. Whether the
   * tab's lock told of its death first or not: a grace still running finds nothing left.
   */
  closed(tab: TabSession, started: readonly number[]): void {
    this.countGone(tab, 'closing');
    const ran = new Set(started);
    for (const [rid, p] of [...this.replies]) {
      if (p.tab !== tab) continue;
      this.replies.delete(rid);
      if (ran.has(rid)) {
        this.countGone(tab, 'failed');
        p.reject(new MeshError('HANDLER_CLOSED', `the tab running the handler of port ${p.port} closed before it answered; it was not run again`));
      } else {
        this.countGone(tab, 'moved');
        p.retry();
      }
    }
  }

  private removeKey(tab: TabSession, key: string): void {
    const entry = this.byPort.get(key);
    if (!entry) return;
    entry.tabs = entry.tabs.filter((t) => t !== tab);
    if (entry.tabs.length === 0) {
      entry.off();
      this.byPort.delete(key);
    }
  }

  /** Runs a request through the first live tab that handles its port; another one if that tab dies meanwhile. */
  private ask(key: string, m: Message): Promise<AppData> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const tabs = this.byPort.get(key)?.tabs ?? [];
        // A parked tab answers only when it comes back: ask a running one first.
        const tab = tabs.find((t) => t.alive && !t.parked) ?? tabs.find((t) => t.alive);
        if (!tab) return reject(new MeshError('UNREACHABLE', `no open tab handles port ${m.port}`));
        const rid = this.nextRid++;
        this.asked++;
        this.replies.set(rid, { resolve, reject, tab, port: m.port, retry: attempt });
        tab.conn.post({ ev: 'request', rid, from: m.from, data: m.data, port: m.port });
      };
      attempt();
    });
  }
}
