/**
 * What the app registered in this tab: its datagram listeners, its request handlers (one per
 * port) and its topic subscriptions, and the calls to them. The node learns of each as a message
 * to the host; a tab that says hello again (to a new leader tab, or back from the freezer or the
 * back/forward cache) tells the host all of them once more (`register`).
 */
import { MeshError } from '../core/errors.js';
import type { AppData } from '../core/payloads.js';
import type { TabRequest } from './protocol.js';

export interface MeshMessage {
  from: string;
  data: AppData;
  port: number;
}

export interface TopicMessage {
  from: string;
  data: AppData;
  topic: string;
}

export type Handler = (m: MeshMessage) => AppData | void | Promise<AppData | void>;

/** What a handler gave: its answer, or (ok false) the message of what it threw. */
export interface HandlerOutcome {
  ok: boolean;
  data: AppData;
}

export class TabRegistrations {
  private readonly messageFns = new Set<(m: MeshMessage) => void>();
  private readonly handlers = new Map<number, Handler>();
  private readonly topics = new Map<string, Set<(m: TopicMessage) => void>>();
  /** The host's requests (rids) whose handler runs now and has not answered. */
  private readonly running = new Set<number>();
  /** The tab said `closing`: it starts and answers no host request any more (see close). */
  private closing = false;

  /** `fire`: a message to the host whose answer nobody waits for. */
  constructor(private readonly fire: (req: TabRequest) => void) {}

  onMessage(fn: (m: MeshMessage) => void): () => void {
    this.messageFns.add(fn);
    if (this.messageFns.size === 1) this.fire({ op: 'listen', on: true });
    return () => {
      if (this.messageFns.delete(fn) && this.messageFns.size === 0) this.fire({ op: 'listen', on: false });
    };
  }

  /** The port is checked by the caller. */
  handle(port: number, fn: Handler): () => void {
    if (this.handlers.has(port)) throw MeshError.invalid(`port ${port} already has a handler in this tab`);
    this.handlers.set(port, fn);
    this.fire({ op: 'handle', port });
    return () => {
      if (this.handlers.get(port) !== fn) return;
      this.handlers.delete(port);
      this.fire({ op: 'unhandle', port });
    };
  }

  subscribe(topic: string, fn: (m: TopicMessage) => void): () => void {
    let fns = this.topics.get(topic);
    if (!fns) {
      this.topics.set(topic, (fns = new Set()));
      this.fire({ op: 'subscribe', topic });
    }
    fns.add(fn);
    return () => {
      const set = this.topics.get(topic);
      if (!set?.delete(fn) || set.size > 0) return;
      this.topics.delete(topic);
      this.fire({ op: 'unsubscribe', topic });
    };
  }

  /** Tells a new host (after its hello) every listener, handler and subscription of this tab. */
  register(): void {
    if (this.messageFns.size > 0) this.fire({ op: 'listen', on: true });
    for (const port of this.handlers.keys()) this.fire({ op: 'handle', port });
    for (const topic of this.topics.keys()) this.fire({ op: 'subscribe', topic });
  }

  /** Whether the app listens to datagrams in this tab. */
  listening(): boolean {
    return this.messageFns.size > 0;
  }

  handles(port: number): boolean {
    return this.handlers.has(port);
  }

  /** A datagram to every listener. */
  deliver(from: string, data: AppData, port: number): void {
    for (const fn of this.messageFns) safe(() => fn({ from, data, port }));
  }

  /** A publication to every subscriber of its topic. */
  publication(from: string, data: AppData, topic: string): void {
    for (const fn of this.topics.get(topic) ?? []) safe(() => fn({ from, data, topic }));
  }

  /**
   * Runs the handler of `port`, which the caller knows there is (the data plane's requests:
   * fast-path.ts). A handler that returns its answer gets it back in this turn; only one that
   * returns a promise gets a promise. The data plane then writes the answer in the turn the
   * request came: each promise between costs a Firefox tab microseconds, and Firefox's send()
   * takes longer the longer the tab ran since the request (docs/BENCHMARKS.md, "What is ours in
   * Firefox").
   */
  run(from: string, data: AppData, port: number): HandlerOutcome | Promise<HandlerOutcome> {
    let out: ReturnType<Handler>;
    try {
      out = this.handlers.get(port)!({ from, data, port });
    } catch (err) {
      return failed(err);
    }
    return isThenable(out) ? Promise.resolve(out).then(answered, failed) : answered(out);
  }

  /**
   * Runs a request the host asked this tab to (its `rid`), and sends the host the answer. After
   * `closing` it neither starts one (the host gives it to another tab) nor answers one (the host
   * failed it: this tab named it as started).
   */
  async answer(rid: number, from: string, data: AppData, port: number): Promise<void> {
    if (this.closing) return;
    const fn = this.handlers.get(port);
    this.running.add(rid);
    let reply: TabRequest;
    try {
      if (!fn) throw new Error(`no handler on port ${port}`);
      const out = await fn({ from, data, port });
      reply = { op: 'reply', rid, ok: true, data: out ?? new Uint8Array(0) };
    } catch (err) {
      reply = { op: 'reply', rid, ok: false, data: err instanceof Error ? err.message : String(err) };
    }
    this.running.delete(rid);
    if (!this.closing) this.fire(reply);
  }

  /**
   * The tab is going: from now on no host request starts or is answered here. Returns the ones
   * whose handler started and has not answered, for the tab's `closing` message, which follows
   * every answer posted before it on the tab's port.
   */
  close(): number[] {
    this.closing = true;
    return [...this.running];
  }
}

const answered = (out: AppData | void): HandlerOutcome => ({ ok: true, data: out ?? new Uint8Array(0) });
const failed = (err: unknown): HandlerOutcome => ({ ok: false, data: err instanceof Error ? err.message : String(err) });
const isThenable = (x: unknown): x is PromiseLike<AppData | void> => typeof (x as { then?: unknown } | null | undefined)?.then === 'function';

/** Calls one of the app's functions: what it throws is logged, never thrown into the tab's mesh code. */
export function safe(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    console.error('meshwork: a listener threw', err);
  }
}
