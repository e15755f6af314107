/**
 * Reliable datagrams sent by the tab that hosts the bound link to their destination
 * (docs/DATA-PLANE.md, "Reliable datagrams"): the tab writes the copies of a message on the
 * DataChannel itself, in the clear, and takes the peer's Ack off it the same way, so neither the
 * message nor its ack crosses a MessagePort at this end. A tab whose bound link to the peer lives
 * in another tab (a relay grant) does the same through that tab: each copy goes over their relay
 * channel, and the host tab passes the Ack back by message id (relay-acks.ts): one leg each way
 * ("Reliable datagrams from a tab without the link"). The rules are the node's
 * (core/reliable.ts): one message id for every copy, copies after growing jittered pauses until
 * the ack or the deadline, TIMEOUT at the deadline, a permanent error at once.
 *
 * At-most-once rests on the receiver's window (its node's), which sees every copy whichever way
 * it came. So when the link leaves this tab mid-send (its grant is taken back: the link closes,
 * re-homes, the tab parks), the send is handed to the node *under the same message id* with the
 * time left (`viaNode`): the node's copies and the tab's are the same message to the receiver,
 * and the tab no longer claims its acks (they go to the node, which now owns the id).
 */
import type { Clock, Random, TimerHandle } from '../core/clock.js';
import { isMeshError, MeshError } from '../core/errors.js';
import { shortId } from '../core/id.js';
import { checkData } from '../core/node-checks.js';
import { type AppData, Payload } from '../core/payloads.js';
import { DEFAULT_DEADLINE_MS, FIRST_RETRY_MS, freshMessageId, jittered, MAX_DEADLINE_MS, MAX_RETRY_MS, PERMANENT } from '../core/reliable.js';
import type { PlainPacket } from '../core/sealed-frame.js';
import { opensStreams, streamable } from './stream-tap.js';
import { fromPeer, type Grant } from './tab-grant.js';

export interface TabReliableStats {
  reliableSent: number;
  reliableCopies: number;
  reliableAcked: number;
  reliableToNode: number;
  reliableAckedViaNode: number;
}

interface Outgoing {
  to: string;
  start: number;
  deadlineMs: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timers: TimerHandle[];
  viaNode: (messageId: number, remainingMs: number) => Promise<void>;
}

export class TabReliable {
  private readonly pending = new Map<number, Outgoing>();
  readonly stats: TabReliableStats = { reliableSent: 0, reliableCopies: 0, reliableAcked: 0, reliableToNode: 0, reliableAckedViaNode: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    /**
     * The tab's grant for a peer, and a write of one clear packet of ours on its link (fast-path.ts
     * `queue`; false: the link is gone): message `mid` of a send with `ms` left, for a host tab
     * that routes its Ack back.
     */
    private readonly host: { grant(to: string): Grant | undefined; write(g: Grant, plaintext: Uint8Array, mid: number, ms: number): Promise<boolean> },
  ) {}

  /** Whether a reliable datagram to `to` goes from this tab: its link to `to` is bound, here or in the tab that hosts it (a grant streams could be opened on). */
  has(to: string): boolean {
    return opensStreams(this.host.grant(to));
  }

  /**
   * A reliable datagram to `to` (has): sent, retried and acked in this tab, in the clear on the
   * bound link (here, or through the tab that hosts it); `viaNode` takes it over under its id
   * should the link leave the tab (or the way to it go).
   */
  sendTo(to: string, data: AppData, port: number, deadlineMs = DEFAULT_DEADLINE_MS, viaNode: (messageId: number, remainingMs: number) => Promise<void>): Promise<void> {
    checkData(data);
    if (!(deadlineMs > 0 && deadlineMs <= MAX_DEADLINE_MS)) throw MeshError.invalid(`deadlineMs must be from 1 to ${MAX_DEADLINE_MS}`);
    const messageId = this.nextId();
    // Its own buffer (not the data plane's scratch): every copy writes it again.
    const plaintext = Payload.reliableData.encode({ app: this.host.grant(to)!.app, port, messageId, data });
    const copy = (ms: number) => {
      const g = this.host.grant(to);
      return opensStreams(g) ? this.host.write(g, plaintext, messageId, ms) : Promise.resolve(false);
    };
    return this.send(to, messageId, deadlineMs, copy, viaNode);
  }

  get size(): number {
    return this.pending.size;
  }

  /** A fresh message id, random as the node's: the node's own and other tabs' never meet it in practice (one in 2^48). */
  nextId(): number {
    return freshMessageId(this.random, (id) => this.pending.has(id));
  }

