/**
 * A peer's request that the host tab of its link took (docs/DATA-PLANE.md, "Several tabs" and
 * "Answers that lost their way"): run in this tab (`self`) or passed to the tab that handles its
 * port over their relay channel, and answered once: on the link, or through the node when the
 * link or this tab went first (owed-answers.ts). Also the other side of that: a request this tab
 * runs for another tab whose answer cannot go back on their channel any more (`adopt`).
 */
import { checkData } from '../core/node-checks.js';
import { PacketKind } from '../core/packets.js';
import { FastPayload } from '../core/payload-fast.js';
import type { AppData, RequestPayload } from '../core/payloads.js';
import type { FastPathHost } from './fast-path.js';
import { OwedAnswers } from './owed-answers.js';
import type { OwedAnswer, TakenRequest, UnrunRequest } from './protocol.js';
import type { Grant } from './tab-grant.js';
import type { TabRelays } from './tab-relay.js';

/** What it needs of the tab's data plane (fast-path.ts). */
export interface PeerRequestsHost {
  tab: Pick<FastPathHost, 'runHandler' | 'answerHome' | 'runHome'>;
  relays: TabRelays<Grant>;
  /** Writes a packet of ours of `kind` to the grant's peer, after those before it; false: the link is gone. A boolean at once when written in this turn (outbound-queue.ts `put`). */
  put(g: Grant, kind: number, plaintext: Uint8Array): boolean | Promise<boolean>;
  /** Where an answer's payload is encoded for `queue`, which uses or copies it in the call (fast-path.ts `scratch`). */
  scratch(): Uint8Array;
  /** Gives the frame to the node whole. */
  handOn(g: Grant, frame: Uint8Array): void;
  /** The data plane's counters (FastPathStatus). */
  stats: { responses: number; answersHome: number; requestsHome: number };
  drop(reason: string): void;
}

export class PeerRequests {
  private readonly owed = new OwedAnswers();

  constructor(private readonly h: PeerRequestsHost) {}

  /**
   * Runs request `r` from the peer of grant `g`, taken off its link, where the node said (`self`,
   * or a relay channel).
   */
  run(g: Grant, r: RequestPayload, to: string, frame: Uint8Array): void {
    const { h } = this;
    // Owed until written: should the link or this tab go first, the node answers it.
    const token = this.owed.take({ peer: g.peer, rid: r.requestId }, to === 'self');
    if (to === 'self') {
      const o = h.tab.runHandler(g.peer, r.data, r.port);
      if (o instanceof Promise) {
        void o.then(({ ok, data }) => this.answer(g, r.requestId, token, ok, data, false)).catch(() => this.unsent(token));
        return;
      }
      // A handler that returned its answer: written in this turn, with no promise (nor closure) before it or after it.
      try {
        this.answer(g, r.requestId, token, o.ok, o.data, false)?.catch(() => this.unsent(token));
      } catch {
        this.unsent(token);
      }
      return;
    }
    // One leg to the handling tab and one back. Its data moves there: a copy of its own, not a view into the frame.
    const data = r.data instanceof Uint8Array ? r.data.slice() : r.data;
    void h.relays.ask(to, g.peer, r.port, data, r.requestId).then((o) => {
      // This tab parked or closed first: the tab running it answers through the node (relay-channel.ts).
      if (o === 'left') return this.owed.settled(token);
      // That tab parked with it running: it answers through the node when it comes back.
      if (o === 'parked') return (this.owed.settled(token), h.drop('fast:handler-parked'));
      // As the worker tells a request whose tab closed mid-run (host-handlers.ts `closed`): not run again.
      if (o === 'closed') return this.answer(g, r.requestId, token, false, `the tab running the handler of port ${r.port} closed before it answered; it was not run again`, true, 'HANDLER_CLOSED');
      if (o !== 'not-run') return this.answer(g, r.requestId, token, o.ok, o.data, true);
      // Not run there (no handler any more, or the tab went first): the node's worker asks another tab, as it does when a tab dies.
      this.owed.settled(token);
      h.relays.stats.relayedRequestsToNode++;
      h.handOn(g, frame);
    }).catch(() => this.unsent(token));
  }

  /**
   * Writes the answer to the peer's request `rid` (owed as `token`) on the link, sealed where it
   * is not bound. Undefined when it was written (or is not owed any more) in this turn: no promise
   * after send(); else the promise of it.
   */
  private answer(g: Grant, rid: number, token: number, ok: boolean, data: AppData, relayed: boolean, code?: string): Promise<void> | undefined {
    checkData(data);
    if (!this.owed.answered(token, ok, data, code)) return undefined;
    const sent = this.h.put(g, PacketKind.Response, FastPayload.response.encode({ requestId: rid, ok, data, code }, this.h.scratch()));
    if (typeof sent === 'boolean') return void this.written(token, sent, relayed);
    return sent.then((s) => this.written(token, s, relayed));
  }

  private written(token: number, sent: boolean, relayed: boolean): void {
    if (!sent) return this.answerHome(token);
    this.owed.settled(token);
    this.h.stats.responses++;
    if (relayed) this.h.relays.stats.relayedReplies++;
  }

  /** The answer could not be written (the handler or the writing threw). */
  private unsent(token: number): void {
    this.owed.settled(token);
    this.h.drop('fast:reply-unsent');
  }

  /** A request this tab runs for another tab, whose answer cannot go back on their channel (relay-channel.ts `adopt`). */
  adopt(req: TakenRequest): number {
    return this.owed.take(req, true);
  }

  /** Its answer, through the node. */
  adoptedAnswer(token: number, a: { ok: boolean; data: AppData }): void {
    if (this.owed.answered(token, a.ok, a.data)) this.answerHome(token);
  }

  /**
   * One of them that nothing ran here (this tab no longer handles its port): the node runs it as
   * if it had come there (MeshNode.runTaken: another tab's handler, or REFUSED), unless this tab
   * closed first (its `closing` named it; the node answered it then).
   */
  unrun(token: number, r: UnrunRequest): void {
    const left = this.owed.left;
    this.owed.settled(token);
    if (left) return this.h.drop('fast:unrun-closed');
    this.h.stats.requestsHome++;
    this.h.tab.runHome(r);
  }

  /** The tab closes: what it leaves unanswered, for its `closing` (owed-answers.ts). */
  leave(): { failed: TakenRequest[]; answers: OwedAnswer[] } {
    return this.owed.leave();
  }

  /** An answer the link did not take (it went): the node sends it, unless this tab closed first (its `closing` had it). */
  private answerHome(token: number): void {
    const a = this.owed.handOver(token);
    if (!a) return this.h.drop('fast:reply-unsent');
    this.h.stats.answersHome++;
    this.h.tab.answerHome(a);
  }
}
