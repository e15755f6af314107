/** Request/response over datagrams: pending requests by id, each with its own deadline. */
import type { Clock, TimerHandle } from './clock.js';
import { MeshError, remoteFailure } from './errors.js';
import type { AppData } from './payloads.js';

interface Pending {
  /** Who must answer; undefined accepts an answer from any node (lookups). */
  to: string | undefined;
  resolve: (data: AppData) => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
  /** Clock time it was opened. */
  at: number;
}

export class PendingRequests {
  private pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly clock: Clock, private readonly onTimeout: (fn: () => void) => void) {}

  get size(): number {
    return this.pending.size;
  }

  /** Registers a request to `to`; the promise settles on a matching reply or at the deadline. */
  open(to: string | undefined, timeoutMs: number, what: string): { requestId: number; reply: Promise<AppData> } {
    const requestId = this.nextId++;
    const reply = new Promise<AppData>((resolve, reject) => {
      const timer = this.clock.setTimeout(
        () => this.onTimeout(() => this.settle(requestId, undefined, MeshError.timeout(what, timeoutMs))),
        timeoutMs,
      );
      this.pending.set(requestId, { to, resolve, reject, timer, at: this.clock.now() });
    });
    return { requestId, reply };
  }

  /** A reply arrived: true when it matched a pending request from that node. `code`: a failure's (payloads.ts ResponsePayload). */
  answer(from: string, requestId: number, ok: boolean, data: AppData, code?: string): boolean {
    const p = this.pending.get(requestId);
    if (!p || (p.to !== undefined && p.to !== from)) return false;
    if (ok) this.settle(requestId, data);
    else this.settle(requestId, undefined, remoteFailure(data, code));
    return true;
  }

  /** Who must answer request `requestId` while it is pending (undefined: not pending, or anyone may). */
  peerOf(requestId: number): string | undefined {
    return this.pending.get(requestId)?.to;
  }

  fail(requestId: number, err: Error): void {
    this.settle(requestId, undefined, err);
  }

  /** Fails the requests to `to` opened by clock time `openedBy` (a later one may have found it again). */
  failTo(to: string, openedBy: number, err: Error): void {
    for (const [id, p] of [...this.pending]) if (p.to === to && p.at <= openedBy) this.settle(id, undefined, err);
  }

  failAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, undefined, err);
  }

  private settle(requestId: number, data: AppData | undefined, err?: Error): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    p.timer.cancel();
    if (err) p.reject(err);
    else p.resolve(data!);
  }
}
