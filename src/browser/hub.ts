/**
 * The hub page's script (/meshwork/hub.html): apps on other origins embed the page as a hidden
 * iframe and hand it a MessagePort; the hub joins that port to this origin's SharedWorker, so
 * apps on many origins share one browser node (docs/BROWSER.md, "The hub").
 *
 * For each app the hub *is* the tab as far as the worker knows: it holds the tab's Web Lock,
 * hosts the app's PeerConnections (it is a document; the app page never sees a PeerConnection
 * port), and says hello in the app's place, with a tab id and namespace the hub chooses. Every
 * other message is relayed unchanged, but for the app's `closing`, which may name only requests
 * the hub relayed to that app. The app's origin comes only from `event.origin`.
 */
import { MeshError } from '../core/errors.js';
import { HUB_CONNECT, hubNamespace, type HubAnswer } from './hub-protocol.js';
import { canAskForStorageAccess, openHubStorage, requestHubStorage, type HubStorage } from './hub-storage.js';
import { pageHidden, watchLifecycle } from './lifecycle.js';
import type { HostEvent, HostReply, TabRequestMessage } from './protocol.js';
import { pageHasRtc, TAB_LOCK_PREFIX, TAB_PARKED } from './protocol.js';
import { randomHex } from './random-hex.js';
import { RtcHost } from './rtc-host.js';

interface HubConfig {
  /** Allowed app origins; null: any. */
  allow: string[] | null;
}

const config = readConfig();
const workerUrl = new URL('./worker.js', import.meta.url).href;
const bootstrap = [`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mesh`];
let storage: Promise<HubStorage> | undefined;
const sessions = new Set<HubSession>();

addEventListener('message', (e: MessageEvent) => {
  const port = e.ports[0];
  if ((e.data as { type?: unknown } | null)?.type !== HUB_CONNECT || !port) return;
  // An opaque origin ('null': sandboxed frames, data: URLs) cannot be told apart from another: never allowed.
  if (e.origin === 'null' || (config.allow && e.origin !== location.origin && !config.allow.includes(e.origin))) {
    // Answered on the app's own port: nothing is posted to a window, so no target origin is needed.
    port.postMessage({ accepted: false, error: `the hub at ${location.origin} does not allow apps from ${e.origin}` } satisfies HubAnswer);
    port.close();
    return;
  }
  storage ??= openHubStorage().then((s) => (offerSharing(s), s));
  void storage.then((s) => sessions.add(new HubSession(e.origin, port, s)));
});

// The app page going away takes this iframe with it. Say goodbye for every app: where Web Locks
// are refused (Firefox, in a partitioned iframe) this is how the worker learns the tab is gone.
// The app's own `closing` may still come after this (Firefox, a page navigating away): heard.
addEventListener('pagehide', (e: PageTransitionEvent) => {
  if (e.persisted) return; // into the back/forward cache: parked below
  for (const s of sessions) s.close(true);
});

// The app page frozen or put in the back/forward cache takes this iframe with it. The hub parks
// each app's session here, at its own pagehide or freeze: a message the app page posted at its
// pagehide may reach this frame only once both are restored (scripts/probes/hub-bfcache.ts), and
// a reply from the worker to a cached frame gets the page evicted (Chromium, SharedWorkerMessage).
// Restored, the app page says hello again through its port, which resumes the session.
// Hidden or shown, this frame is its app page's: the worker places new links on visible tabs first,
// and only this frame can tell it (the app page hosts nothing and says nothing of it).
watchLifecycle({ park: () => sessions.forEach((s) => s.park()), resume: () => undefined, visibility: (hidden) => sessions.forEach((s) => s.visibility(hidden)) });

/**
 * Storage access needs a user gesture in this frame. An app that shows the hub frame
 * (`mesh.hubFrame`) lets its user press this button; on success every app moves to the shared node.
 */
