/**
 * One relay channel (docs/DATA-PLANE.md, "Several tabs"): a MessageChannel the node's worker set
 * up between two tabs of the node, and what goes over it. The tabs' routing lives in
 * tab-relay.ts; this file is the wire between two of them, and relay-messages.ts what goes on it.
 *
 * Either tab may host links the other uses, so each end plays both roles:
 * - *client*: posts frames it sealed itself for a link the other tab hosts, and gets back an ack
 *   per frame (written on the DataChannel, or not), the answers to its requests and the peer's
 *   datagrams to its app, opened by the host tab; and runs the peer's requests to its app that
 *   the host tab asks it to (`request`), answering each once (`reply`);
 * - *host*: writes the frames it gets on the DataChannel, in the order they came, and passes
 *   back answers, datagrams and requests.
 *
 * Backpressure toward the host tab: at most WINDOW bytes of frames wait for their acks; further
 * sends wait. A MessagePort reports no close when its tab dies (BROWSER-FACTS.md): the worker,
 * which learns of it from the tab's Web Lock, tells the survivor (`relay-close`), and what was
 * not acked or answered by then is settled as unknown (see `post` and `ask`).
 */
import { BoundedMap } from '../core/dedupe.js';
import { movable } from './frame-pool.js';
import type { AppData } from '../core/payloads.js';
import type { TakenRequest, UnrunRequest } from './protocol.js';
import type { FrameRoute, RelayMessage } from './relay-messages.js';

/** Bytes of frames a client may have posted and not yet seen acked: as much as the DataChannel's own high-water mark. */
const WINDOW = 1024 * 1024;
/**
 * Client role: replies kept after they were posted, should the host tab go before it read them
 * (its `bye` names what it asked and had no reply to): a few ms of replies at most are at stake.
 */
const REPLIES_KEPT = 64;
/**
 * How long a channel whose other tab said it parks or closes waits for that tab's `bye` after the
 * worker's `relay-close` (`awaitBye`). The `bye` was posted first, but on another port than the
 * worker's message, and the engine may deliver the two in either order; it is normally a task
 * away. Past this, the channel closes as for a tab that died without a word.
 */
export const BYE_WAIT_MS = 1_000;

/** What a relayed request came to, as its host tab sees it. */
export type AskOutcome =
  | { ok: boolean; data: AppData }
  /** Not run there: the tab has no handler (any more), or the channel closed before it answered (see `ask`). */
  | 'not-run'
  /** The tab parked with the handler running: its answer cannot come back, and running it elsewhere could run it twice. */
  | 'parked'
  /** The tab went for good with the handler running: the same, and its requester is told (HANDLER_CLOSED). */
  | 'closed'
  /** This tab parked or closed first: the other tab runs it and answers through the node. */
  | 'left';

