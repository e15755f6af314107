/**
 * The mesh a tab holds (`connect()` in client.ts makes it): a request/response client of the
 * node host (the SharedWorker, the leader tab, or a hub's), the PeerConnection host the node's
 * broker uses while this tab is open, the tab's streams (tab-streams.ts), and the data plane
 * (fast-path.ts, loaded with the first grant). What the app registered in this tab is kept in
 * tab-registrations.ts, and told again to a new host.
 */
import { MeshError, type MeshErrorCode } from '../core/errors.js';
import type { AppData } from '../core/payloads.js';
import type { BootMarks } from './boot-marks.js';
import type { HubMode, HubStatus } from './hub-protocol.js';
import type { WorkProgress } from './key-store.js';
import type { BrowserStatus, Conn, HelloReply, HostEvent, HostKind, HostReply, TabRequest } from './protocol.js';
import { pageHasRtc, TAB_PARKED } from './protocol.js';
import { pageHidden, watchLifecycle } from './lifecycle.js';
import { RtcHost } from './rtc-host.js';
import type { FastPath } from './fast-path.js';
import { type Handler, type MeshMessage, safe, TabRegistrations, type TopicMessage } from './tab-registrations.js';
import { type MeshStream, TabStreams } from './tab-streams.js';

interface MeshOptions {
  tabId: string;
  app: string;
  bootstrap: string[];
  rtc?: RTCConfiguration;
  powBits?: number;
  onWork?: (p: WorkProgress) => void;
  idleLinkMs?: number;
  fastPath?: boolean;
  maxLinksPerAddress?: number;
  canHost: () => boolean;
  releaseLock: () => void;
  onPageHide?: () => void;
  hub?: HubStatus;
  /** This tab's connect() steps (status().boot.tab). */
  boot?: BootMarks;
}

export class Mesh {
  /** The shared node's id: the same in every tab of this browser profile and origin (or hub; see `status().hub`). */
  id = '';
  /** Where the node runs. */
  host: HostKind = 'shared-worker';
  /**
   * With `connect({ hub })`: the hidden hub iframe. Unhide it (in place: moving an iframe reloads
   * it) to show the hub's button that asks the browser for one node across sites.
   */
  hubFrame?: HTMLIFrameElement;
  /**
   * Settles once the node has a link to the mesh; from then on a `send` to any node is routed
   * (it may still time out if that node is not in the mesh). `connect()` waits for it unless
   * told `waitForLink: false`.
   */
  ready: Promise<void>;
  private readyResolve!: () => void;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** The app's listeners, handlers and subscriptions in this tab (tab-registrations.ts). */
  private readonly apps = new TabRegistrations((req) => this.fire(req));
  private readonly rtc: RtcHost;
  private readonly streams = new TabStreams((req, transfer) => this.call(req, transfer));
  private closed = false;
  /** `closing` was posted (pagehide, or close()). */
  private closingSaid = false;
  /** The data plane, loaded with the first grant (fast-path.ts): pages that never get one never load it. */
  private fast?: FastPath;
  private fastLoading?: Promise<FastPath>;
  /** openStream or handleStreams was called: the data plane loads its stream code with it. */
  private streamsUsed = false;

