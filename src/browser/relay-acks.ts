/**
 * Host role (docs/DATA-PLANE.md, "Reliable datagrams from a tab without the link"): the reliable
 * datagrams other tabs sent through this tab's links, by (peer, message id), so that the peer's
 * Ack, which names only the message id, goes back to the tab that waits for it: one leg, as a
 * relayed request's Response goes back by its request id (tab-relay.ts).
 *
 * A route lives while the send can still be acked: each copy posted renews it for the time left
 * of the send's deadline (plus slack for the Ack on its way); the first Ack takes it. The table is
 * bounded: past MAX_ROUTES the oldest route goes, and its Ack then reaches the node, which passes
 * it to every tab (fast-grants.ts `ackTab`, `fast-ack`), the sending tab among them. So losing a
 * route costs legs, never an ack.
 */
import type { RelayChannel } from './relay-channel.js';

/** More sends in flight from other tabs than this at once is unusual (each waits for its ack): the oldest routes go. */
export const MAX_ROUTES = 4096;
/** Past a send's deadline, how long its route is kept (its Ack may be on the wire as the deadline passes). */
const SLACK_MS = 1_000;

interface AckRoute {
  key: string;
  back: RelayChannel;
  until: number;
}

export class AckRoutes {
  private readonly routes = new Map<string, AckRoute>();
  /** Routes pushed out by the bound before their Ack came (counted in status().fastPath). */
  evicted = 0;

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.routes.size;
  }

  /** A copy of message `mid` to `peer` on link `key`, posted by the tab on `back`, whose send has `ms` left. */
  add(key: string, peer: string, mid: number, back: RelayChannel, ms: number): void {
    const id = `${peer}/${mid}`;
    this.routes.delete(id);
    this.routes.set(id, { key, back, until: this.now() + Math.max(0, ms) + SLACK_MS });
    // Insertion order is renewal order: the first route is the one renewed longest ago.
    if (this.routes.size <= MAX_ROUTES) return;
    const [oldest, r] = this.routes.entries().next().value!;
    this.routes.delete(oldest);
    if (r.until > this.now()) this.evicted++;
  }

  /** Whether an Ack from `peer` on link `key` for `mid` is one to route back (a live route for it on that link). */
  has(key: string, peer: string, mid: number): boolean {
    const r = this.routes.get(`${peer}/${mid}`);
    return r !== undefined && r.key === key && r.until > this.now() && r.back.open;
  }

  /** The channel to pass the Ack to (has() said yes); the route goes with it: later acks of the message are the node's. */
  take(key: string, peer: string, mid: number): RelayChannel | undefined {
    if (!this.has(key, peer, mid)) return undefined;
    const id = `${peer}/${mid}`;
    const r = this.routes.get(id)!;
    this.routes.delete(id);
    return r.back;
  }

  /** A copy that was not written: its route goes, unless a later copy renewed it on another channel. */
  unwritten(peer: string, mid: number, back: RelayChannel): void {
    const id = `${peer}/${mid}`;
    if (this.routes.get(id)?.back === back) this.routes.delete(id);
  }

  /** Channel `ch` closed: nothing goes back on it. */
  channelClosed(ch: RelayChannel): void {
    for (const [k, r] of [...this.routes]) if (r.back === ch) this.routes.delete(k);
  }
}