/** What a channel needs of its tab's data plane (fast-path.ts). */
export interface RelayHost {
  /**
   * Host role: writes a frame another tab sealed on link `key`; a request's id (`rid`), or a
   * reliable datagram's (`mid`), is kept for `ms` so that its Response or Ack, taken here, goes
   * back on `back`. False: not written.
   */
  relayFrame(key: string, frame: Uint8Array, back: RelayChannel, route?: FrameRoute): Promise<boolean>;
  /** Client role: the peer's Ack to our reliable datagram `mid`, routed back; false: no send of ours (the frame goes back, `rack-refused`). */
  relayedAck(from: string, mid: number): boolean;
  /** Host role: an Ack we routed to the other tab is not its: the node's (the whole frame, as it came on link `key`). */
  relayedAckRefused(key: string, frame: Uint8Array): void;
  /** Client role: the host tab opened the answer to our request `rid` from `from`. */
  relayedAnswer(rid: number, from: string, ok: boolean, data: AppData, code?: string): void;
  /** Client role: the host tab opened a datagram to our app. */
  relayedData(from: string, port: number, data: AppData): void;
  /** Client role: a segment from the peer of link `key` for one of our streams, or an Open to a port we handle (the whole clear frame, claimed and replay-checked there). */
  relayedStream(key: string, frame: Uint8Array, back: RelayChannel): void;
  /** Host role: the other tab refused P's stream `sid` on link `key` that we passed it: its Open goes to the node. */
  relayedStreamRefused(key: string, sid: number, back: RelayChannel): void;
  /** Client role: link `key` left the host tab: our streams on it end ABORTED. */
  relayedLinkGone(key: string): void;
  /** Client role: runs our handler for a request the host tab opened; undefined: no handler here. */
  relayedRequest(from: string, port: number, data: AppData): Promise<{ ok: boolean; data: AppData } | undefined>;
  /**
   * Client role: a request this tab runs (or ran) for the other tab, whose answer can no longer
   * go back on this channel (the other tab went, or this one parked): this tab's data plane owes
   * it now (owed-answers.ts); returns its token.
   */
  adopt(req: TakenRequest): number;
  /** Its answer: sent through the node, unless this tab has closed meanwhile (the node then failed it). */
  adoptedAnswer(token: number, answer: { ok: boolean; data: AppData }): void;
  /**
   * Nothing ran here (no handler any more): the node runs it as if it had come there, with its
   * own handlers (another tab's, or REFUSED), since the other tab can no longer hand it on.
   */
  unrun(token: number, req: UnrunRequest): void;
  /** A message that names nothing this end waits for: dropped and counted. */
  stray(reason: string): void;
  /** The channel closed: routes that answered on it go. */
  channelClosed(ch: RelayChannel): void;
}

interface Unacked {
  bytes: number;
  settle: (ok: boolean) => void;
  /** What a frame whose fate is unknown (the channel closed first) counts as: see `post`. */
  unknownAs: boolean;
}

