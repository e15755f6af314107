/**
 * A tab's Conn as the host sees it, which can be held while the tab is parked (frozen or in the
 * back/forward cache). Chromium evicts a cached page that gets a message from its SharedWorker
 * (measured: Page.backForwardCacheNotUsed reason "SharedWorkerMessage"), and a frozen page runs
 * nothing anyway. So while held, what is addressed to this tab alone (answers to its calls,
 * requests for its handlers, its streams' events) waits here and goes out when it says hello
 * again; broadcasts (datagrams, publications, log lines) are dropped: they were for a page
 * that was not running.
 */
import type { Conn } from './protocol.js';

/** Enough for the calls a page can have in flight; past it the oldest go. */
const MAX_HELD = 4_096;

export class HeldConn implements Conn {
  private held?: { message: unknown; transfer?: Transferable[] }[];

  constructor(private readonly inner: Conn) {}

  get isHeld(): boolean {
    return this.held !== undefined;
  }

  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held;
    this.held = undefined;
    for (const h of held ?? []) this.inner.post(h.message, h.transfer);
  }

  post(message: unknown, transfer?: Transferable[]): void {
    if (!this.held) return this.inner.post(message, transfer);
    if (!mustArrive(message)) return;
    if (this.held.length >= MAX_HELD) this.held.shift();
    this.held.push({ message, transfer });
  }

  onMessage(fn: (message: unknown) => void): void {
    this.inner.onMessage(fn);
  }

  close(): void {
    this.inner.close();
  }
}

/** Broadcasts: what every listening tab gets a copy of. Everything else (replies, requests, stream events) waits. */
const BROADCASTS = new Set(['message', 'topic', 'log']);

function mustArrive(message: unknown): boolean {
  const m = message as { ev?: unknown };
  return !(typeof m.ev === 'string' && BROADCASTS.has(m.ev));
}