  constructor(
    private readonly conn: Conn,
    private readonly o: MeshOptions,
  ) {
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    this.rtc = new RtcHost(
      (key, body) => this.fire({ op: 'rtc-signal', key, body }),
      o.rtc,
      (key, via) => this.fire({ op: 'rtc-path', key, via }),
    );
    conn.onMessage((m) => this.onHostMessage(m as HostReply | HostEvent));
    if (o.hub) {
      // Through a hub, the hub's frame parks this page's session as both go into the freezer or
      // the back/forward cache (hub.ts): a notice from here could reach it only once restored.
      // Back, this page registers again through the same port, as a same-origin tab does.
      watchLifecycle({ park: () => undefined, resume: () => void this.rejoin(), visibility: () => undefined });
    } else if (o.tabId !== '') {
      // Registered before the pagehide listener below, so a page going into the back/forward
      // cache says so before its channels close (see TAB_PARKED).
      watchLifecycle({
        park: () => {
          // Its `bye` names the requests this tab is running (DATA-PLANE.md, "Several tabs"), and
          // goes first: a host tab that heard the node's `relay-close` before it would give them
          // to the node, which could run them in another tab while this one still holds them.
          this.fast?.relays.closeAll('parked');
          this.notify({ op: 'lifecycle', state: 'parked' });
          this.rtc.closeAll(TAB_PARKED);
        },
        resume: () => void this.rejoin(),
        visibility: (hidden) => this.notify({ op: 'lifecycle', state: hidden ? 'hidden' : 'visible' }),
      });
    }
    // Close our PeerConnections ourselves: a page torn down with them open can leave the far
    // side waiting for ICE consent to expire (about 30 s) before its channel reports closed.
    // A page going away for good (not into the back/forward cache: lifecycle.ts) then tells the
    // host which of its requests it leaves unanswered (`closing`); its relay channels' `bye`
    // first, so a host tab hears from this tab before the host's `relay-close` (tab-relay.ts).
    addEventListener('pagehide', (e: PageTransitionEvent) => {
      this.rtc.closeAll();
      if (!e.persisted) this.sayClosing();
      o.onPageHide?.();
    });
  }

  /**
   * Sends a datagram to node `to` on `port` (0..65535 of this app). With `reliable: true`, resolves
   * once `to` acknowledged it (its app gets it at most once), or rejects with MeshError TIMEOUT
   * after `deadlineMs` (default 10 000, at most 120 000). Sealed end to end when both nodes encrypt.
   */
  async send(to: string, data: AppData, options: { port?: number; reliable?: boolean; deadlineMs?: number } = {}): Promise<void> {
    const viaNode = async () => {
      await this.call({ op: 'send', to, data, port: options.port ?? 0, reliable: options.reliable, deadlineMs: options.deadlineMs });
    };
    if (this.fast && !this.closed && (options.reliable ? this.fast.reliable.has(to) : this.fast.has(to))) {
      const port = options.port ?? 0;
      checkPort(port);
      if (!options.reliable) return this.fast.send(to, data, port, viaNode);
      // Sent, retried and acked in this tab; the node takes over under the same message id should the link leave it (tab-reliable.ts).
      return this.fast.reliable.sendTo(to, data, port, options.deadlineMs, (messageId, deadlineMs) => this.call({ op: 'send', to, data, port, reliable: true, deadlineMs, messageId }).then(() => undefined));
    }
    return viaNode();
  }

  /** Listens to datagrams on every port of this app. Returns a function that stops listening. */
  onMessage(fn: (m: MeshMessage) => void): () => void {
    return this.apps.onMessage(fn);
  }

  /** Answers requests on `port` (0..65535). Returns a function that unregisters the handler. */
  handle(port: number, fn: Handler): () => void {
    checkPort(port);
    return this.apps.handle(port, fn);
  }

