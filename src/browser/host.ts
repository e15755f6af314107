/**
 * The node host: one MeshNode and the tabs that share it. The same class runs in the
 * SharedWorker and, where there is none, in the leader tab. Each tab talks to it over its own
 * Conn with request/response messages; the host maps each tab's app ports and topics onto the
 * node, fans deliveries out to the tabs of the right app, brokers PeerConnections through
 * live tabs, and learns of a tab's death from the Web Lock the tab holds for its whole life.
 *
 * Its parts, host side: host-tab.ts (one tab), host-handlers.ts (requests to the tabs that
 * handle a port), host-listeners.ts (datagrams to listening tabs), host-topics.ts
 * (publications), host-streams.ts (tabs' streams), host-status.ts (status()), fast-grants.ts
 * and relay-grants.ts (the data plane in host tabs), broker.ts (PeerConnections in tabs).
 */
import { MeshError } from '../core/errors.js';
import { MeshNode, type NodeStatus } from '../core/node.js';
import type { MeshNodeOptions } from '../core/node-types.js';
import { checkPowBits } from '../core/pow.js';
import { reachabilityCaps } from '../core/reachability.js';
import { RtcBroker } from './broker.js';
import { mark, type BootMarks } from './boot-marks.js';
import { DialBackoff } from './dial-backoff.js';
import { HeldConn } from './held-conn.js';
import type { HostStreams } from './host-streams.js';
import { loadedHostStreams, loadStreamCode } from './lazy-stream-service.js';
import { BrowserDialer } from './dialer.js';
import { FastGrants } from './fast-grants.js';
import { RelayGrants } from './relay-grants.js';
import { IceClient } from './ice-client.js';
import type { Conn, HelloReply, HostKind, TabRequest, TabRequestMessage } from './protocol.js';
import { TAB_LOCK_PREFIX } from './protocol.js';
import { nodeState, openWithEarlyKeys, type KeyStorage, type WorkProgress } from './key-store.js';
import { hostStatus, type HostStatus } from './host-status.js';
import { TabHandlers } from './host-handlers.js';
import { AnswersHome } from './answers-home.js';
import { TabListeners } from './host-listeners.js';
import { ownApp, TabSession } from './host-tab.js';
import { TabTopics } from './host-topics.js';

/**
 * How long the answers of a tab that died without saying `closing` (a crash, a kill) are still
 * taken before the requests it did not answer go to another tab: its port delivers what it
 * posted before it died within milliseconds, even on a loaded machine; a request retried before
 * its answer came would run twice. A tab that says `closing` needs none (TabHandlers.closed).
 */
const DEAD_TAB_REPLY_GRACE_MS = 500;

/** Node options a page may set with connect(); the first hello's stand for the node. */
type NodeLimits = Pick<MeshNodeOptions, 'idleLinkMs' | 'maxLinksPerAddress'>;

export class NodeHost {
  node?: MeshNode;
  private starting?: Promise<MeshNode>;
  private readonly tabs = new Map<string, TabSession>();
  private readonly handlers = new TabHandlers();
  /** Answers to the peers' requests the tabs' data planes took, sent by the node for them (answers-home.ts). */
  private readonly answers = new AnswersHome();
  private readonly listeners = new TabListeners(() => this.tabs.values());
  private readonly topics = new TabTopics();
  /** Tabs' streams: made once the streams part is loaded, at a tab's first stream request (withStreams). */
  private streams?: HostStreams<TabSession>;
  private readonly startedAt = Date.now();
  private keyStorage: KeyStorage = 'cryptokey';
  /** Making an identity with proof of work: the last progress, told to every tab as it goes. */
  private work?: WorkProgress;
  /** Set by the first tab's hello: whether this browser's pages can host WebRTC links. */
  private webrtc?: boolean;
  readonly broker: RtcBroker;
  readonly ice: IceClient;
  private readonly backoff = new DialBackoff();
  /** The data plane in host tabs: which tab seals and opens which peer's packets itself. */
  private readonly grants: FastGrants;
  /** Tabs without a link sending through the tab that hosts it (relay-grants.ts); SharedWorker only. */
  private readonly relays?: RelayGrants;
  /** When each step of the node's start happened (status().boot). */
  readonly boot: BootMarks = {};
  // A worker starts for a connect(): the database opens and the keys are read or made before its hello comes.
  private readonly early = openWithEarlyKeys();

