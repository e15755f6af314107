/**
 * The data plane across tabs (docs/DATA-PLANE.md, "Several tabs"): a MessageChannel the node's
 * worker set up between two tabs of the node, so that a tab whose peer's WebRTC link lives in
 * the other tab reaches it in one MessagePort leg instead of two through the worker.
 *
 * Either tab may host links the other uses, so each end plays both roles:
 * - *client*: posts frames it sealed itself (fast-path.ts, under a grant with `via`) for a link
 *   the other tab hosts, and gets back an ack per frame (written on the DataChannel, or not) and
 *   the answers to its requests, opened by the host tab;
 * - *host*: writes the frames it gets on the DataChannel with the same backpressure as its own
 *   (rtc-host.ts sendOwn), in the order they came, and passes back answers.
 *
 * Backpressure toward the host tab: at most WINDOW bytes of frames wait for their acks; further
 * sends wait. A MessagePort reports no close when its tab dies (BROWSER-FACTS.md): the worker,
 * which learns of it from the tab's Web Lock, tells the survivor (`relay-close`), and what was
 * not acked by then is settled as unknown (see `post`).
 */
import type { AppData } from '../core/payloads.js';

/** Bytes of frames a client may have posted and not yet seen acked: as much as the DataChannel's own high-water mark. */
const WINDOW = 1024 * 1024;

type RelayMessage =
  | { t: 'frame'; seq: number; key: string; frame: Uint8Array; rid?: number; ms?: number }
  | { t: 'ack'; seq: number; ok: boolean }
  | { t: 'answer'; rid: number; from: string; ok: boolean; data: AppData }
  /** A datagram to this tab's app that the host tab opened (its app has several tabs: DATA-PLANE.md, "Several tabs"). */
  | { t: 'data'; from: string; port: number; data: AppData }
  /** This end closes (its tab parks or goes): the other stops posting at once, before the worker tells it. */
  | { t: 'bye' };

/** What a channel needs of its tab's data plane (fast-path.ts). */
export interface RelayHost {
  /**
   * Host role: writes a frame another tab sealed on link `key`; a request's id (`rid`) is kept
   * for `ms` so that its Response, opened here, goes back on `back`. False: not written.
   */
  relayFrame(key: string, frame: Uint8Array, back: RelayChannel, rid?: number, ms?: number): Promise<boolean>;
  /** Client role: the host tab opened the answer to our request `rid` from `from`. */
  relayedAnswer(rid: number, from: string, ok: boolean, data: AppData): void;
  /** Client role: the host tab opened a datagram to our app. */
  relayedData(from: string, port: number, data: AppData): void;
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
  closed = false;

  constructor(
    readonly ch: string,
    private readonly port: MessagePort,
    private readonly host: RelayHost,
  ) {
    port.onmessage = (ev: MessageEvent) => this.onMessage(ev.data as RelayMessage);
  }

  /**
   * Client role: posts a sealed frame for link `key`, once the window has room. Resolves with
   * `sent`, which settles with the host tab's ack: true once written on the DataChannel, false
   * when not (the link is gone there: the caller goes through the node). Should the channel
   * close before the ack, whether it was written is unknown: a request (`rid`) then counts as
   * sent (it waits for its answer or its timeout: sending it again could run its handler twice),
   * a datagram as not sent (it goes again through the node: a duplicate at worst).
   */
  async post(key: string, frame: Uint8Array, rid?: number, ms?: number): Promise<{ sent: Promise<boolean> }> {
    while (!this.closed && this.inFlight > 0 && this.inFlight + frame.byteLength > WINDOW) {
      await new Promise<void>((wake) => this.windowWaiters.push(wake));
    }
    if (this.closed) return { sent: Promise.resolve(false) };
    const seq = this.nextSeq++;
    const bytes = frame.byteLength;
    const sent = new Promise<boolean>((settle) => this.unacked.set(seq, { bytes, settle, unknownAs: rid !== undefined }));
    this.inFlight += bytes;
    const m: RelayMessage = { t: 'frame', seq, key, frame, ...(rid !== undefined ? { rid, ms } : {}) };
    // The frame is one buffer of its own (sealed-frame.ts) that nothing here reads again: moved, not copied.
    const whole = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer;
    try {
      this.port.postMessage(m, whole ? [frame.buffer as ArrayBuffer] : []);
    } catch {
      this.ack(seq, false);
    }
    return { sent };
  }

