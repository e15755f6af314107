/**
 * The node's services to applications: datagrams (fire-and-forget or reliable), requests and
 * their replies, and signalling text. Application payloads are sealed end to end (e2e.ts)
 * and wait, rather than fail, while the first link toward their destination is full.
 */
import { bytesEqual, toHex } from './bytes.js';
import type { Clock, Random } from './clock.js';
import type { Counters } from './counters.js';
import type { PacketFrame } from './codec.js';
import type { E2e } from './e2e.js';
import { RecentSet } from './dedupe.js';
import { MeshError, type MeshErrorCode, remoteCode } from './errors.js';
import { shortId, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import { isUint } from './codec.js';
import { checkData, checkPort, safeCall } from './node-checks.js';
import { appId, checkApp } from './app-namespace.js';
import { AppRegistry } from './app-registry.js';
import type { NodeSettings } from './node-settings.js';
import type { Message, RequestHandler, SignalHandler, TakenAnswer } from './node-types.js';
import { PacketKind } from './packets.js';
import { type AppData, Payload, type RequestPayload } from './payloads.js';
import { DEFAULT_DEADLINE_MS, MAX_DEADLINE_MS, MAX_MESSAGE_ID, ReliableSender, ReliableWindow, WindowHandOver } from './reliable.js';
import { PendingRequests } from './requests.js';
import type { Session } from './session.js';
import { CONGESTED_BYTES } from './forwarding.js';

/** How long one attempt of a reliable send waits for the destination's encryption key before the next attempt asks again. */
const RELIABLE_KEY_WAIT_MS = 2_000;
/** How often a sender waiting for a full link looks again when no drain event comes. */
const DRAIN_POLL_MS = 20;

/** originateSealed: the packet must be sealed, and the key is not known yet. */
const NEEDS_KEY = 'needs-key';

/** Requests of other nodes answered through `answerTaken` lately, each at most once. */
const TAKEN_ANSWERS_KEPT = 4096;

/** Whether `next` is a link straight to `dst` over a channel bound to it (session.ts). */
function isDirect(next: Session | undefined, dst: NodeId): next is Session {
  return next !== undefined && next.channelBound && next.peer !== undefined && bytesEqual(next.peer.id, dst);
}

/** What the services need of their node. */
export interface ServicesHost {
  identity: Identity;
  clock: Clock;
  random: Random;
  settings: NodeSettings;
  e2e: E2e;
  run<T>(task: () => T | Promise<T>): Promise<T>;
  /** Signs (unless `unsigned`) and routes a packet of ours (call inside the actor). */
  originate(dst: NodeId, kind: number, payload: Uint8Array, packetId?: number, unsigned?: boolean): Promise<void>;
  nextPacketId(): number;
  /** The link a packet of ours to `dst` would leave by (forwarding.ts). */
  unicastHop(p: { src: NodeId; dst: NodeId; kind: number }): Session | undefined;
  /** The id of a node the application names; STOPPED once the node stopped. */
  checkTarget(to: string): NodeId;
  /** The node's counters: `takenAnswers` (answerTaken). */
  counters: Counters;
  drop(reason: string): void;
  /** A reply that matched none of our requests, offered before it counts as late (MeshNodeOptions.onForeignResponse). */
  foreignResponse?(from: string, requestId: number, ok: boolean, data: AppData, code?: string): boolean;
  /** An Ack for a reliable datagram we are not sending, offered before it counts as late (MeshNodeOptions.onForeignAck). */
  foreignAck?(from: string, messageId: number): boolean;
}

export class Services {
  /** Message listeners and request handlers, per app namespace (app-registry.ts). */
  private readonly apps = new AppRegistry();
  private signalHandler?: SignalHandler;
  private readonly requests: PendingRequests;
  private readonly reliableOut: ReliableSender;
  private readonly reliableIn: ReliableWindow;
  /** The receiving window handed to a browser tab for a peer and app, and back (reliable.ts). */
  readonly handOver: WindowHandOver;
  /** Senders waiting for a full link to drain (originateSealed). */
  private readonly drainWaiters = new Map<Session, (() => void)[]>();
  /** (requester, request id) answered through answerTaken: none twice. */
  private readonly takenAnswered = new RecentSet(TAKEN_ANSWERS_KEPT);

  constructor(private readonly host: ServicesHost) {
    const enqueue = (fn: () => void) => void host.run(fn);
    this.requests = new PendingRequests(host.clock, enqueue);
    this.reliableOut = new ReliableSender(host.clock, host.random, enqueue);
    this.reliableIn = new ReliableWindow(host.clock);
    this.handOver = new WindowHandOver(this.reliableIn);
  }

  failAll(err: Error): void {
    this.requests.failAll(err);
    this.reliableOut.failAll(err);
  }

  // ---------------------------------------------------------------- datagrams

  /**
   * Sends a datagram to `to` (a node id), app `app` (default: the default app), `port`. Resolves once it has left this node; with
   * `reliable`, once `to` acknowledged it (delivered at most once), else rejects with TIMEOUT
   * after `deadlineMs`. The first send to a node waits for its encryption key (one round trip).
   */
  send(to: string, data: AppData, options: { app?: string; port?: number; reliable?: boolean; deadlineMs?: number; messageId?: number } = {}): Promise<void> {
    const dst = this.host.checkTarget(to);
    const port = checkPort(options.port ?? 0);
    const app = appId(checkApp(options.app));
    checkData(data);
    const requestTimeoutMs = this.host.settings.requestTimeoutMs;
    if (!options.reliable) return this.originateSealed(dst, PacketKind.Data, Payload.data.encode({ app, port, data }), requestTimeoutMs);
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    if (!(deadlineMs > 0 && deadlineMs <= MAX_DEADLINE_MS)) throw MeshError.invalid(`deadlineMs must be from 1 to ${MAX_DEADLINE_MS}`);
    // A browser tab that sent the first copies itself hands the rest to its node under the same id (docs/DATA-PLANE.md).
    const messageId = options.messageId ?? this.reliableOut.nextId();
    if (!(Number.isSafeInteger(messageId) && messageId > 0 && messageId < MAX_MESSAGE_ID)) throw MeshError.invalid('messageId must be an integer from 1 to 2^48 - 1');
    const plaintext = Payload.reliableData.encode({ app, port, messageId, data });
    return this.reliableOut.send(toHex(dst), messageId, deadlineMs, (remaining) =>
      this.originateSealed(dst, PacketKind.ReliableData, plaintext, Math.min(remaining, RELIABLE_KEY_WAIT_MS)),
    );
  }

  /**
   * Seals an application payload for `dst` (when both ends encrypt) and routes it. Runs outside
   * the actor, because the first packet to a node waits for its key, which arrives through it.
   * `inKind` answers a plaintext request in plaintext. A packet whose first hop is `dst` itself,
   * over a channel bound to it (session.ts `channelBound`), needs no sealing and no key: it goes
   * unsigned in the clear inside that channel, which keeps it between the two and proves its
   * source (e2e.ts takes it only so). Which it is gets decided in the turn that sends it.
   */
  async originateSealed(dst: NodeId, kind: number, plaintext: Uint8Array, keyWaitMs: number, inKind?: 'plaintext'): Promise<void> {
    const { e2e, identity, clock } = this.host;
    const requestTimeoutMs = this.host.settings.requestTimeoutMs;
    const firstHop = () => this.host.unicastHop({ src: identity.id, dst, kind });
    let how = isDirect(firstHop(), dst) ? undefined : await e2e.sealingFor(dst, keyWaitMs, inKind);
    // While the first link toward `dst` holds more than CONGESTED_BYTES, wait for it to drain
    // (outside the actor): an application sending faster than the link carries is slowed down,
    // not refused. The check and the send share one actor turn, so concurrent sends cannot all
    // pass the check and then overfill the link. CONGESTED only when it stays full for the
    // request timeout (a peer that stopped reading).
    const deadline = clock.now() + requestTimeoutMs;
    for (;;) {
      const full = await this.host.run(async () => {
        const next = firstHop();
        if (next && next.state !== 'closed' && next.link.bufferedAmount > CONGESTED_BYTES) return next;
        if (isDirect(next, dst)) {
          e2e.sentDirect();
          await this.host.originate(dst, kind, plaintext, undefined, true);
          return undefined;
        }
        if (!how) return NEEDS_KEY;
        // The packet id is chosen before sealing: it is part of the associated data.
        const id = this.host.nextPacketId();
        const sealed = await e2e.seal(identity.id, dst, kind, id, plaintext, how);
        await this.host.originate(dst, kind, sealed.payload, id, sealed.unsigned);
        return undefined;
      });
      if (!full) return;
      // The bound link went between the first look and the send: seal after all.
      if (full === NEEDS_KEY) {
        how = await e2e.sealingFor(dst, keyWaitMs, inKind);
        continue;
      }
      if (clock.now() >= deadline) throw new MeshError('CONGESTED', `the first link toward ${shortId(toHex(dst))} stayed full for ${requestTimeoutMs} ms`);
      await this.drainOf(full);
    }
  }

  /** Resolves when `session` drains, or after DRAIN_POLL_MS for transports that report no drain. */
  private drainOf(session: Session): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.host.clock.setTimeout(resolve, DRAIN_POLL_MS);
      const waiters = this.drainWaiters.get(session) ?? [];
      waiters.push(() => (timer.cancel(), resolve()));
      this.drainWaiters.set(session, waiters);
    });
  }

  /** A link drained (or closed): senders waiting for it try again. */
  wakeDrainWaiters(session: Session): void {
    const waiters = this.drainWaiters.get(session);
    if (!waiters) return;
    this.drainWaiters.delete(session);
    for (const wake of waiters) wake();
  }

  /** Listens to datagrams on every port of `app` (default: the default app). Returns a function that stops listening. */
  onMessage(fn: (m: Message) => void, app?: string): () => void {
    return this.apps.onMessage(fn, app);
  }

  /** A datagram goes only to the listeners of the app whose id it names, exactly. */
  onData(src: string, p: PacketFrame, hops: number): void {
    const d = Payload.data.decode(p.payload);
    if (!d) return this.host.drop('bad-payload');
    const to = this.apps.listenersOf(d.app);
    if (!to) return this.host.drop('no-listener');
    const m: Message = { from: src, data: d.data, port: d.port, app: to.app, hops };
    for (const fn of to.fns) safeCall(() => fn(m));
  }

  onReliableData(src: string, p: PacketFrame, hops: number): void | Promise<void> {
    const d = Payload.reliableData.decode(p.payload);
    if (!d) return this.host.drop('bad-payload');
    // Straight back into a channel bound to the sender: unsigned, in the clear, as a Response goes (a sender's tab takes it so).
    const ack = () => {
      const direct = isDirect(this.host.unicastHop({ src: this.host.identity.id, dst: p.src, kind: PacketKind.Ack }), p.src);
      if (direct) this.host.e2e.sentDirect();
      return this.host.originate(p.src, PacketKind.Ack, Payload.ack.encode({ messageId: d.messageId }), undefined, direct).catch(() => this.host.drop('ack-unroutable'));
    };
    if (this.reliableIn.has(src, d.messageId)) {
      // A copy of a message already delivered: its ack was lost or is still on its way. Ack again.
      this.host.drop('duplicate-reliable');
      return ack();
    }
    // Not acknowledged, so the sender tries again: a listener may be there by then, or the tab that takes them gave its window back.
    if (this.handOver.refuses(src, d.app)) return this.host.drop('reliable-in-tab');
    const to = this.apps.listenersOf(d.app);
    if (!to) return this.host.drop('no-listener');
    if (!this.reliableIn.record(src, d.messageId)) return this.host.drop('reliable-window-full');
    const m: Message = { from: src, data: d.data, port: d.port, app: to.app, hops };
    for (const fn of to.fns) safeCall(() => fn(m));
    return ack();
  }

  onAck(src: string, p: PacketFrame): void {
    const a = Payload.ack.decode(p.payload);
    if (!a) return this.host.drop('bad-payload');
    if (!this.reliableOut.ack(src, a.messageId) && !this.host.foreignAck?.(src, a.messageId)) this.host.drop('late-ack');
  }

  // ---------------------------------------------------------------- requests

  /** Answers requests on `port` of `app` with `fn`'s return value (or its error). Returns an unregister function. */
  handle(port: number, fn: RequestHandler, app?: string): () => void {
    return this.apps.handle(port, fn, app);
  }

  /** Sends a request and resolves with the reply; rejects with MeshError TIMEOUT when none comes, REFUSED when `to` has no handler on the port (serve). */
  request(to: string, data: AppData, options: { app?: string; port?: number; timeoutMs?: number } = {}): Promise<AppData> {
    const dst = this.host.checkTarget(to);
    const port = checkPort(options.port ?? 0);
    const app = appId(checkApp(options.app));
    checkData(data);
    const timeoutMs = options.timeoutMs ?? this.host.settings.requestTimeoutMs;
    if (!(timeoutMs > 0)) throw MeshError.invalid('timeoutMs must be positive');
    return this.host
      .run(() => this.requests.open(toHex(dst), timeoutMs, `request to ${shortId(to)} port ${port}`))
      .then(({ requestId, reply }) => {
        // The key exchange, when this is the first packet to `to`, counts within the timeout.
        this.originateSealed(dst, PacketKind.Request, Payload.request.encode({ app, port, requestId, data }), timeoutMs).catch((err: unknown) =>
          this.host.run(() => this.requests.fail(requestId, err as Error)),
        );
        return reply;
      });
  }

  onRequest(src: string, p: PacketFrame, hops: number, sealed: boolean): void {
    const r = Payload.request.decode(p.payload);
    if (!r) return this.host.drop('bad-payload');
    // Answered in kind: sealed to a sealed request (its sender's key came with it), else in the clear.
    const reply = (ok: boolean, data: AppData, code?: string) =>
      void this.originateSealed(p.src, PacketKind.Response, Payload.response.encode({ requestId: r.requestId, ok, data, code }), this.host.settings.requestTimeoutMs, sealed ? undefined : 'plaintext').catch(() =>
        this.host.run(() => this.host.drop('reply-unroutable')),
      );
    this.serve(src, r, hops, reply);
  }

  /**
   * Runs the handler of the request's app and port, and gives `reply` its answer once. With no
   * handler there the requester is told at once (REFUSED, as a stream to a port without a
   * stream handler is: streams/service.ts), not left to its own TIMEOUT, and the drop is still
   * counted (`no-handler`). That refusal is one Response per Request, shorter than most, so it
   * amplifies nothing, and it goes out under the limits every reply already has: the Request
   * passed this node's per-link and per-source buckets before it got here (rate-limit.ts:
   * `rate:link`, `rate:source`), and the Response waits behind a full first link and gives up
   * after the request timeout (originateSealed: CONGESTED), counted `reply-unroutable` when no
   * route takes it.
   */
  private serve(src: string, r: RequestPayload, hops: number, reply: (ok: boolean, data: AppData, code?: MeshErrorCode) => void): void {
    const handler = this.apps.handlerOf(r.app, r.port);
    if (!handler) {
      this.host.drop('no-handler');
      return reply(false, `no handler on port ${r.port}`, 'REFUSED');
    }
    // The handler runs outside the actor: a slow handler must not stall the node.
    Promise.resolve()
      .then(() => handler.fn({ from: src, data: r.data, port: r.port, app: handler.app, hops }))
      .then(
        (data) => reply(true, data ?? new Uint8Array(0)),
        // A code the requester should see (a browser tab that closed mid-run: HANDLER_CLOSED) goes
        // with it; REFUSED says that nothing ran, so only the node gives it (above), never a handler.
        (err: unknown) => reply(false, err instanceof Error ? err.message : String(err), err instanceof MeshError && err.code !== 'REFUSED' ? remoteCode(err.code) : undefined),
      );
  }

  /**
   * Runs request `requestId` of node `to` as if it had come to this node: a browser tab's data
   * plane took it off a link the tab hosts and passed it to another tab, which no longer handles
   * its port by the time it became that tab's to answer (docs/DATA-PLANE.md, "Answers that lost
   * their way"). Nothing ran, so the node runs it with its own handlers (in a browser: another
   * tab that handles the port), or refuses it (REFUSED) when it has none. The answer goes as
   * answerTaken sends one: sealed, or in the clear only inside a channel bound to `to`, and
   * each (to, requestId) once at most, with answerTaken's own (a second is a counted drop and
   * resolves false). Resolves true once the answer left this node.
   */
  runTaken(to: string, requestId: number, request: { app?: string; port: number; data: AppData }): Promise<boolean> {
    const dst = this.host.checkTarget(to);
    if (!isUint(requestId)) throw MeshError.invalid(`a request id is an unsigned integer, got ${String(requestId)}`);
    const port = checkPort(request.port);
    const app = appId(checkApp(request.app));
    checkData(request.data);
    return this.host.run(() => this.takenAnswered.add(`${toHex(dst)}:${requestId}`)).then((first) => {
      if (!first) {
        this.host.drop('taken-answer-twice');
        return false;
      }
      return new Promise<boolean>((resolve, reject) => {
        // It came over the link to `to` itself (a tab takes only its link's own peer's packets): one hop.
        this.host.run(() =>
          this.serve(toHex(dst), { app, port, requestId, data: request.data }, 1, (ok, data, code) => {
            Promise.resolve()
              .then(() => this.sendTaken(dst, Payload.response.encode({ requestId, ok, data, code })))
              .then(resolve, reject);
          }),
        ).catch(reject);
      });
    });
  }

  /**
   * Answers request `requestId` of node `to`, which this node never saw: a browser tab's data
   * plane took it off a link the tab hosts (docs/DATA-PLANE.md) and its answer cannot go back
   * the way the request came (the tab closed mid-run, or the channel to the tab that took it
   * went). The Response goes out as the node's own answer to a sealed request does (onRequest),
   * over whatever link or relay reaches `to` now: sealed, or in the clear only inside a channel
   * bound to `to`. A tab takes only requests that came sealed or in the clear inside such a
   * channel, which the node itself counts as sealed (e2e.ts `open`); its answer is never sent in
   * plaintext, which through a relay would show the relay what the tab answered. A failure carries only a code a node
   * may give (errors.ts remoteCode). Each (to, requestId) goes out at most once: a second is a
   * counted drop and resolves false. Resolves true once the Response left this node.
   */
  answerTaken(to: string, requestId: number, answer: TakenAnswer): Promise<boolean> {
    const dst = this.host.checkTarget(to);
    if (!isUint(requestId)) throw MeshError.invalid(`a request id is an unsigned integer, got ${String(requestId)}`);
    let response: Uint8Array;
    if (answer.ok === true) {
      checkData(answer.data);
      response = Payload.response.encode({ requestId, ok: true, data: answer.data });
    } else if (answer.ok === false) {
      if (typeof answer.message !== 'string') throw MeshError.invalid('a failed answer needs its message');
      checkData(answer.message);
      if (answer.code !== undefined && remoteCode(answer.code) === undefined) throw MeshError.invalid(`a failed answer may carry only a code a node may give, not ${String(answer.code)}`);
      response = Payload.response.encode({ requestId, ok: false, data: answer.message, code: answer.code });
    } else throw MeshError.invalid('an answer is ok true or false');
    return this.host.run(() => this.takenAnswered.add(`${toHex(dst)}:${requestId}`)).then((first) => {
      if (!first) {
        this.host.drop('taken-answer-twice');
        return false;
      }
      return this.sendTaken(dst, response);
    });
  }

  /** A Response for a request this node never saw (answerTaken, runTaken): always sealed, or direct; counted. */
  private sendTaken(dst: NodeId, response: Uint8Array): Promise<true> {
    return this.originateSealed(dst, PacketKind.Response, response, this.host.settings.requestTimeoutMs).then(
      () => this.host.run(() => (this.host.counters.takenAnswers++, true as const)),
      (err: unknown) => this.host.run(() => this.host.drop('reply-unroutable')).then(() => Promise.reject(err)),
    );
  }

  /** A node dropped a request of ours to `dst` sent at `sentAt` as `no-route` (unreachable.ts): the requests then pending fail. */
  unreachable(dst: string, sentAt: number, err: MeshError): void {
    this.requests.failTo(dst, sentAt, err);
  }

  onResponse(src: string, p: PacketFrame): void {
    const r = Payload.response.decode(p.payload);
    if (!r) return this.host.drop('bad-payload');
    if (this.requests.answer(src, r.requestId, r.ok, r.data, r.code)) return;
    // Authenticated like any packet that reached us (delivery.ts), so `src` may be believed.
    if (!this.host.foreignResponse?.(src, r.requestId, r.ok, r.data, r.code)) this.host.drop('late-response');
  }

  // ---------------------------------------------------------------- signalling

  /** Receives WebRTC signalling (or any small control text) sent to this node over the mesh. */
  onSignal(fn: SignalHandler): void {
    this.signalHandler = fn;
  }

  sendSignal(to: string, body: string): Promise<void> {
    const dst = this.host.checkTarget(to);
    return this.host.run(() => this.host.originate(dst, PacketKind.Signal, Payload.signal.encode({ body })));
  }

  onSignalPacket(src: string, p: PacketFrame): void {
    const s = Payload.signal.decode(p.payload);
    if (!s) return this.host.drop('bad-payload');
    if (!this.signalHandler) return this.host.drop('no-signal-handler');
    safeCall(() => this.signalHandler!(src, s.body));
  }
}
