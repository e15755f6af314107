/**
 * The tab API: `const mesh = await connect()`. Every tab of an origin shares one node, hosted in
 * a SharedWorker (or, where there is none, in a leader tab). This module is the entry point of
 * the tab's side (dist/browser/client.js): connect() finds or starts the host, takes the tab's
 * lock and says hello; the Mesh it resolves with is mesh.ts.
 */
import { MeshError } from '../core/errors.js';
import { mark, type BootMarks } from './boot-marks.js';
import { portConn } from './conn.js';
import type { WorkProgress } from './key-store.js';
import type { LeaderTabConn } from './leader.js';
import type { Conn } from './protocol.js';
import { pageHasRtc, TAB_LOCK_PREFIX, WORKER_OPTIONS } from './protocol.js';
import { randomHex } from './random-hex.js';
import { Mesh } from './mesh.js';
import { withTimeout } from './with-timeout.js';

export { MeshError } from '../core/errors.js';
export type { MeshErrorCode } from '../core/errors.js';
export type { AppData } from '../core/payloads.js';
export type { AttachedApp, BrowserStatus, BrowserLinkStatus, HostKind } from './protocol.js';
export type { WorkProgress } from './key-store.js';
export type { HubMode, HubStatus } from './hub-protocol.js';
export type { MeshStream } from './tab-streams.js';
export type { Handler, MeshMessage, TopicMessage } from './tab-registrations.js';
export { Mesh } from './mesh.js';

export interface ConnectOptions {
  /** WebSocket URLs of servers to join through. Default: `ws(s)://<this page's host>/mesh`. */
  bootstrap?: string[];
  /**
   * App name: apps sharing a node see only their own ports and topics. Default: the default app.
   * Node peers address it as `{ app }` (through a hub: `{ app: '<this origin>/<app>' }`).
   */
  app?: string;
  /** URL of the worker bundle. Default: `worker.js` beside this module. */
  worker?: string;
  /** Run the node in a leader tab even where SharedWorker exists. */
  forceLeaderTab?: boolean;
  /** RTCPeerConnection configuration (ICE servers) for the links this tab hosts. */
  rtc?: RTCConfiguration;
  /** How long to wait for the node host to answer, and for its first link. Default 15 000 ms. */
  timeoutMs?: number;
  /**
   * Resolve only once the node has a link to the mesh (default true), so the first `send` is
   * routed instead of failing with UNREACHABLE; rejects with TIMEOUT when no link comes within
   * `timeoutMs`. With false, `connect()` resolves as soon as the node runs; `mesh.ready` then
   * tells when it is linked.
   */
  waitForLink?: boolean;
  /**
   * URL of a hub page on another origin (`https://mesh.example/meshwork/hub.html`): share that
   * origin's node with apps of other origins. `app` is then scoped to this page's origin, except
   * names starting with `shared:`, which every origin naming them shares.
   */
  hub?: string;
  /**
   * Proof of work the mesh asks of every key (the servers' `--pow-bits`; every node of a mesh
   * must agree). A node whose stored identity lacks it makes a new one on first start: about
   * 2^powBits key generations in the worker (12 bits: a few seconds), tabs staying responsive.
   * `connect()` waits for it, so give `timeoutMs` room. Default 0 (none).
   */
  powBits?: number;
  /** Told how the proof of work goes while the identity is made (keys tried, of about `expected`). */
  onWork?: (p: WorkProgress) => void;
  /**
   * How long a WebRTC link may carry no application traffic before it closes, while the node
   * keeps its server link; traffic between the two nodes dials it again (docs/ROUTING.md, "Idle
   * WebRTC links"). The first tab to connect sets it for the node. Default 120 000 ms; 0 never.
   */
  idleLinkMs?: number;
  /**
   * The data plane in the host tab (docs/DATA-PLANE.md): while this tab is the only tab of its
   * app and hosts the WebRTC link to a peer, its datagrams and requests to that peer, and the
   * peer's to it, are sealed and opened in this tab and never cross to the worker. Default true;
   * false sends everything through the node.
   */
  fastPath?: boolean;
  /**
   * Most links the node keeps from one network address, WebRTC links counted by the peer's IP
   * (docs/SECURITY.md, "Links per network address"). The first tab to connect sets it for the
   * node. Default 16; a positive integer. Lower suits a node that must not be crowded by one
   * office or one carrier's NAT; the lab test uses 1 to see the cap refuse with three browsers.
   */
  maxLinksPerAddress?: number;
}