  /** Host role: the answer to a request the other tab relayed through us. */
  answer(rid: number, from: string, ok: boolean, data: AppData): void {
    if (this.closed) return;
    const m: RelayMessage = { t: 'answer', rid, from, ok, data };
    const move = data instanceof Uint8Array && data.buffer instanceof ArrayBuffer ? [data.buffer] : [];
    try {
      this.port.postMessage(m, move);
    } catch {
      // A buffer that cannot move (shared with something else): copied instead.
      this.port.postMessage(m);
    }
  }

  /** Host role: a datagram to the other tab's app (the same as ours), opened here. `move`: its buffer may be moved, nothing else reads it. */
  data(from: string, port: number, data: AppData, move: boolean): void {
    if (this.closed) return;
    const m: RelayMessage = { t: 'data', from, port, data };
    const buffers = move && data instanceof Uint8Array && data.buffer instanceof ArrayBuffer ? [data.buffer] : [];
    try {
      this.port.postMessage(m, buffers);
    } catch {
      this.port.postMessage(m);
    }
  }

  /** The other tab is gone or parked (the worker says so), or this tab is: nothing more goes either way. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.port.postMessage({ t: 'bye' } satisfies RelayMessage);
    } catch {
      // Nothing to tell.
    }
    this.port.onmessage = null;
    this.port.close();
    for (const [seq, u] of [...this.unacked]) {
      this.unacked.delete(seq);
      u.settle(u.unknownAs);
    }
    this.inFlight = 0;
    this.wakeAll();
    this.host.channelClosed(this);
  }

  private onMessage(m: RelayMessage): void {
    if (this.closed || typeof m !== 'object' || m === null) return;
    if (m.t === 'ack') return this.ack(m.seq, m.ok === true);
    if (m.t === 'bye') return this.close();
    if (m.t === 'answer') return this.host.relayedAnswer(m.rid, m.from, m.ok, m.data);
    if (m.t === 'data') return this.host.relayedData(m.from, m.port, m.data);
    if (m.t === 'frame' && m.frame instanceof Uint8Array && typeof m.key === 'string') {
      const { key, frame, rid, ms } = m;
      this.serving = this.serving
        .then(() => this.host.relayFrame(key, frame, this, rid, ms))
        .catch(() => false)
        .then((ok) => {
          if (!this.closed) this.port.postMessage({ t: 'ack', seq: m.seq, ok } satisfies RelayMessage);
        });
    }
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

/** What the relay channels need of their tab's data plane (fast-path.ts), generic over its grant. */
export interface RelayOwner<G> {
  /** The grant this tab holds now for link `key` (it hosts the link), if any. */
  hostGrant(key: string): (G & { peer: string }) | undefined;
  /** Writes a frame on link `key`'s DataChannel with the tab's own backpressure (rtc-host.ts sendOwn). */
  write(key: string, frame: Uint8Array): Promise<boolean>;
  /** Client role: the answer to our request `rid`. */
  answered(rid: number, from: string, ok: boolean, data: AppData): void;
  /** Client role: a datagram to our app, opened by the host tab. */
  delivered(from: string, port: number, data: AppData): void;
  /** Application traffic with `peer` (the idle-link report). */
  busy(peer: string): void;
}

/** A request another tab relayed through this one, waiting for its Response on this tab's link. */
interface Route<G> {
  key: string;
  peer: string;
  /** The grant it was written under: its Response opens with this key even after a revoke. */
  grant: G;
  back: RelayChannel;
  timer: ReturnType<typeof setTimeout>;
}

/** Past a relayed request's own timeout, how long its route is kept (its answer is then dropped by the asking tab anyway). */
const ROUTE_SLACK_MS = 1_000;
/** A relayed request that names no timeout: the node's default (node-settings.ts). */
const DEFAULT_REQUEST_MS = 5_000;

/** This tab's relay channels, both roles, and the routes of relayed requests. */
export class TabRelays<G> implements RelayHost {
  private readonly channels = new Map<string, RelayChannel>();
  private readonly routes = new Map<number, Route<G>>();
  readonly stats = { relayedOut: 0, relayedBack: 0, relayedData: 0 };
  /**
   * Host role, while this tab's app has several tabs: where a datagram to the app goes, `self`
   * or a channel, as the node told (`fast-listeners`); null: the node hands them out.
   */
  private listeners: string[] | null = null;

  /** The node's list of this app's listening tabs (null: leave the app's datagrams to the node). */
  setListeners(tabs: string[] | null): void {
    this.listeners = tabs;
  }

