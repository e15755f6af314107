/**
 * The worker's requests to its tabs (src/browser/host-handlers.ts) when the asked tab goes: a tab
 * that says `closing` has its started requests failed with HANDLER_CLOSED and the others given to
 * another tab at once; a tab that dies without a word has its requests given on after the grace,
 * unless its `closing` comes within it. The tabs are TabSessions over recording connections; the
 * node is a stand-in that only hands the request handler over (node.handle).
 */
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import type { Message, MeshNode } from '../../src/core/node.js';
import type { AppData } from '../../src/core/payloads.js';
import { TabHandlers } from '../../src/browser/host-handlers.js';
import { HeldConn } from '../../src/browser/held-conn.js';
import { TabSession } from '../../src/browser/host-tab.js';

type Asked = { ev: string; rid: number; data: AppData };

function tab(name: string): { session: TabSession; asked: Asked[] } {
  const asked: Asked[] = [];
  const conn = new HeldConn({ post: (m) => void asked.push(m as Asked), onMessage: () => undefined, close: () => undefined });
  return { session: new TabSession(name, '', true, conn, undefined), asked };
}

/** Two tabs handling port 2, t1 first; `request` runs one through the handler the node was given. */
function setUp() {
  let handler!: (m: Message) => Promise<AppData>;
  const node = { handle: (_port: number, fn: (m: Message) => Promise<AppData>) => ((handler = fn), () => undefined) } as unknown as MeshNode;
  const handlers = new TabHandlers();
  const t1 = tab('t1');
  const t2 = tab('t2');
  handlers.add(node, t1.session, 2);
  handlers.add(node, t2.session, 2);
  const outcomes = new Map<string, string>();
  const request = (data: string) =>
    handler({ from: 'f'.repeat(64), data, port: 2, app: '', hops: 1 } as Message).then(
      (d) => void outcomes.set(data, `ok ${String(d)}`),
      (e: unknown) => void outcomes.set(data, isMeshError(e) ? e.code : String(e)),
    );
  return { handlers, t1, t2, request, outcomes };
}

describe('the worker and a tab that goes', () => {
  test('closing: a started request fails with HANDLER_CLOSED, one never started goes to the other tab at once', async () => {
    const { handlers, t1, t2, request, outcomes } = setUp();
    const started = request('started');
    const queued = request('queued');
    assert.deepEqual(t1.asked.map((a) => a.data), ['started', 'queued'], 't1 is asked both');
    handlers.removeTab(t1.session);
    handlers.closed(t1.session, [t1.asked[0]!.rid]);
    await started;
    assert.equal(outcomes.get('started'), 'HANDLER_CLOSED');
    assert.deepEqual(t2.asked.map((a) => a.data), ['queued'], 'the queued one went to t2 at once; the started one did not');
    handlers.onReply(t1.session, t1.asked[1]!.rid, true, 'late from t1');
    handlers.onReply(t2.session, t2.asked[0]!.rid, true, 'from t2');
    await queued;
    assert.equal(outcomes.get('queued'), 'ok from t2', "t2's answer, not the closed tab's");
    assert.deepEqual(handlers.gone, { closing: 1, silent: 0, moved: 1, failed: 1, afterGrace: 0 });
  });

  test('a silent death waits out the grace; a closing that comes within it settles everything, and the grace finds nothing', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { handlers, t1, t2, request, outcomes } = setUp();
      const a = request('a');
      const b = request('b');
      handlers.removeTab(t1.session);
      handlers.retryFrom(t1.session, 500);
      assert.equal(t2.asked.length, 0, 'nothing moves during the grace');
      handlers.closed(t1.session, [t1.asked[0]!.rid]);
      await a;
      assert.equal(outcomes.get('a'), 'HANDLER_CLOSED');
      assert.deepEqual(t2.asked.map((x) => x.data), ['b']);
      mock.timers.tick(500);
      assert.deepEqual(t2.asked.map((x) => x.data), ['b'], 'the grace retried nothing again');
      handlers.onReply(t2.session, t2.asked[0]!.rid, true, 'b2');
      await b;
      assert.deepEqual(handlers.gone, { closing: 1, silent: 0, moved: 1, failed: 1, afterGrace: 0 });

      // No closing at all: after the grace, each unanswered request goes to the other tab.
      const s = setUp();
      const c = s.request('c');
      s.handlers.removeTab(s.t1.session);
      s.handlers.retryFrom(s.t1.session, 500);
      mock.timers.tick(499);
      assert.equal(s.t2.asked.length, 0);
      mock.timers.tick(1);
      assert.deepEqual(s.t2.asked.map((x) => x.data), ['c']);
      s.handlers.onReply(s.t2.session, s.t2.asked[0]!.rid, true, 'c2');
      await c;
      assert.equal(s.outcomes.get('c'), 'ok c2');
      assert.equal(s.handlers.gone.afterGrace, 1);
    } finally {
      mock.timers.reset();
    }
  });
});