  constructor(private readonly kind: HostKind) {
    // When this global scope was made (its script fetched): splits the engine's worker start from our script's load.
    this.boot['worker-origin'] = performance.timeOrigin;
    mark(this.boot, 'host');
    this.ice = new IceClient(
      () => this.node,
      (reason) => this.node?.counters.drop(reason),
    );
    this.broker = new RtcBroker(
      () => this.node,
      () => [...this.tabs.values()].filter((t) => t.canHost && !t.parked),
      (text) => this.log(text),
      this.ice,
      (tabId) => {
        const tab = this.tabs.get(tabId);
        if (tab) this.lifecycle(tab, 'parked');
      },
    );
    const granted = (tab: { tabId: string }, peer: string) => this.answers.granted(tab.tabId, peer);
    const relays = kind === 'shared-worker'
      ? new RelayGrants({ tabs: () => this.tabs.values(), laneOf: (tab) => this.grants.laneOf(tab), handlers: (app) => this.handlers.of(app), streamHandlers: (app) => this.streams?.of(app) ?? [], log: (text) => this.log(text), granted, fanningChanged: () => this.grants.refresh() })
      : undefined;
    this.relays = relays;
    this.grants = new FastGrants({
      node: () => this.node,
      tabs: () => this.tabs.values(),
      hostedLinks: () => this.broker.hostedLinks(),
      log: (text) => this.log(text),
      settled: relays && ((given) => relays.sync(given)), fansOut: relays && ((tab) => relays.fansOut(tab)),
      granted,
    });
    this.broker.onLinkClosed = () => this.grants.refresh();
    this.broker.onLinkOpened = (peer) => this.backoff.reachable(peer);
  }

  /** A new tab connection. Nothing happens until it says hello. */
  attach(port: Conn): void {
    const conn = new HeldConn(port);
    let tab: TabSession | undefined;
    conn.onMessage((raw) => {
      const m = raw as TabRequestMessage;
      if (typeof m !== 'object' || m === null || typeof m.id !== 'number') return;
      // Notifications, not calls: no reply, which could reach (and evict) a page being cached. A window handed back is taken from a dead tab too.
      if (m.op === 'lifecycle') return void (tab?.alive && this.lifecycle(tab, m.state));
      if (m.op === 'closing') return void (tab && this.tabClosing(tab, Array.isArray(m.started) ? m.started.filter((r) => typeof r === 'number') : [], m.taken));
      if (m.op === 'reliable-window') return void (tab && this.grants.handBack(tab, m.gen, m.window));
      if (m.op === 'hello') {
        mark(this.boot, 'hello');
        tab = this.hello(conn, m);
      }
      const current = tab;
      this.dispatch(current, m).then(
        (value) => conn.post({ re: m.id, ok: true, value }),
        (err: unknown) =>
          conn.post({ re: m.id, ok: false, error: { code: err instanceof MeshError ? err.code : 'REMOTE_ERROR', message: err instanceof Error ? err.message : String(err) } }),
      );
    });
  }

  private hello(conn: HeldConn, m: Extract<TabRequest, { op: 'hello' }>): TabSession {
    // A parked tab says hello when it runs again: what waited for it goes out now.
    conn.release();
    const old = this.tabs.get(m.tabId);
    const tab = new TabSession(m.tabId, m.app, m.canHost, conn, m.origin);
    // The same page again (back from the freezer or the back/forward cache, on its own port): the
    // requests it was asked are still its own. Held, they reach it now; started, it answers them
    // as it runs again. Given to another tab after a grace instead, they could run twice.
    if (old?.conn === conn) this.handlers.handOver(old, tab);
    if (old) this.forgetTab(old);
    tab.hidden = m.hidden === true;
    tab.fastPath = m.fastPath === true;
    this.tabs.set(tab.tabId, tab);
    // A second tab of an app takes the first one's grants back now, before it listens to anything.
    this.grants.refresh();
    // The tab holds this lock for its whole life: we get it when the tab is gone.
    navigator.locks
      .request(TAB_LOCK_PREFIX + tab.tabId, { signal: tab.lockAbort.signal }, () => this.tabDied(tab, 'silent'))
      .catch(() => undefined);
    return tab;
  }