function offerSharing(current: HubStorage): void {
  if (current.mode === 'shared' || !canAskForStorageAccess()) return;
  const button = document.createElement('button');
  button.id = 'share';
  button.textContent = 'Use one mesh node on every site';
  button.onclick = async () => {
    button.disabled = true;
    const next = await requestHubStorage(60_000);
    if (next.mode === 'shared') {
      storage = Promise.resolve(next);
      button.remove();
    } else button.disabled = false;
    for (const s of sessions) s.use(next);
  };
  document.body.append(button);
}

class HubSession {
  private readonly tabId = randomHex(12);
  private worker!: MessagePort;
  private readonly rtc: RtcHost;
  private locked!: Promise<unknown>;
  private releaseLock: () => void = () => undefined;
  private mode: HubStorage['mode'];
  /** Ids of the hub's own calls to the worker: negative, so they never meet the app's. */
  private nextOwnId = -1;
  private closed = false;
  /**
   * Requests the worker asked this app to run and the app has not answered (their `rid`): all an
   * app's `closing` may name. Rids count across the node's tabs, so another site's are easy to
   * guess; the worker fails only the closing tab's own, and the hub never passes on any other.
   */
  private readonly asked = new Set<number>();
  /** The app's `closing` was passed on: once per session. */
  private saidClosing = false;

  constructor(
    private readonly origin: string,
    private readonly app: MessagePort,
    storage: HubStorage,
  ) {
    this.rtc = new RtcHost((key, body) => this.worker.postMessage({ op: 'rtc-signal', key, body, id: this.nextOwnId-- }));
    this.mode = storage.mode;
    this.attach(storage);
    this.app.onmessage = (e: MessageEvent) => void this.locked.then(() => this.fromApp(e.data as TabRequestMessage));
    this.app.postMessage({ accepted: true, mode: storage.mode, reason: storage.reason } satisfies HubAnswer);
  }

  /** Storage access changed: tell the app; on reaching the shared node, leave the per-site one. */
  use(storage: HubStorage): void {
    if (this.closed) return;
    if (storage.mode !== this.mode) {
      this.mode = storage.mode;
      this.detach();
      this.asked.clear(); // asked by the node this app leaves
      this.attach(storage);
    }
    // The app says hello again (to the new node, if it moved) and registers its handlers anew.
    this.app.postMessage({ ev: 'hub-mode', mode: storage.mode, reason: storage.reason } satisfies HostEvent);
  }

  /**
   * This frame is being frozen or cached with its app page: the worker holds what it has for the
   * app (replies, requests for its handlers) until the app says hello again, and moves the links
   * this frame hosts, as for a same-origin tab (docs/BROWSER.md, "Frozen, cached and hidden tabs").
   * A notice, never answered: a reply would evict the cached page.
   */
  park(): void {
    if (this.closed) return;
    this.worker.postMessage({ op: 'lifecycle', state: 'parked', id: 0 } satisfies TabRequestMessage);
    this.rtc.closeAll(TAB_PARKED);
  }

  /** The app page (and this frame with it) was hidden or shown: a notice, as a same-origin tab's. */
  visibility(hidden: boolean): void {
    if (this.closed) return;
    this.worker.postMessage({ op: 'lifecycle', state: hidden ? 'hidden' : 'visible', id: 0 } satisfies TabRequestMessage);
  }

  /**
   * `pageGoing`: this frame's pagehide. The app page's `closing`, posted at its own pagehide, may
   * come after that (Firefox, when the page navigates away; docs/BROWSER.md "The hub"), so the
   * app's port and the old worker port stay open to pass it on; the document takes them with it.
   */
  close(pageGoing = false): void {
    if (this.closed) return;
    this.closed = true;
    sessions.delete(this);
    this.detach(!pageGoing);
    if (!pageGoing) this.app.close();
  }

  private attach(storage: HubStorage): void {
    this.worker = storage.openWorker(workerUrl).port;
    this.worker.onmessage = (e: MessageEvent) => this.fromWorker(e.data as HostReply | HostEvent);
    // The worker asks for the tab's lock when it hears hello: hold it first, or the tab is "dead" at once.
    this.locked = holdLock(storage.locks, TAB_LOCK_PREFIX + this.tabId).then((release) => (this.releaseLock = release));
  }