  request(to: string, data: AppData, options: { port?: number; timeoutMs?: number } = {}): Promise<AppData> {
    const viaNode = () => this.call({ op: 'request', to, data, port: options.port ?? 0, timeoutMs: options.timeoutMs }) as Promise<AppData>;
    if (this.fast?.has(to) && !this.closed) {
      try {
        const port = options.port ?? 0;
        checkPort(port);
        return this.fast.request(to, data, port, options.timeoutMs, viaNode);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return viaNode();
  }

  subscribe(topic: string, fn: (m: TopicMessage) => void): () => void {
    return this.apps.subscribe(topic, fn);
  }

  async publish(topic: string, data: AppData): Promise<void> {
    await this.call({ op: 'publish', topic, data });
  }

  /**
   * Opens a stream to node `to` on `port` (0..65535 of this app): ordered, reliable and
   * flow-controlled end to end (docs/STREAMS.md). Write at once; the data waits for the other
   * end's window. Fails with REFUSED when `to` takes no streams there, TIMEOUT when nothing is
   * heard from it for `timeoutMs` (default 30 000), ABORTED when either end aborts.
   * `durable: true` runs it through the node (the SharedWorker) at both ends even where this tab
   * could run it itself: slower (a MessagePort leg or two each way), but it outlives the tab that
   * hosts its WebRTC link closing or parking, as the link re-homes (docs/STREAMS.md, "What
   * survives what"). By default a stream runs in this tab where it can, and ends ABORTED with
   * its link's host tab.
   */
  openStream(to: string, options: { port?: number; timeoutMs?: number; durable?: boolean } = {}): MeshStream {
    if (this.closed) throw MeshError.stopped();
    if (typeof to !== 'string' || !/^[0-9a-f]{64}$/.test(to)) throw MeshError.invalid('a node id is 64 hex characters');
    const port = options.port ?? 0;
    checkPort(port);
    this.useStreams();
    // Run in this tab when it hosts the link to `to` on a bound channel (DATA-PLANE.md, "Streams"); else through the node.
    const inTab = options.durable === true ? undefined : this.fast?.openStream(to, port, options.timeoutMs);
    return inTab ?? this.streams.open(to, port, options.timeoutMs);
  }

  /**
   * Settles once everything this tab registered or removed before the call (handlers, datagram
   * listeners, subscriptions, stream handlers) is in effect at the node. They take effect a
   * moment after `handle()` and the like return, as messages to the node; a peer told to call
   * this tab right away could otherwise come first and be answered as if nothing listened
   * (a request fails, a stream is REFUSED).
   */
  async synced(): Promise<void> {
    await Promise.all([this.call({ op: 'sync' }), this.streams.registered()]);
  }

  /** Calls `fn` with every stream another node opens to `port` (0..65535) of this app. Returns a function that stops accepting. */
  handleStreams(port: number, fn: (stream: MeshStream) => void): () => void {
    checkPort(port);
    const off = this.streams.handle(port, fn);
    this.useStreams();
    return off;
  }

  /** The app uses streams: the data plane loads its stream code (stream-tap.ts), once. */
  private useStreams(): void {
    this.streamsUsed = true;
    void this.fast?.streams.load().catch((err: unknown) => console.warn('meshwork: the stream code did not load', err));
  }

  async status(): Promise<BrowserStatus> {
    const s = (await this.call({ op: 'status' })) as BrowserStatus;
    if (s.boot && this.o.boot) s.boot.tab = this.o.boot;
    if (this.o.fastPath) s.fastPath = this.fast?.status() ?? { granted: 0, bound: 0, clear: 0, grants: 0, revoked: 0, sent: 0, received: 0, requests: 0, responses: 0, handedOn: 0, relayedOut: 0, relayedBack: 0, viaTab: 0, viaTabAnswers: 0, answersViaNode: 0, answersHome: 0, requestsHome: 0, givenBack: 0, relayedData: 0, viaTabData: 0, relayedRequests: 0, relayedReplies: 0, relayedRequestsToNode: 0, viaTabRequests: 0, streamsOpened: 0, streamsAccepted: 0, streamSegmentsOut: 0, streamSegmentsIn: 0, streamsAbortedByLink: 0, streamRetransmits: 0, reliableSent: 0, reliableCopies: 0, reliableAcked: 0, reliableToNode: 0, reliableAckedViaNode: 0, reliableIn: 0, reliableAckedOut: 0, reliableWindowHandedBack: 0, relayedReliable: 0, relayedAcks: 0, relayedAcksToNode: 0, ackRoutesEvicted: 0, reliableAckedViaTab: 0, dropped: {} };
    return this.o.hub ? { ...s, hub: { ...this.o.hub, node: s.id } } : s;
  }

  /** Leaves the node: this tab's handlers, listeners and hosted links go (links are re-homed). */
  close(): void {
    if (this.closed) return;
    this.sayClosing();
    this.fire({ op: 'bye' });
    this.closed = true;
    this.rtc.closeAll();
    this.streams.failAll(MeshError.stopped());
    this.fast?.failAll(MeshError.stopped());
    this.fast?.relays.closeAll();
    for (const p of this.pending.values()) p.reject(MeshError.stopped());
    this.pending.clear();
    this.o.releaseLock();
    setTimeout(() => this.conn.close(), 50);
  }

  /** @internal Says hello to the host; resolves with the node id. */
  async hello(): Promise<void> {
    const r = (await this.call({ op: 'hello', tabId: this.o.tabId, app: this.o.app, bootstrap: this.o.bootstrap, canHost: this.o.canHost(), rtc: pageHasRtc(), hidden: pageHidden(), powBits: this.o.powBits, idleLinkMs: this.o.idleLinkMs, fastPath: this.o.fastPath, maxLinksPerAddress: this.o.maxLinksPerAddress })) as HelloReply;
    this.id = r.id;
    this.host = r.host;
    // Asked after hello, so it reaches the host once this tab is registered; a new host (after
    // reattach) is asked again, and a settled promise stays settled.
    this.call({ op: 'ready' }).then(this.readyResolve, () => undefined);
  }

  /** @internal A new leader tab took over, or the hub moved to the shared node: calls to the old host fail, and this tab registers again. */
  async reattach(): Promise<void> {
    if (this.closed) return;
    for (const p of this.pending.values()) p.reject(new MeshError('STOPPED', 'the node host changed (a new leader tab, or the hub moved to the shared node); try again'));
    this.pending.clear();
    this.streams.failAll(new MeshError('ABORTED', 'the node host changed: streams of the old host ended'));
    await this.register();
  }

  /** Back from the freezer or the back/forward cache: say hello again, keeping calls in flight. */
  private async rejoin(): Promise<void> {
    if (this.closed) return;
    await this.register();
  }

  private async register(): Promise<void> {
    // Posted right behind the hello on the same port, not once it is answered: the host takes
    // them in order, so no request finds this tab registered again without its handlers.
    const hello = this.hello().catch(() => undefined);
    for (const port of this.streams.ports()) this.fire({ op: 'stream-handle', port });
    this.apps.register();
    await hello;
  }

  private call(req: TabRequest, transfer?: Transferable[]): Promise<unknown> {
    if (this.closed) return Promise.reject(MeshError.stopped());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.conn.post({ ...req, id }, transfer);
    });
  }