  private async dispatch(tab: TabSession | undefined, m: TabRequestMessage): Promise<unknown> {
    if (m.op === 'hello') {
      this.webrtc ??= m.rtc;
      const node = await this.ensureNode(m.bootstrap, m.powBits ?? 0, { idleLinkMs: m.idleLinkMs, maxLinksPerAddress: m.maxLinksPerAddress });
      // A later tab may name servers the node has not dialled: they join its bootstrap (it keeps
      // one of each), dialled now with its hello in the upgrade URL and whenever it has no link.
      for (const addr of m.bootstrap) void node.addBootstrap(addr);
      const reply: HelloReply = { id: node.id, host: this.kind };
      return reply;
    }
    // A dead tab's answers are still taken for a while (TabHandlers.retryFrom): it may have run the request.
    if (m.op === 'reply' && tab) return this.handlers.onReply(tab, m.rid, m.ok, m.data);
    if (m.op === 'sync') return; // answered before a hello too: preload() waits for it to know the worker runs
    if (!tab || !tab.alive) throw MeshError.invalid('say hello first');
    const node = await this.ensureNode([], 0);
    switch (m.op) {
      case 'send':
        return node.send(m.to, m.data, { app: tab.app, port: m.port, reliable: m.reliable, deadlineMs: m.deadlineMs, messageId: m.messageId });
      case 'request':
        return node.request(m.to, m.data, { app: tab.app, port: m.port, timeoutMs: m.timeoutMs });
      case 'handle':
        this.handlers.add(node, tab, m.port);
        // The host tab of a link taking this app's requests learns of it (relay-grants.ts).
        return this.relays?.syncListeners();
      case 'unhandle':
        this.handlers.remove(tab, m.port);
        return this.relays?.syncListeners();
      case 'listen':
        tab.listening = m.on;
        // The host tab of a link fanning this app's datagrams out learns of it before this reply.
        this.relays?.syncListeners();
        return this.listeners.update(node, tab.app);
      case 'subscribe':
        return this.topics.add(node, tab, m.topic);
      case 'unsubscribe':
        return this.topics.remove(tab, m.topic);
      case 'publish':
        return node.publish(m.topic, m.data, { app: tab.app });
      case 'status':
        return this.status(node.status(), tab);
      case 'ready':
        return node.linked();
      case 'reply':
        return this.handlers.onReply(tab, m.rid, m.ok, m.data);
      case 'rtc-signal':
        return this.broker.fromTab(tab.tabId, m.key, m.body);
      case 'rtc-path':
        return this.broker.pathFromTab(tab.tabId, m.key, m.via);
      case 'stream-open': case 'stream-handle': case 'stream-unhandle': case 'stream-write': case 'stream-close': case 'stream-abort': case 'stream-read':
        return this.withStreams(tab, (s) => s.run(node, tab, m));
      case 'fast-traffic':
        // Only a page of this origin hosts links and holds grants (fast-grants.ts).
        if (tab.origin !== undefined || !Array.isArray(m.peers)) return;
        for (const peer of m.peers) if (typeof peer === 'string') node.noteAppTraffic(peer);
        return;
      case 'taken-answer':
        return this.answers.answer(node, tab, m);
      case 'taken-request':
        return this.answers.run(node, tab, m);
      case 'bye':
        tab.lockAbort.abort();
        this.tabDied(tab, 'bye');
        return;
      default:
        throw MeshError.invalid(`unknown operation ${(m as { op: string }).op}`);
    }
  }