  /** Whether this tab may take a datagram to its app although the app has other tabs. */
  get fanningOut(): boolean {
    return this.listeners !== null;
  }

  /**
   * Host role: a datagram to this tab's app, opened here, goes to every listening tab of the app
   * as the node would send it; `self`: whether this tab itself listens. False: no list (the
   * node's), or a listener's channel is gone (counted by the caller).
   */
  fanOut(from: string, port: number, data: AppData, self: () => void): boolean {
    const to = this.listeners;
    if (!to) return false;
    let all = true;
    const channels = to.filter((t) => t !== 'self').map((t) => this.channels.get(t));
    channels.forEach((c, i) => {
      if (!c || c.closed) return void (all = false);
      // The last one gets the buffer moved, the others copies, and this tab (if it listens) first.
      c.data(from, port, data, i === channels.length - 1 && !to.includes('self'));
      this.stats.relayedData++;
    });
    if (to.includes('self')) self();
    return all;
  }

  constructor(private readonly owner: RelayOwner<G>) {}

  open(ch: string, port: MessagePort): void {
    this.channels.get(ch)?.close();
    this.channels.set(ch, new RelayChannel(ch, port, this));
  }

  close(ch: string): void {
    this.channels.get(ch)?.close();
  }

  /** This tab parks or closes: its channels go (a message to a page in the back/forward cache would evict it). */
  closeAll(): void {
    for (const c of [...this.channels.values()]) c.close();
  }

  /** Client role: posts a frame for link `key` on channel `ch`; not sent when that channel is gone. */
  post(ch: string, key: string, frame: Uint8Array, rid?: number, ms?: number): Promise<{ sent: Promise<boolean> }> {
    const c = this.channels.get(ch);
    if (!c || c.closed) return Promise.resolve({ sent: Promise.resolve(false) });
    return c.post(key, frame, rid, ms);
  }

  get routing(): boolean {
    return this.routes.size > 0;
  }

  /** A grant a relayed request on link `key` was written under (its Response is still claimed after a revoke). */
  routedGrant(key: string): G | undefined {
    for (const r of this.routes.values()) if (r.key === key) return r.grant;
    return undefined;
  }

  /**
   * Host role: a Response from `peer` on link `key`, opened here, answers `rid`: true when it
   * was a relayed request's and went back to the tab that asked.
   */
  routeAnswer(key: string, peer: string, rid: number, ok: boolean, data: AppData): boolean {
    const r = this.routes.get(rid);
    if (!r || r.key !== key || r.peer !== peer) return false;
    this.routes.delete(rid);
    clearTimeout(r.timer);
    r.back.answer(rid, peer, ok, data);
    this.stats.relayedBack++;
    return true;
  }

  /** Whether `rid` is a relayed request's (its replay check comes before routeAnswer). */
  isRouted(key: string, peer: string, rid: number): boolean {
    const r = this.routes.get(rid);
    return r !== undefined && r.key === key && r.peer === peer;
  }

  async relayFrame(key: string, frame: Uint8Array, back: RelayChannel, rid?: number, ms?: number): Promise<boolean> {
    // Only on a link this tab holds a grant for: it must be able to open the answer.
    const g = this.owner.hostGrant(key);
    if (!g) return false;
    if (rid !== undefined) {
      const keep = (typeof ms === 'number' && ms > 0 ? ms : DEFAULT_REQUEST_MS) + ROUTE_SLACK_MS;
      const timer = setTimeout(() => this.routes.delete(rid), keep);
      const old = this.routes.get(rid);
      if (old) clearTimeout(old.timer);
      this.routes.set(rid, { key, peer: g.peer, grant: g, back, timer });
    }
    const ok = await this.owner.write(key, frame);
    if (ok) {
      this.stats.relayedOut++;
      this.owner.busy(g.peer);
    } else if (rid !== undefined && this.routes.get(rid)?.back === back) {
      clearTimeout(this.routes.get(rid)!.timer);
      this.routes.delete(rid);
    }
    return ok;
  }

  relayedData(from: string, port: number, data: AppData): void {
    this.owner.delivered(from, port, data);
  }

  relayedAnswer(rid: number, from: string, ok: boolean, data: AppData): void {
    this.owner.answered(rid, from, ok, data);
  }

  channelClosed(ch: RelayChannel): void {
    if (this.channels.get(ch.ch) === ch) this.channels.delete(ch.ch);
    for (const [rid, r] of [...this.routes]) {
      if (r.back !== ch) continue;
      clearTimeout(r.timer);
      this.routes.delete(rid);
    }
  }
}