export async function connect(options: ConnectOptions = {}): Promise<Mesh> {
  if (options.hub !== undefined) return connectHub(options.hub, options);
  const boot: BootMarks = {};
  mark(boot, 'connect');
  const tabId = randomHex(12);
  const lockHeld = holdTabLock(tabId);
  const bootstrap = options.bootstrap ?? [defaultBootstrap()];
  const app = options.app ?? '';
  const { workerUrl, shared } = hostOf(options);
  let conn: Conn;
  let leader: LeaderTabConn | undefined;
  let workerError: Promise<never> | undefined;
  // The worker starts while the tab's lock is taken: nothing reaches it before our hello, which
  // waits for the lock (the host learns of the tab's death from it).
  const worker = shared ? new SharedWorker(workerUrl.href, WORKER_OPTIONS) : undefined;
  if (worker) {
    workerError = new Promise<never>((_, reject) =>
      worker.addEventListener('error', () => reject(new MeshError('STOPPED', `the shared worker at ${workerUrl.href} failed to start`))),
    );
    workerError.catch(() => undefined);
  }
  const releaseLock = await lockHeld;
  mark(boot, 'lock');
  if (worker) {
    conn = portConn(worker.port);
  } else {
    // Loaded only where needed: the fallback carries a whole node, which tabs of a browser with
    // SharedWorker never run (it would more than double what every page downloads).
    const { LeaderTabConn } = await import('./leader.js');
    leader = new LeaderTabConn(tabId);
    conn = leader;
  }
  const mesh = new Mesh(conn, {
    tabId, app, bootstrap, rtc: options.rtc, powBits: options.powBits, onWork: options.onWork, idleLinkMs: options.idleLinkMs, fastPath: options.fastPath !== false,
    maxLinksPerAddress: options.maxLinksPerAddress, boot,
    canHost: () => pageHasRtc() && (shared || leader?.isLeader === true), releaseLock, onPageHide: () => leader?.pageHide(),
  });
  const timeoutMs = options.timeoutMs ?? 15_000;
  try {
    if (leader) {
      await withTimeout(leader.firstLeader, timeoutMs, 'electing a leader tab');
      leader.onLeader = () => void mesh.reattach();
    }
    const hello = mesh.hello();
    await withTimeout(workerError ? Promise.race([hello, workerError]) : hello, timeoutMs, 'starting the mesh node');
    mark(boot, 'hello');
    if (options.waitForLink !== false) await withTimeout(mesh.ready, timeoutMs, 'the first link to the mesh');
    mark(boot, 'ready');
  } catch (err) {
    mesh.close();
    throw err;
  }
  return mesh;
}

async function connectHub(hub: string, options: ConnectOptions): Promise<Mesh> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  // Loaded only by pages that use a hub. The hub hosts the PeerConnections and holds the tab's
  // lock, so this page does neither.
  const { openHub } = await import('./hub-link.js');
  const { conn, status, frame } = await openHub(hub, timeoutMs);
  const mesh = new Mesh(conn, { tabId: '', app: options.app ?? '', bootstrap: [], powBits: options.powBits, onWork: options.onWork, canHost: () => false, releaseLock: () => undefined, hub: status });
  mesh.hubFrame = frame;
  try {
    await withTimeout(mesh.hello(), timeoutMs, 'starting the mesh node through the hub');
    if (options.waitForLink !== false) await withTimeout(mesh.ready, timeoutMs, 'the first link to the mesh');
  } catch (err) {
    mesh.close();
    throw err;
  }
  return mesh;
}

/** Where this page's node runs: the SharedWorker at `workerUrl` when `shared`, else a leader tab. */
function hostOf(options: Pick<ConnectOptions, 'worker' | 'forceLeaderTab'>): { workerUrl: URL; shared: boolean } {
  const workerUrl = new URL(options.worker ?? new URL('./worker.js', import.meta.url).href, location.href);
  return { workerUrl, shared: !options.forceLeaderTab && typeof SharedWorker === 'function' && workerUrl.origin === location.origin };
}

/** What `preload()` started. */
export interface Preloaded {
  /** Resolves once the node host answers: its script has run and its database is opening. Never rejects. */
  readonly started: Promise<void>;
  /** Lets go of this page's hold on the started worker (a page that will not connect after all). */
  release(): void;
}

/**
 * Starts this origin's node host ahead of `connect()`, for a page that connects later (on a click,
 * after a login): the engine's start of the SharedWorker and the load of its script, most of what
 * `connect()` waits for on a first visit (docs/BENCHMARKS.md, "Time to first message"), then
 * happen while the page does other things. Nothing is dialled (the host opens the database and
 * reads the stored keys; on a first visit it makes the database with fresh keys in it: key-store.ts
 * openWithEarlyKeys): the node itself starts at the first `connect()`, with that call's options,
 * which finds the worker running (one
 * per origin, shared). Pass the `worker` and `forceLeaderTab` that `connect()` will get. Where
 * there is no SharedWorker, or with a hub, it loads the code `connect()` will need instead. The
 * worker stays while this page lives (or until `release()`, if no tab connects).
 */
export function preload(options: Pick<ConnectOptions, 'worker' | 'forceLeaderTab' | 'hub'> = {}): Preloaded {
  const idle: Preloaded = { started: Promise.resolve(), release: () => undefined };
  if (options.hub !== undefined) return { ...idle, started: import('./hub-link.js').then(() => undefined, () => undefined) };
  const { workerUrl, shared } = hostOf(options);
  if (!shared) return { ...idle, started: import('./leader.js').then(() => undefined, () => undefined) };
  const worker = new SharedWorker(workerUrl.href, WORKER_OPTIONS);
  const started = new Promise<void>((resolve) => {
    worker.port.onmessage = () => resolve();
    // A worker that fails to start is connect()'s error to report, with its timeout.
    worker.addEventListener('error', () => resolve());
  });
  worker.port.postMessage({ id: 0, op: 'sync' });
  return { started, release: () => worker.port.close() };
}

function defaultBootstrap(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mesh`;
}

/** Takes this tab's lock, held until the page dies or `release` is called: the host's death signal. */
function holdTabLock(tabId: string): Promise<() => void> {
  return new Promise((resolveHeld) => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    void navigator.locks.request(TAB_LOCK_PREFIX + tabId, () => {
      resolveHeld(release);
      return held;
    });
  });
}