  /** The first hello starts the node, with its bootstrap and the proof of work its mesh asks. */
  private ensureNode(bootstrap: string[], powBits: number, limits: NodeLimits = {}): Promise<MeshNode> {
    if (!this.starting) {
      this.starting = this.startNode(bootstrap, powBits, limits);
    }
    for (const a of bootstrap) this.ice.addBootstrap(a);
    return this.starting;
  }

  private async startNode(bootstrap: string[], powBits: number, limits: NodeLimits): Promise<MeshNode> {
    checkPowBits(powBits); // before any work: 40 bits would run for ever
    const dialer = new BrowserDialer(this.broker, (reason) => this.node?.counters.drop(reason), this.backoff, (step) => mark(this.boot, step));
    // The bootstrap is dialled as the node starts, with its hello in the upgrade URL (dialer.ts).
    const state = await nodeState(this.early, powBits, (p) => {
      this.work = p;
      for (const tab of this.tabs.values()) if (tab.alive) tab.conn.post({ ev: 'work', ...p });
    }, () => mark(this.boot, 'db'));
    const { store, keys: { identity, e2eKeys, keyStorage } } = state;
    this.keyStorage = keyStorage;
    mark(this.boot, 'keys');
    const node: MeshNode = new MeshNode({
      identity,
      dialer,
      store,
      bootstrap,
      // Its socket, the hello in its URL, opens while the node's start goes on: connect() waits for that link.
      dialBootstrapFirst: true,
      // Without RTCPeerConnection in its pages nobody can dial the node: it announces `leaf`
      // instead of WebRTC, keeps its WebSocket links, and is never a hop or a rendezvous.
      caps: reachabilityCaps({ listens: false, webrtc: this.webrtc !== false }),
      addrs: [],
      saveDelayMs: 500,
      encryption: e2eKeys !== undefined,
      e2eKeys,
      powBits,
      ...limits,
      // A reply to a tab's own request that came another way than that tab's link goes on to it.
      onForeignResponse: (from, rid, ok, data, code) => this.grants.answerTab(from, rid, ok, data, code),
      onForeignAck: (from, messageId) => this.grants.ackTab(from, messageId),
    });
    node.onSignal((from, body) => this.broker.onSignal(from, body));
    node.events.on('unreachable', (e) => e.kind === 'signal' && this.broker.unreachable(e.id, e.by));
    node.events.on('link-up', (e) => this.log(`link up ${e.id.slice(0, 8)} ${e.transport} ${e.outbound ? 'out' : 'in'}`));
    node.events.on('link-up', (e) => this.ice.linkUp(e.id));
    node.events.on('link-up', (e) => mark(this.boot, e.transport === 'webrtc' ? 'webrtc-link' : 'link'));
    node.events.on('link-up', () => dialer.linked());
    node.events.on('link-down', (e) => this.log(`link down ${e.id.slice(0, 8)} ${e.transport}: ${e.reason}`));
    for (const ev of ['link-up', 'link-down', 'peer-key'] as const) node.events.on(ev, () => this.grants.refresh());
    this.node = node;
    await node.start();
    mark(this.boot, 'started');
    return node;
  }

  // ------------------------------------------------------------ tab lifecycle and death

  /** A parked tab's links move to running tabs now, as if it had closed; it keeps its handlers and topics. */
  private lifecycle(tab: TabSession, state: 'parked' | 'hidden' | 'visible'): void {
    if (state !== 'parked') {
      // Not to the tab itself (a message to a page that went into the back/forward cache evicts
      // it, and a page going there is hidden first), nor to other apps' tabs (a hub app learns
      // nothing of other sites' tabs).
      const told = (t: TabSession) => t !== tab && (t.origin === undefined || ownApp(t) === ownApp(tab));
      if (tab.hidden !== (state === 'hidden')) this.log(`tab ${tab.tabId.slice(0, 6)} ${state}${state === 'hidden' ? ': new links go to visible tabs first' : ''}`, told);
      tab.hidden = state === 'hidden';
      return;
    }
    if (tab.parked) return;
    tab.parked = true;
    tab.conn.hold();
    this.log(`tab ${tab.tabId.slice(0, 6)} parked (frozen or cached): its links move`);
    this.broker.tabDied(tab.tabId);
    this.grants.refresh();
    // Requests it was already asked stay with it (answered when it returns, or timed out):
    // asking another tab too could run a handler twice.
  }