  private detach(closePort = true): void {
    const worker = this.worker;
    worker.onmessage = null;
    worker.postMessage({ op: 'bye', id: this.nextOwnId-- });
    this.rtc.closeAll();
    this.releaseLock();
    if (closePort) setTimeout(() => worker.close(), 50);
  }

  private fromApp(m: TabRequestMessage): void {
    if (typeof m !== 'object' || m === null || typeof m.id !== 'number') return;
    // The one notification (id 0, no reply) an app sends: its page is going (pagehide, close()).
    // It comes after every answer the app posted (one port, in order) and goes on in that order,
    // even after this frame's pagehide said bye (see close): the worker then settles at once what
    // the bye's grace would have.
    if (m.op === 'closing') return this.appClosing(m.started);
    if (this.closed || m.id <= 0) return;
    switch (m.op) {
      case 'hello':
        // The hub, not the app, names the tab, the namespace, the origin and the servers: an app
        // cannot take over another app's session, read another origin's ports or make the node dial.
        // Nor loosen the node's per-address link cap (a security limit) if its hello comes first.
        return this.worker.postMessage({ ...m, tabId: this.tabId, app: hubNamespace(this.origin, String(m.app)), origin: this.origin, bootstrap, canHost: pageHasRtc(), rtc: pageHasRtc(), hidden: pageHidden(), fastPath: false, maxLinksPerAddress: undefined });
      case 'rtc-signal':
        return; // only the hub hosts PeerConnections
      case 'bye':
        this.app.postMessage({ re: m.id, ok: true } satisfies HostReply);
        return this.close(); // says bye to the worker
      case 'reply':
        this.asked.delete(m.rid);
        return this.worker.postMessage(m);
      default:
        this.worker.postMessage(m);
    }
  }

  private fromWorker(m: HostReply | HostEvent): void {
    if (this.closed || typeof m !== 'object' || m === null) return;
    if ('re' in m) {
      if (m.re > 0) this.app.postMessage(m);
      else if (!m.ok) console.warn(`meshwork hub: ${m.error.message}`);
      return;
    }
    if (m.ev === 'request') this.asked.add(m.rid);
    if (m.ev === 'rtc-open') return this.rtc.open(m.key, m.initiator, m.port as MessagePort, m.iceServers);
    if (m.ev === 'rtc-signal') return void this.rtc.onSignal(m.key, m.body);
    this.app.postMessage(m);
  }

  /**
   * The app's page is going. Its `closing` names the requests whose handler it started and will
   * not answer: the worker fails those with HANDLER_CLOSED and gives the rest to another tab at
   * once, instead of waiting out the grace of a tab gone without a word (the hub's `bye`). Only
   * requests the hub relayed to this app and it has not answered are passed on.
   */
  private appClosing(started: unknown): void {
    if (this.saidClosing) return;
    this.saidClosing = true;
    const own = Array.isArray(started) ? started.filter((rid): rid is number => typeof rid === 'number' && this.asked.has(rid)) : [];
    this.asked.clear();
    this.worker.postMessage({ op: 'closing', started: own, id: 0 } satisfies TabRequestMessage);
  }
}

/** Holds `name` until released. Where locks are refused (a partitioned iframe in Firefox) it holds nothing. */
function holdLock(locks: LockManager, name: string): Promise<() => void> {
  return new Promise((resolve) => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const refused = () => resolve(() => undefined);
    try {
      locks
        .request(name, () => {
          resolve(release);
          return held;
        })
        .catch(refused);
    } catch {
      refused();
    }
  });
}

function readConfig(): HubConfig {
  const text = document.getElementById('meshwork-hub-config')?.textContent;
  const parsed = text ? (JSON.parse(text) as Partial<HubConfig>) : {};
  if (parsed.allow !== null && !Array.isArray(parsed.allow)) throw new MeshError('INVALID_ARGUMENT', 'the hub page has no allow list: serve it with meshwork serve');
  return { allow: parsed.allow };
}