  /**
   * Once: this tab runs and answers no host request from now on; the host learns which it leaves
   * unanswered, and which of the peers' requests its data plane took (owed-answers.ts): the node
   * answers those for it.
   */
  private sayClosing(): void {
    if (this.closed || this.closingSaid) return;
    this.closingSaid = true;
    this.fast?.relays.closeAll('closing');
    const taken = this.fast?.leave();
    // A hub's page says it to its hub, which passes it on for the tab it is at the node (hub.ts).
    this.notify({ op: 'closing', started: this.apps.close(), ...(taken ? { taken } : {}) });
  }

  /** A message the host does not answer (id 0): a reply could reach a page going into the back/forward cache and evict it. */
  private notify(req: Extract<TabRequest, { op: 'lifecycle' | 'closing' | 'reliable-window' }>): void {
    if (!this.closed) this.conn.post({ ...req, id: 0 });
  }

  /** A call whose result nobody waits for; a failure is reported on the console. */
  private fire(req: TabRequest): void {
    this.call(req).catch((err: unknown) => {
      if (!this.closed) console.warn(`meshwork: ${req.op} failed:`, err);
    });
  }

  private onHostMessage(m: HostReply | HostEvent): void {
    if (typeof m !== 'object' || m === null) return;
    if ('re' in m) {
      const p = this.pending.get(m.re);
      if (!p) return;
      this.pending.delete(m.re);
      if (m.ok) p.resolve(m.value);
      else p.reject(new MeshError(m.error.code as MeshErrorCode, m.error.message));
      return;
    }
    switch (m.ev) {
      case 'message':
        return this.apps.deliver(m.from, m.data, m.port);
      case 'topic':
        return this.apps.publication(m.from, m.data, m.topic);
      case 'request':
        return void this.apps.answer(m.rid, m.from, m.data, m.port);
      case 'rtc-open':
        return this.rtc.open(m.key, m.initiator, m.port as MessagePort, m.iceServers);
      case 'rtc-signal':
        return void this.rtc.onSignal(m.key, m.body);
      case 'fast-grant':
        // Through the loading promise, so a revoke that follows is applied after its grant.
        return void this.fastPath().then((f) => f.grant(m), (err: unknown) => console.warn('meshwork: the data plane did not load', err));
      case 'fast-revoke':
        return void this.fastLoading?.then((f) => f.revoke(m.key, m.reason), () => undefined);
      case 'relay-port':
        // Through the loading promise too: the channel is open before a grant that names it.
        return void this.fastPath().then((f) => f.relays.open(m.ch, m.port as MessagePort), () => (m.port as MessagePort).close());
      case 'relay-close':
        return void this.fastLoading?.then((f) => f.relays.close(m.ch, m.said === true), () => undefined);
      case 'fast-listeners':
        return void this.fastLoading?.then((f) => f.relays.setListeners(m.tabs), () => undefined);
      case 'fast-handlers':
        return void this.fastLoading?.then((f) => f.relays.setHandlers(m.ports, m.streams), () => undefined);
      case 'fast-ack':
        return void this.fastLoading?.then((f) => f.reliable.ackViaNode(m.from, m.messageId), () => undefined);
      case 'fast-answer':
        return void this.fastLoading?.then((f) => f.answeredByNode(m.rid, m.from, m.ok, m.data, m.code), () => undefined);
      case 'stream-incoming':
      case 'stream-data':
      case 'stream-end':
      case 'stream-error':
        return this.streams.onEvent(m);
      case 'log':
        console.debug(`meshwork host: ${m.text}`);
        return;
      case 'hub-mode':
        return this.onHubMode(m.mode, m.reason);
      case 'work': {
        const { ev: _ev, ...progress } = m;
        return safe(() => this.o.onWork?.(progress));
      }
    }
  }

