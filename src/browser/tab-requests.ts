/**
 * The requests a tab sends on its data plane (fast-path.ts): their ids, in a range of the tab's
 * lane (tab-grant.ts), their timers, and their answers, whichever way each comes: on the link
 * this tab hosts, from the tab that hosts it (tab-relay.ts), or from the node's worker, when
 * the answer reached the node instead (docs/DATA-PLANE.md, "Answers that come another way").
 * An answer settles its request once, from the peer that was asked, whichever way came first.
 */
import { MeshError, remoteFailure } from '../core/errors.js';
import type { AppData } from '../core/payloads.js';
import { DeadlineTimer } from './deadline-timer.js';
import { firstRequestId, type Grant } from './tab-grant.js';

/** The node's default request timeout (node-settings.ts), the same for requests the tab sends itself. */
const REQUEST_TIMEOUT_MS = 5_000;

interface PendingRequest {
  peer: string;
  /** The grant it was sent under: its Response opens with this key even after a revoke. */
  grant: Grant;
  resolve: (d: AppData) => void;
  reject: (e: Error) => void;
  /** When it times out (performance.now() ms), and the error it then fails with. */
  deadline: number;
  timedOut: () => MeshError;
}

export class TabRequests {
  private readonly pending = new Map<number, PendingRequest>();
  /** The next request id, by lane (see firstRequestId). */
  private readonly nextIds = new Map<number, number>();
  /** One timer for all pending requests' deadlines (deadline-timer.ts). */
  private readonly deadlines = new DeadlineTimer((now) => this.expire(now));

  get size(): number {
    return this.pending.size;
  }

  /** A request to `to` under grant `g`: its id, and its answer, or TIMEOUT after `ms` (the node's default unless told). */
  open(to: string, g: Grant, port: number, timeoutMs: number | undefined): { requestId: number; ms: number; reply: Promise<AppData> } {
    const ms = timeoutMs ?? REQUEST_TIMEOUT_MS;
    if (!(ms > 0)) throw MeshError.invalid('timeoutMs must be positive');
    const requestId = this.nextIds.get(g.lane) ?? firstRequestId(g.lane);
    this.nextIds.set(g.lane, requestId + 1);
    const reply = new Promise<AppData>((resolve, reject) => {
      const deadline = performance.now() + ms;
      const timedOut = () => MeshError.timeout(`request to ${to.slice(0, 12)} port ${port}`, ms);
      this.pending.set(requestId, { peer: to, grant: g, resolve, reject, deadline, timedOut });
      this.deadlines.schedule(deadline);
    });
    return { requestId, ms, reply };
  }

  /** Whether request `rid` waits for an answer from `from`. */
  waits(rid: number, from: string): boolean {
    return this.pending.get(rid)?.peer === from;
  }

  /** The answer to `rid` from `from` (`code`: a failure's, payloads.ts): false when no request of ours waits for it from that peer. */
  answer(rid: number, from: string, ok: boolean, data: AppData, code?: string): boolean {
    if (!this.waits(rid, from)) return false;
    this.settle(rid, (resolve, reject) => (ok ? resolve(data) : reject(remoteFailure(data, code))));
    return true;
  }

  /** Settles `rid` some other way (it went through the node instead, or failed); nothing if it is settled already. */
  settle(rid: number, fn: (resolve: (d: AppData) => void, reject: (e: Error) => void) => void): void {
    const p = this.pending.get(rid);
    if (!p) return;
    this.pending.delete(rid);
    fn(p.resolve, p.reject);
  }

  /** The tab closes: every request waiting fails with `err`. */
  failAll(err: Error): void {
    for (const rid of [...this.pending.keys()]) this.settle(rid, (_, reject) => reject(err));
    this.deadlines.stop();
  }

  /** A grant on link `key` (hosted here) under which a request still waits for its Response. */
  grantOn(key: string): Grant | undefined {
    for (const p of this.pending.values()) if (p.grant.key === key && p.grant.via === undefined) return p.grant;
    return undefined;
  }

  /** DeadlineTimer's sweep: requests due by `now` fail; returns the next deadline. */
  private expire(now: number): number {
    let next = Infinity;
    for (const [rid, p] of this.pending) {
      if (p.deadline <= now) this.settle(rid, (_, reject) => reject(p.timedOut()));
      else next = Math.min(next, p.deadline);
    }
    return next;
  }
}