  /**
   * Runs a tab's stream request. The first one loads the streams part (lazy-stream-service.ts);
   * requests that come meanwhile wait for it in their order (one promise, `then` after `then`),
   * so a write never overtakes its open. A tab that closed meanwhile gets nothing done.
   */
  private withStreams<T>(tab: TabSession, fn: (s: HostStreams) => T): T | Promise<T> {
    if (this.streams) return fn(this.streams);
    return loadStreamCode().then(() => {
      if (!tab.alive) throw new MeshError('ABORTED', 'the tab closed');
      return fn((this.streams ??= new (loadedHostStreams()!)<TabSession>(() => this.relays?.syncListeners())));
    });
  }

  /**
   * The tab says it is going (its pagehide, or close()), after every answer it posted; `started`:
   * the requests it runs and will not answer. Its lock, released as it goes, owes nothing more;
   * if the lock came first, the grace it started finds those requests settled here.
   */
  private tabClosing(tab: TabSession, started: number[], taken: unknown): void {
    // First, while the node still knows which peers the tab was granted.
    this.answers.closing(this.node, tab, taken);
    tab.closingSaid = true;
    tab.lockAbort.abort();
    if (tab.alive) this.tabDied(tab, started);
    else this.handlers.closed(tab, started);
  }

  /** `silent`: its lock told first (a crash, a kill, a frozen tab discarded, or a `closing` still on its way); else what it said as it closed. */
  private tabDied(tab: TabSession, how: 'silent' | 'bye' | number[]): void {
    if (!tab.alive) return;
    if (how === 'silent') this.handlers.countGone(tab, 'silent');
    this.answers.tabGone(tab.tabId);
    this.forgetTab(tab, Array.isArray(how) ? how : undefined);
    this.broker.tabDied(tab.tabId);
    if (this.tabs.size === 0) void this.node?.save();
  }

  /** `started`: the tab said `closing` (TabHandlers.closed); else its unanswered requests wait out a grace. */
  private forgetTab(tab: TabSession, started?: number[]): void {
    tab.alive = false;
    if (this.tabs.get(tab.tabId) === tab) this.tabs.delete(tab.tabId);
    this.handlers.removeTab(tab);
    this.topics.removeTab(tab);
    this.streams?.tabDied(tab);
    this.grants.tabGone(tab);
    if (this.node) this.listeners.update(this.node, tab.app);
    // Requests it was asked and did not answer go to another tab of the app, now that it
    // handles nothing: those it never started at once when it said `closing`, else after a grace
    // for answers it posted just before it died.
    if (started) this.handlers.closed(tab, started);
    else this.handlers.retryFrom(tab, DEAD_TAB_REPLY_GRACE_MS);
  }

  // ------------------------------------------------------------ observation

  /** Shows a diagnostic line in every tab's console (or in those `to` picks). */
  log(text: string, to: (t: TabSession) => boolean = () => true): void {
    for (const t of this.tabs.values()) if (t.alive && to(t)) t.conn.post({ ev: 'log', text });
  }

  /** The node's status for `tab` (host-status.ts). */
  private status(s: NodeStatus, tab: TabSession): HostStatus {
    return hostStatus(s, tab, {
      kind: this.kind,
      tabs: this.tabs,
      webrtc: this.webrtc !== false,
      keyStorage: this.keyStorage,
      work: this.work,
      startedAt: this.startedAt,
      handlers: this.handlers,
      takenAnswers: this.answers.stats,
      broker: this.broker,
      dials: this.backoff.counters(),
      grants: this.grants,
      relays: this.relays,
      ice: this.ice,
      boot: this.boot,
    });
  }
}