  private fastPath(): Promise<FastPath> {
    this.fastLoading ??= import('./fast-path.js').then(({ FastPath }) => {
      const fast = new FastPath({
        rtc: this.rtc,
        listening: () => this.apps.listening(),
        deliver: (from, data, port) => this.apps.deliver(from, data, port),
        handles: (port) => this.apps.handles(port),
        runHandler: (from, data, port) => this.apps.run(from, data, port),
        traffic: (peers) => this.fire({ op: 'fast-traffic', peers }),
        answerHome: (a) => this.fire({ op: 'taken-answer', ...a }),
        app: this.o.app,
        streamHandler: (port) => this.streams.handler(port),
        runHome: (r) => this.fire({ op: 'taken-request', ...r }),
        handBack: (w) => this.notify({ op: 'reliable-window', ...w }),
      });
      this.rtc.tap = fast;
      this.fast = fast;
      if (this.streamsUsed) this.useStreams();
      return fast;
    });
    return this.fastLoading;
  }

  private onHubMode(mode: HubMode, reason: string): void {
    const was = this.o.hub;
    if (!was) return;
    this.o.hub = { ...was, mode, reason };
    // The hub moved this page to the shared node: register there (mesh.id changes to its id).
    if (was.mode !== mode) void this.reattach();
  }
}

/** The same bound as the core's (payloads.ts), restated so this tab module pulls in no codec. */
const MAX_PORT = 65535;

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) throw MeshError.invalid(`port must be an integer from 0 to ${MAX_PORT}, got ${port}`);
}
