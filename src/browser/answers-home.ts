/**
 * Answers the node sends for its tabs' data planes (docs/DATA-PLANE.md, "Answers that lost their
 * way"), node side. A host tab takes a peer's requests off the link it hosts and runs them, or
 * passes them to the tab that handles their port; the node never sees them. When the answer
 * cannot go back that way (the tab closed mid-run, the link went, the channel between the two
 * tabs went), the tab hands it here and the node sends it (MeshNode.answerTaken): a value, or
 * HANDLER_CLOSED for the requests a closing tab was running itself. A request passed to a tab
 * that nothing ran there (it no longer handles the port), with the way back gone, the node runs
 * as if it had come to it (MeshNode.runTaken: another tab's handler, or REFUSED).
 *
 * What a tab may ask: only answers to a peer it was granted (a host or relay grant,
 * fast-grants.ts and relay-grants.ts), while it lived: such a tab held that peer's pair key and
 * a packet-id lane, and could have written that Response on the link itself, so the node sends
 * nothing for it that it could not have sent. Each (peer, request id) goes out once at most (the
 * core refuses a second). A page through the hub never holds a grant, so it may ask nothing.
 */
import type { MeshNode } from '../core/node.js';
import type { TakenAnswer } from '../core/node.js';
import type { OwedAnswer, TakenRequest, UnrunRequest } from './protocol.js';

/** What it needs of a tab. */
export interface AnswersTab {
  readonly tabId: string;
  readonly origin: string | undefined;
  /** Its app: a request it hands over is run for this app (`run`). */
  readonly app: string;
}

/** How long a dead tab's grants are still known: its `closing` may come after its lock's news (Firefox). */
const DEAD_TAB_KEPT_MS = 10_000;

export class AnswersHome {
  /** By tab id: the peers each tab was granted in its life (kept while it is parked, and when it says hello again). */
  private readonly peersOf = new Map<string, Set<string>>();
  /**
   * status().takenAnswers: `failed`, requests a closing tab was running, failed with
   * HANDLER_CLOSED; `answered`, answers a tab handed over, sent; `ran`, requests nothing had run
   * that a tab handed over, run by the node (`run`); `refused`, asks for a peer the tab was never
   * granted, or malformed (counted, nothing sent).
   */
  readonly stats = { failed: 0, answered: 0, ran: 0, refused: 0 };

  /** Tab `tabId` was given a grant for `peer`. */
  granted(tabId: string, peer: string): void {
    let peers = this.peersOf.get(tabId);
    if (!peers) this.peersOf.set(tabId, (peers = new Set()));
    peers.add(peer);
  }

  /** The tab died: what it was granted is forgotten a while later (its `closing` may still come). */
  tabGone(tabId: string): void {
    setTimeout(() => this.peersOf.delete(tabId), DEAD_TAB_KEPT_MS);
  }

  /** The tab closed, naming what its data plane leaves unanswered: the node fails or answers each. */
  closing(node: MeshNode | undefined, tab: AnswersTab, taken: unknown): void {
    if (taken === undefined) return;
    if (!node || typeof taken !== 'object' || taken === null) return void this.stats.refused++;
    const { failed, answers } = taken as { failed?: unknown; answers?: unknown };
    for (const r of Array.isArray(failed) ? (failed as TakenRequest[]) : []) {
      const message = 'the tab running the handler closed before it answered; it was not run again';
      if (this.send(node, tab, r, { ok: false, message, code: 'HANDLER_CLOSED' })) this.stats.failed++;
    }
    for (const a of Array.isArray(answers) ? (answers as OwedAnswer[]) : []) this.answer(node, tab, a);
  }

  /** A tab's answer whose way back is gone (protocol.ts `taken-answer`). */
  answer(node: MeshNode, tab: AnswersTab, a: OwedAnswer): void {
    if (typeof a !== 'object' || a === null || typeof a.ok !== 'boolean') return void this.stats.refused++;
    const answer: TakenAnswer = a.ok ? { ok: true, data: a.data } : { ok: false, message: String(a.data), ...(a.code !== undefined ? { code: a.code as never } : {}) };
    if (this.send(node, tab, a, answer)) this.stats.answered++;
  }

  /**
   * A peer's request the tab was passed and did not run (it no longer handles the port), whose
   * way back went (protocol.ts `taken-request`): the node runs it for the tab's app as if it had
   * come to it (MeshNode.runTaken), the same rule as an answer. A tab cannot make the node run a
   * request it could not have asked itself: the peer must be one it was granted, the app is its
   * own, and the answer goes to that peer alone.
   */
  run(node: MeshNode, tab: AnswersTab, r: UnrunRequest): void {
    if (typeof r !== 'object' || r === null) return void this.stats.refused++;
    if (this.forTab(tab, r, () => node.runTaken(r.peer, r.rid, { app: tab.app, port: r.port, data: r.data }))) this.stats.ran++;
  }

  /** Sends when the tab was granted the peer; false when refused (counted). */
  private send(node: MeshNode, tab: AnswersTab, r: TakenRequest, answer: TakenAnswer): boolean {
    return this.forTab(tab, r, () => node.answerTaken(r.peer, r.rid, answer));
  }

  /** Calls the node for the tab when it was granted the peer; false when refused (counted). */
  private forTab(tab: AnswersTab, r: TakenRequest, call: () => Promise<boolean>): boolean {
    const ok = typeof r === 'object' && r !== null && tab.origin === undefined && typeof r.peer === 'string' && this.peersOf.get(tab.tabId)?.has(r.peer) === true;
    if (!ok) {
      this.stats.refused++;
      return false;
    }
    // The core checks the rest (id, port, data, code) and counts what it sends, refuses or cannot route.
    try {
      void call().catch(() => undefined);
    } catch {
      this.stats.refused++;
      return false;
    }
    return true;
  }
}
