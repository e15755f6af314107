/**
 * The peers' requests this tab's data plane took off the links it hosts and has not answered
 * yet (docs/DATA-PLANE.md, "Answers that lost their way"), so that none is left without an answer
 * when the tab goes, and none is answered twice.
 *
 * Who owns a request's answer, and when: the tab that took it, until the answer is written on
 * the DataChannel. While the handler runs here (`self`) and the tab closes, the request goes in
 * its `closing` as failed, and the node sends the peer HANDLER_CLOSED (it may have done part of
 * its work: not run again). Answered here but not written yet when the tab closes: the answer goes
 * in the `closing`, and the node sends it. Passed to another tab to run (`relayed`) and the tab
 * closes before that one replied: that tab owns it from then on (relay-channel.ts), and it is not
 * named here. From the `closing` on, this tab writes none of them: the node has them.
 */
import type { AppData } from '../core/payloads.js';
import type { OwedAnswer, TakenRequest } from './protocol.js';

interface Owed {
  req: TakenRequest;
  /** The handler runs in this tab (else another tab runs it: relayed). */
  self: boolean;
  answer?: { ok: boolean; data: AppData; code?: string };
}

export class OwedAnswers {
  private readonly owed = new Map<number, Owed>();
  private nextToken = 1;
  /** The tab closed: the node answers what is left (see `leave`). */
  left = false;

  /** A request taken, to run here (`self`) or in another tab; returns its token. */
  take(req: TakenRequest, self: boolean): number {
    const token = this.nextToken++;
    this.owed.set(token, { req, self });
    return token;
  }

  /**
   * Its answer, from this tab's handler or the tab that ran it; true when it is this tab's to
   * write (else the tab has closed: the node had it from the `closing`, or fails it).
   */
  answered(token: number, ok: boolean, data: AppData, code?: string): boolean {
    const o = this.owed.get(token);
    if (!o || this.left) return false;
    o.answer = { ok, data, ...(code !== undefined ? { code } : {}) };
    return true;
  }

  /** Written, or handed to the node, or nothing more to do: no longer owed. */
  settled(token: number): void {
    this.owed.delete(token);
  }

  /** Its answer, no longer owed here, for the node to send; undefined when the tab closed (its `closing` had it) or there is none. */
  handOver(token: number): OwedAnswer | undefined {
    const o = this.owed.get(token);
    this.owed.delete(token);
    return o?.answer && !this.left ? { ...o.req, ...o.answer } : undefined;
  }

  /**
   * The tab closes (its pagehide, after its links closed, or close()): what the node answers for
   * it. Running here: failed; answered and not written: the answers; relayed and not answered: the
   * other tab's (not named). From now on `answered` says false.
   */
  leave(): { failed: TakenRequest[]; answers: OwedAnswer[] } {
    this.left = true;
    const failed: TakenRequest[] = [];
    const answers: OwedAnswer[] = [];
    for (const o of this.owed.values()) {
      if (o.answer) answers.push({ ...o.req, ...o.answer });
      else if (o.self) failed.push(o.req);
    }
    this.owed.clear();
    return { failed, answers };
  }
}