export class RelayChannel {
  private nextSeq = 1;
  private readonly unacked = new Map<number, Unacked>();
  private inFlight = 0;
  private windowWaiters: (() => void)[] = [];
  /** Frames from the other tab are written in the order they came. */
  private serving: Promise<void> = Promise.resolve();
  /** Host role: requests asked of the other tab, by id, waiting for its reply. */
  private readonly asks = new Map<number, (o: AskOutcome) => void>();
  private nextAsk = 1;
  /** Client role: requests the other tab asked of us whose handler runs now. */
  private readonly running = new Map<number, TakenRequest>();
  /** Client role: of those, the ones this tab's data plane adopted as the channel closed (see `close`), by id: their tokens. */
  private readonly adopted = new Map<number, number>();
  /** Client role: replies posted lately (REPLIES_KEPT): an answer, or `unrun` (nothing ran: the request itself, for the node). */
  private readonly replied = new BoundedMap<number, { req: TakenRequest; ok: boolean; data: AppData } | { unrun: UnrunRequest }>(REPLIES_KEPT);
  closed = false;
  /** Set by `awaitBye`: nothing more goes out, and the channel closes at the other tab's `bye` or when it fires. */
  private byeWait: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly ch: string,
    private readonly port: MessagePort,
    private readonly host: RelayHost,
  ) {
    port.onmessage = (ev: MessageEvent) => this.onMessage(ev.data as RelayMessage);
  }

  /** Whether anything may still go out on the channel: not closed, and not waiting for the other tab's `bye`. */
  get open(): boolean {
    return !this.closed && this.byeWait === undefined;
  }

  /**
   * The node says the other tab parked or closed, and that it said so itself: its `bye`, which
   * names the requests it was running, was posted before and is on its way. Nothing more goes
   * out; what waits on the channel is settled when the `bye` comes (`close`), or after
   * BYE_WAIT_MS as for a tab that died. Settling at once would give the node requests that may
   * still be running in the parked tab, and could run them twice.
   */
  awaitBye(): void {
    if (!this.open) return;
    this.byeWait = setTimeout(() => this.close(), BYE_WAIT_MS);
    this.wakeAll();
  }

  /**
   * Client role: posts a sealed frame for link `key`, once the window has room. Resolves with
   * `sent`, which settles with the host tab's ack: true once written on the DataChannel, false
   * when not (the link is gone there: the caller goes through the node). Should the channel
   * close before the ack, whether it was written is unknown: a request (`rid`) then counts as
   * sent (it waits for its answer or its timeout: sending it again could run its handler twice),
   * a datagram as not sent (it goes again through the node: a duplicate at worst; a reliable
   * one under its message id, so not even that).
   */
  async post(key: string, frame: Uint8Array, route: FrameRoute = {}): Promise<{ sent: Promise<boolean> }> {
    while (this.open && this.inFlight > 0 && this.inFlight + frame.byteLength > WINDOW) {
      await new Promise<void>((wake) => this.windowWaiters.push(wake));
    }
    if (!this.open) return { sent: Promise.resolve(false) };
    const seq = this.nextSeq++;
    const bytes = frame.byteLength;
    const sent = new Promise<boolean>((settle) => this.unacked.set(seq, { bytes, settle, unknownAs: route.rid !== undefined }));
    this.inFlight += bytes;
    const m: RelayMessage = { t: 'frame', seq, key, frame, ...route };
    // The frame is one buffer of its own (sealed-frame.ts) that nothing here reads again: moved, not copied.
    try {
      this.port.postMessage(m, movable(frame));
    } catch {
      this.ack(seq, false);
    }
    return { sent };
  }

  /** Host role: the answer to a request the other tab relayed through us. */
  answer(rid: number, from: string, ok: boolean, data: AppData, code?: string): void {
    if (!this.open) return;
    const m: RelayMessage = { t: 'answer', rid, from, ok, data, ...(code !== undefined ? { code } : {}) };
    const move = data instanceof Uint8Array && data.buffer instanceof ArrayBuffer ? [data.buffer] : [];
    try {
      this.port.postMessage(m, move);
    } catch {
      // A buffer that cannot move (shared with something else): copied instead.
      this.port.postMessage(m);
    }
  }

  /**
   * Host role: asks the other tab to run its handler for a request to its app (the node said it
   * handles the port). Resolves with its reply, once; `not-run` when it has no handler or the
   * channel closes first with the handler not started there (the caller gives the request to
   * the node, whose worker asks another tab, as it does when a tab dies: host-handlers.ts `ask`);
   * `parked` when the tab parked with the handler running, `closed` when it closed with it running.
   * `data` is moved: the caller's own.
   */
  ask(from: string, port: number, data: AppData, rid: number): Promise<AskOutcome> {
    if (!this.open) return Promise.resolve('not-run');
    const id = this.nextAsk++;
    const outcome = new Promise<AskOutcome>((settle) => this.asks.set(id, settle));
    const m: RelayMessage = { t: 'request', id, from, port, data, rid };
    try {
      this.port.postMessage(m, data instanceof Uint8Array && data.buffer instanceof ArrayBuffer ? [data.buffer] : []);
    } catch {
      this.settleAsk(id, 'not-run');
    }
    return outcome;
  }

  /** Host role: a datagram to the other tab's app (the same as ours), opened here. `move`: its buffer may be moved, nothing else reads it. */
  data(from: string, port: number, data: AppData, move: boolean): void {
    if (!this.open) return;
    const m: RelayMessage = { t: 'data', from, port, data };
    const buffers = move && data instanceof Uint8Array && data.buffer instanceof ArrayBuffer ? [data.buffer] : [];
    try {
      this.port.postMessage(m, buffers);
    } catch {
      this.port.postMessage(m);
    }
  }

  /** Host role: a segment of a stream the other tab runs, from the link's peer: its frame moved, nothing here reads it again. */
  stream(key: string, frame: Uint8Array): void {
    if (this.open) this.port.postMessage({ t: 'stream', key, frame } satisfies RelayMessage, movable(frame));
  }

  /** Host role: the peer's Ack to the other tab's reliable datagram `mid` (its frame moved where it is a whole buffer). */
  routeAck(key: string, from: string, mid: number, frame: Uint8Array): boolean {
    if (!this.open) return false;
    this.port.postMessage({ t: 'rack', key, from, mid, frame } satisfies RelayMessage, movable(frame));
    return true;
  }

  /** Client role: P's stream `sid` on link `key`, whose Open the host tab passed, is not ours to take (see `stream-refused`). */
  refuseStream(key: string, sid: number): void {
    if (this.open) this.port.postMessage({ t: 'stream-refused', key, sid } satisfies RelayMessage);
  }

  /** Host role: link `key` left this tab; the other tab's streams on it end. */
  linkGone(key: string): void {
    if (this.open) this.port.postMessage({ t: 'link-gone', key } satisfies RelayMessage);
  }

  /**
   * The other tab is gone or parked (the worker says so, or its `bye`: `running`, the requests
   * it was running when it parked or closed, `closing` when it closed), or this tab is
   * (`leaving`: it parks or closes for good): nothing more goes either way. Requests asked of the
   * other tab and not answered: see `ask`.
   */
  close(how: { leaving?: 'parked' | 'closing'; running?: number[]; closing?: boolean; asked?: number[] } = {}): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.byeWait);
    try {
      const running = how.leaving && this.running.size > 0 ? [...this.running.keys()] : undefined;
      const asked = how.leaving && this.asks.size > 0 ? [...this.asks.keys()] : undefined;
      this.port.postMessage({ t: 'bye', ...(running ? { running } : {}), ...(how.leaving === 'closing' ? { closing: true as const } : {}), ...(asked ? { asked } : {}) } satisfies RelayMessage);
    } catch {
      // Nothing to tell.
    }
    this.port.onmessage = null;
    this.port.close();
    for (const [seq, u] of [...this.unacked]) {
      this.unacked.delete(seq);
      u.settle(u.unknownAs);
    }
    // Client role. The requests this tab runs for the other: their answers go through the node
    // from now on (the data plane adopts them), unless this tab closes (its `bye` named them: the
    // other tab tells their requesters HANDLER_CLOSED). Replies the other tab left without
    // reading (`asked`): through the node too.
    if (how.leaving !== 'closing') {
      for (const [id, req] of this.running) this.adopted.set(id, this.host.adopt(req));
      for (const id of how.asked ?? []) {
        const r = this.replied.take(id);
        if (!r) continue;
        if ('unrun' in r) this.host.unrun(this.host.adopt({ peer: r.unrun.peer, rid: r.unrun.rid }), r.unrun);
        else this.host.adoptedAnswer(this.host.adopt(r.req), r);
      }
    }
    // Host role. A tab that died is asked nothing more and answers nothing: the worker asks another tab in
    // that case too (host-handlers.ts `ask`). One that parked with the handler running keeps it, as the
    // worker leaves a parked tab its requests, and answers through the node when it comes back. One that
    // closed with it running will not answer: its requester is told, as the worker tells it. When
    // this tab leaves first, the other runs what it was asked and answers through the node.
    const ranThere = new Set(how.running ?? []);
    for (const id of [...this.asks.keys()]) this.settleAsk(id, how.leaving ? 'left' : !ranThere.has(id) ? 'not-run' : how.closing ? 'closed' : 'parked');
    this.inFlight = 0;
    this.wakeAll();
    this.host.channelClosed(this);
  }

  private onMessage(m: RelayMessage): void {
    if (this.closed || typeof m !== 'object' || m === null) return;
    if (m.t === 'ack') return this.ack(m.seq, m.ok === true);
    if (m.t === 'bye') return this.close({ running: Array.isArray(m.running) ? m.running : [], closing: m.closing === true, asked: Array.isArray(m.asked) ? m.asked : [] });
    if (m.t === 'answer') return this.host.relayedAnswer(m.rid, m.from, m.ok, m.data, typeof m.code === 'string' ? m.code : undefined);
    if (m.t === 'data') return this.host.relayedData(m.from, m.port, m.data);
    if (m.t === 'rack') {
      if (typeof m.from !== 'string' || !Number.isSafeInteger(m.mid) || !(m.frame instanceof Uint8Array)) return this.host.stray('fast:stray-ack');
      if (!this.host.relayedAck(m.from, m.mid) && this.open) this.port.postMessage({ t: 'rack-refused', key: m.key, frame: m.frame } satisfies RelayMessage, movable(m.frame));
      return;
    }
    if (m.t === 'rack-refused') return m.frame instanceof Uint8Array && typeof m.key === 'string' ? this.host.relayedAckRefused(m.key, m.frame) : this.host.stray('fast:stray-ack');
    if (m.t === 'stream') return m.frame instanceof Uint8Array && typeof m.key === 'string' ? this.host.relayedStream(m.key, m.frame, this) : this.host.stray('fast:stray-stream');
    if (m.t === 'stream-refused') return typeof m.key === 'string' && Number.isSafeInteger(m.sid) ? this.host.relayedStreamRefused(m.key, m.sid, this) : this.host.stray('fast:stray-refusal');
    if (m.t === 'link-gone') return typeof m.key === 'string' ? this.host.relayedLinkGone(m.key) : undefined;
    if (m.t === 'request') return void this.run(m.id, m.from, m.port, m.data, { peer: m.from, rid: m.rid });
    if (m.t === 'reply') {
      if (!this.asks.has(m.id)) return this.host.stray('fast:stray-reply');
      return this.settleAsk(m.id, m.unhandled === true ? 'not-run' : { ok: m.ok === true, data: m.data });
    }
    if (m.t === 'frame' && m.frame instanceof Uint8Array && typeof m.key === 'string') {
      const { key, frame, rid, mid, ms } = m;
      this.serving = this.serving
        .then(() => this.host.relayFrame(key, frame, this, { rid, mid, ms }))
        .catch(() => false)
        .then((ok) => {
          if (this.open) this.port.postMessage({ t: 'ack', seq: m.seq, ok } satisfies RelayMessage);
        });
    }
  }

  /** Client role: runs our handler for a request the host tab opened, and replies once. */
  private async run(id: number, from: string, port: number, data: AppData, req: TakenRequest): Promise<void> {
    if (typeof id !== 'number' || this.running.has(id) || !Number.isSafeInteger(req.rid)) return this.host.stray('fast:stray-request');
    this.running.set(id, req);
    let reply: Extract<RelayMessage, { t: 'reply' }>;
    try {
      const out = await this.host.relayedRequest(from, port, data);
      reply = out ? { t: 'reply', id, ok: out.ok, data: out.data } : { t: 'reply', id, ok: false, data: '', unhandled: true };
    } catch (err) {
      reply = { t: 'reply', id, ok: false, data: err instanceof Error ? err.message : String(err) };
    }
    this.running.delete(id);
    const token = this.adopted.get(id);
    if (token !== undefined) {
      this.adopted.delete(id);
      return reply.unhandled ? this.host.unrun(token, { ...req, port, data }) : this.host.adoptedAnswer(token, reply);
    }
    if (this.closed) return;
    try {
      this.port.postMessage(reply);
    } catch {
      // Not cloneable: the handler's own fault, told as the worker tells it.
      reply = { t: 'reply', id, ok: false, data: 'the handler returned what cannot be posted' };
      this.port.postMessage(reply);
    }
    // Unhandled, nothing ran: the other tab gives the request to its node, unless it leaves before
    // it reads this reply (its `bye` names it in `asked`); then this tab's node runs it (`close`).
    this.replied.set(id, reply.unhandled ? { unrun: { ...req, port, data } } : { req, ok: reply.ok, data: reply.data });
  }

  private settleAsk(id: number, o: AskOutcome): void {
    const settle = this.asks.get(id);
    if (!settle) return;
    this.asks.delete(id);
    settle(o);
  }

  private ack(seq: number, ok: boolean): void {
    const u = this.unacked.get(seq);
    if (!u) return;
    this.unacked.delete(seq);
    this.inFlight -= u.bytes;
    u.settle(ok);
    this.wakeAll();
  }

  private wakeAll(): void {
    const waiters = this.windowWaiters;
    this.windowWaiters = [];
    for (const wake of waiters) wake();
  }
}
