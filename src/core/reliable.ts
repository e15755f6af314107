/**
 * Reliable datagrams: `send(to, data, { reliable: true })`. The sender sends copies of one
 * message (same message id, fresh packet each time) with growing pauses until the destination
 * acknowledges it or the deadline passes; the destination delivers a message id at most once
 * and acknowledges every copy, so a lost ack only costs another copy.
 *
 * At most once holds as long as the receiver remembers a message id for longer than any copy
 * can still arrive: copies stop at the sender's deadline (at most MAX_DEADLINE_MS), and the
 * receiver keeps each id for WINDOW_MS, longer than that. The window never forgets an id early:
 * when it is full, a new message is refused (not acknowledged, so the sender tries again).
 */
import type { Clock, Random, TimerHandle } from './clock.js';
import { isMeshError, MeshError, type MeshErrorCode } from './errors.js';
import { shortId } from './id.js';
import { toHex } from './bytes.js';

export const DEFAULT_DEADLINE_MS = 10_000;
export const MAX_DEADLINE_MS = 120_000;
/** How long a receiver remembers a message id: past the longest deadline, plus time in flight. */
export const WINDOW_MS = MAX_DEADLINE_MS + 30_000;
/** Message ids remembered at once; past it, new messages are refused until old ones expire. */
export const WINDOW_CAPACITY = 65_536;
/** The pause before the second copy, doubling after each copy that left, up to MAX_RETRY_MS (also the tab's: src/browser/tab-reliable.ts). */
export const FIRST_RETRY_MS = 250;
export const MAX_RETRY_MS = 4_000;
/** The largest message id: 48 random bits (nextId). */
export const MAX_MESSAGE_ID = 2 ** 48;
/** Errors that no retry can cure: the send fails at once. */
export const PERMANENT: ReadonlySet<MeshErrorCode> = new Set(['ENCRYPTION_UNAVAILABLE', 'INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE', 'STOPPED']);

/** A fresh message id, not 0 and not `inUse`: random, so a restarted sender never reuses one a receiver remembers. */
export function freshMessageId(random: Random, inUse: (id: number) => boolean): number {
  let id = 0;
  while (id === 0 || inUse(id)) id = Math.floor(random.float() * MAX_MESSAGE_ID);
  return id;
}

/** The pause before the next copy: `base` give or take a quarter, so senders that lost the same link do not all retry in step. */
export function jittered(base: number, random: Random): number {
  return base * (0.75 + random.float() / 2);
}

interface Outgoing {
  to: string;
  resolve: () => void;
  reject: (err: Error) => void;
  timers: TimerHandle[];
}

/** The sender's side: messages awaiting their ack. */
export class ReliableSender {
  private readonly pending = new Map<number, Outgoing>();

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    /** Runs a timer's work on the node's actor. */
    private readonly enqueue: (fn: () => void) => void,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  nextId(): number {
    return freshMessageId(this.random, (id) => this.pending.has(id));
  }

  /**
   * Sends copies through `attempt` until `ack(to, messageId)` or the deadline. `attempt` gets
   * the time left; its failures (no route yet, a congested link, a lost key exchange) are
   * retried, except the permanent ones, which settle the send at once.
   */
  send(to: string, messageId: number, deadlineMs: number, attempt: (remainingMs: number) => Promise<void>): Promise<void> {
    // A message id given by a browser tab that sent the first copies itself (its data plane): one send per id.
    if (this.pending.has(messageId)) return Promise.reject(MeshError.invalid(`reliable message ${messageId} is already being sent`));
    const start = this.clock.now();
    return new Promise<void>((resolve, reject) => {
      const out: Outgoing = { to, resolve, reject, timers: [] };
      this.pending.set(messageId, out);
      out.timers.push(
        this.clock.setTimeout(
          () => this.enqueue(() => this.settle(messageId, new MeshError('TIMEOUT', `reliable send to ${shortId(to)} not acknowledged within ${deadlineMs} ms`))),
          deadlineMs,
        ),
      );
      let pause = FIRST_RETRY_MS;
      // One copy at a time. The pause doubles only after a copy actually left: an attempt that
      // failed before sending (waiting for the destination's key, no route yet) has used up no
      // chance of delivery, so the next one follows after the shortest pause.
      const copy = () => {
        if (this.pending.get(messageId) !== out) return;
        const remaining = deadlineMs - (this.clock.now() - start);
        if (remaining <= 0) return;
        const next = (sent: boolean) => {
          if (this.pending.get(messageId) !== out) return;
          const base = sent ? pause : FIRST_RETRY_MS;
          if (sent) pause = Math.min(pause * 2, MAX_RETRY_MS);
          const wait = jittered(base, this.random);
          if (wait < deadlineMs - (this.clock.now() - start)) out.timers.push(this.clock.setTimeout(() => this.enqueue(copy), wait));
          if (out.timers.length > 4) out.timers.splice(1, out.timers.length - 3);
        };
        attempt(remaining).then(
          () => this.enqueue(() => next(true)),
          (err: unknown) => {
            if (isMeshError(err) && PERMANENT.has(err.code)) this.enqueue(() => this.settle(messageId, err));
            else this.enqueue(() => next(false));
          },
        );
      };
      copy();
    });
  }