  /**
   * Sends message `messageId` to `to`: `copy(ms)` writes one copy on the tab's link, `ms` before
   * the deadline (false: the tab no longer has it), until `ack` or the deadline. When a copy cannot be written the send
   * goes to `viaNode` with its id and the time left, and settles as that does.
   */
  send(to: string, messageId: number, deadlineMs: number, copy: (ms: number) => Promise<boolean>, viaNode: (messageId: number, remainingMs: number) => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const out: Outgoing = { to, start: this.clock.now(), deadlineMs, resolve, reject, timers: [], viaNode };
      this.pending.set(messageId, out);
      this.stats.reliableSent++;
      out.timers.push(this.clock.setTimeout(() => this.settle(messageId, timeout(to, deadlineMs)), deadlineMs));
      let pause = FIRST_RETRY_MS;
      const next = () => {
        if (this.pending.get(messageId) !== out) return;
        copy(Math.ceil(this.remaining(out))).then(
          (written) => {
            if (this.pending.get(messageId) !== out) return;
            if (!written) return this.toNode(messageId);
            this.stats.reliableCopies++;
            const wait = jittered(pause, this.random);
            pause = Math.min(pause * 2, MAX_RETRY_MS);
            if (wait < this.remaining(out)) out.timers.push(this.clock.setTimeout(next, wait));
            if (out.timers.length > 4) out.timers.splice(1, out.timers.length - 3);
          },
          (err: unknown) => {
            if (isMeshError(err) && PERMANENT.has(err.code)) this.settle(messageId, err);
            else if (this.pending.get(messageId) === out) this.toNode(messageId);
          },
        );
      };
      next();
    });
  }

  /** Whether an Ack from `from` for `messageId` is this tab's to take: a send of its own to that peer, not handed to the node. */
  owns(from: string, messageId: number): boolean {
    return this.pending.get(messageId)?.to === from;
  }

  /** The peer's ack: true when it settled a send of this tab's. */
  ack(from: string, messageId: number): boolean {
    if (!this.owns(from, messageId)) return false;
    this.stats.reliableAcked++;
    this.settle(messageId);
    return true;
  }

  /**
   * The peer's Ack reached the node instead (on another link to it: node.ts `onForeignAck`),
   * which authenticated it as any packet: true when it settled a send of this tab's.
   */
  ackViaNode(from: string, messageId: number): boolean {
    if (!this.owns(from, messageId)) return false;
    this.stats.reliableAckedViaNode++;
    this.settle(messageId);
    return true;
  }

  /** The tab no longer has a link to `peer` (its grant went for good): its sends there go to the node, each under its own id. */
  linkGone(peer: string): void {
    for (const [id, out] of [...this.pending]) if (out.to === peer) this.toNode(id);
  }

  /** The tab closes: its sends fail with `err`. */
  failAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, err);
  }

  private toNode(messageId: number): void {
    const out = this.pending.get(messageId);
    if (!out) return;
    this.pending.delete(messageId);
    for (const t of out.timers) t.cancel();
    const remaining = this.remaining(out);
    if (remaining <= 0) return out.reject(timeout(out.to, out.deadlineMs));
    this.stats.reliableToNode++;
    out.viaNode(messageId, Math.ceil(remaining)).then(out.resolve, out.reject);
  }

  private remaining(out: Outgoing): number {
    return out.deadlineMs - (this.clock.now() - out.start);
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

/** The node's own TIMEOUT, word for word (reliable.ts). */
function timeout(to: string, deadlineMs: number): MeshError {
  return new MeshError('TIMEOUT', `reliable send to ${shortId(to)} not acknowledged within ${deadlineMs} ms`);
}

/**
 * The message id of an Ack that fast-path.ts takes for `reliable`: a clear Ack (read by
 * readPlainPacket: unsigned, its one exact encoding) from the own peer of a bound link this tab
 * hosts (`key`), to us, for a send of this tab's to that peer, or (`relayed`) for one another tab
 * sent through this link that `routed` waits for (relay-acks.ts). Undefined: the node's (its own
 * sends', or ones handed to it). Such an Ack travels only inside that channel, as a clear
 * Response does (services.ts `onReliableData` sends it so only over a link bound to its destination).
 */
export function ackFor(reliable: TabReliable, routed: { size: number; has(key: string, peer: string, mid: number): boolean }, key: string, g: Grant | undefined, p: PlainPacket): { mid: number; relayed: boolean } | undefined {
  if ((reliable.size === 0 && routed.size === 0) || !streamable(g) || !fromPeer(g, p)) return undefined;
  const a = Payload.ack.decode(p.payload);
  if (!a) return undefined;
  if (reliable.owns(g.peer, a.messageId)) return { mid: a.messageId, relayed: false };
  return routed.has(key, g.peer, a.messageId) ? { mid: a.messageId, relayed: true } : undefined;
}