  /** An ack arrived: true when it settled a message of ours to that node. */
  ack(from: string, messageId: number): boolean {
    const out = this.pending.get(messageId);
    if (!out || out.to !== from) return false;
    this.settle(messageId);
    return true;
  }

  failAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, err);
  }

  private settle(messageId: number, err?: Error): void {
    const out = this.pending.get(messageId);
    if (!out) return;
    this.pending.delete(messageId);
    for (const t of out.timers) t.cancel();
    if (err) out.reject(err);
    else out.resolve();
  }
}

export type Arrival = 'new' | 'duplicate' | 'full';

/** The receiver's side: the message ids delivered recently, each kept for WINDOW_MS. */
export class ReliableWindow {
  /** Key -> expiry. Every entry lives WINDOW_MS, so insertion order is expiry order. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly capacity = WINDOW_CAPACITY,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** Whether `src`'s message `messageId` was already delivered. */
  has(src: string, messageId: number): boolean {
    this.expire();
    return this.seen.has(`${src}:${messageId}`);
  }

  /** Records a delivery; false when the window is full (the message must not be delivered). */
  record(src: string, messageId: number): boolean {
    this.expire();
    if (this.seen.size >= this.capacity) return false;
    this.seen.set(`${src}:${messageId}`, this.clock.now() + WINDOW_MS);
    return true;
  }

  /**
   * `src`'s message ids remembered now, each with the time it is still kept (ms): flat, id then
   * time, to hand to the browser tab that takes `src`'s reliable datagrams next (WindowHandOver).
   */
  entries(src: string): number[] {
    this.expire();
    const now = this.clock.now();
    const prefix = `${src}:`;
    const out: number[] = [];
    for (const [key, until] of this.seen) if (key.startsWith(prefix)) out.push(Number(key.slice(prefix.length)), until - now);
    return out;
  }

  /**
   * Remembers `src`'s message ids delivered elsewhere (`entries` of another window), each for the
   * time it says, at most WINDOW_MS. Past the capacity they are still kept: they were delivered,
   * so forgetting one would let it be delivered again. An id already here keeps its own time.
   */
  merge(src: string, entries: readonly number[]): void {
    const now = this.clock.now();
    for (let i = 0; i + 1 < entries.length; i += 2) {
      const id = entries[i]!;
      const left = Math.min(entries[i + 1]!, WINDOW_MS);
      if (!Number.isSafeInteger(id) || id <= 0 || !(left > 0)) continue;
      const key = `${src}:${id}`;
      // Kept at least until the entries inserted before it expire (insertion order is expiry order): longer, never shorter.
      if (!this.seen.has(key)) this.seen.set(key, now + left);
    }
  }

  private expire(): void {
    const now = this.clock.now();
    for (const [key, until] of this.seen) {
      if (until > now) break;
      this.seen.delete(key);
    }
  }
}

/**
 * The receiving side of a peer's reliable datagrams handed to a browser tab (docs/DATA-PLANE.md,
 * "Reliable datagrams"): while a tab takes `src`'s reliable datagrams for `app` with a window of
 * its own, the node refuses them (not delivered, not acknowledged: the sender tries again, and
 * its copies on the tab's link reach the tab), so one window at a time delivers a message. The
 * tab gets the node's entries for `src` when it starts (`handOut`) and gives its own back when
 * it stops (`handBack`); the node takes `src`'s datagrams for `app` again once every hand-out
 * was handed back.
 */
export class WindowHandOver {
  /** `${src}:${app}` -> hand-outs not handed back yet. */
  private readonly out = new Map<string, number>();

  constructor(private readonly window: ReliableWindow) {}

  /** A tab takes `src`'s reliable datagrams for `app` from now on: the node refuses them, and the tab gets this window's entries for `src`. */
  handOut(src: string, app: Uint8Array): number[] {
    const key = `${src}:${toHex(app)}`;
    this.out.set(key, (this.out.get(key) ?? 0) + 1);
    return this.window.entries(src);
  }

  /** The tab stopped: what it delivered is remembered here, and once no tab holds one, the node takes them again. */
  handBack(src: string, app: Uint8Array, entries: readonly number[]): void {
    this.window.merge(src, entries);
    const key = `${src}:${toHex(app)}`;
    const n = (this.out.get(key) ?? 0) - 1;
    if (n > 0) this.out.set(key, n);
    else this.out.delete(key);
  }

  /** Ids of `src`'s delivered by a tab whose hand-out was given up already (it died, then its window came after all): remembered, no more. */
  remember(src: string, entries: readonly number[]): void {
    this.window.merge(src, entries);
  }

  /** Whether a tab takes `src`'s reliable datagrams for `app` now: the node refuses them. */
  refuses(src: string, app: Uint8Array): boolean {
    return this.out.size > 0 && this.out.has(`${src}:${toHex(app)}`);
  }
}
