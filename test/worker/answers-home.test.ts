/**
 * The worker sends the answers its tabs' data planes hand it (src/browser/answers-home.ts): only
 * for a peer the tab was granted (host or relay grant) in its life, also while it is parked and
 * for a while after its death (its `closing` may come after its lock's news); never for a page
 * through the hub. The node is a stand-in that records answerTaken; the core call itself is
 * test/core/taken-answers.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import type { MeshNode, TakenAnswer } from '../../src/core/node.js';
import { AnswersHome } from '../../src/browser/answers-home.js';

const P = 'a'.repeat(64);
const Q = 'b'.repeat(64);

function node() {
  const sent: { to: string; rid: number; answer: TakenAnswer }[] = [];
  const ran: { to: string; rid: number; request: { app?: string; port: number; data: unknown } }[] = [];
  const n = {
    answerTaken: (to: string, rid: number, answer: TakenAnswer) => (sent.push({ to, rid, answer }), Promise.resolve(true)),
    runTaken: (to: string, rid: number, request: { app?: string; port: number; data: unknown }) => (ran.push({ to, rid, request }), Promise.resolve(true)),
  } as unknown as MeshNode;
  return { n, sent, ran };
}

describe("the worker sends its tabs' lost answers", () => {
  test('for a peer the tab was granted; refused for another peer, another tab, or a page through the hub', () => {
    const home = new AnswersHome();
    const { n, sent } = node();
    const t1 = { tabId: 't1', origin: undefined, app: 'chat' };
    home.granted('t1', P);
    home.answer(n, t1, { peer: P, rid: 7, ok: true, data: 'v' });
    assert.deepEqual(sent, [{ to: P, rid: 7, answer: { ok: true, data: 'v' } }]);
    home.answer(n, t1, { peer: Q, rid: 8, ok: true, data: 'v' });
    home.answer(n, { tabId: 't2', origin: undefined, app: 'chat' }, { peer: P, rid: 9, ok: true, data: 'v' });
    home.answer(n, { tabId: 't1', origin: 'https://other.example', app: 'chat' }, { peer: P, rid: 10, ok: true, data: 'v' });
    home.answer(n, t1, null as never);
    assert.equal(sent.length, 1, 'nothing more sent');
    assert.deepEqual(home.stats, { failed: 0, answered: 1, ran: 0, refused: 4 });
    // A failure keeps its code, in the clear when the request came so.
    home.answer(n, t1, { peer: P, rid: 11, ok: false, data: 'closed', code: 'HANDLER_CLOSED' });
    assert.deepEqual(sent[1], { to: P, rid: 11, answer: { ok: false, message: 'closed', code: 'HANDLER_CLOSED' } });
  });

  test('a request a tab did not run, handed over: run by the node for the tab\'s own app, for a peer it was granted only', () => {
    const home = new AnswersHome();
    const { n, sent, ran } = node();
    const t1 = { tabId: 't1', origin: undefined, app: 'chat' };
    home.granted('t1', P);
    home.run(n, t1, { peer: P, rid: 7, port: 3, data: 'q' });
    assert.deepEqual(ran, [{ to: P, rid: 7, request: { app: 'chat', port: 3, data: 'q' } }], "the tab's app, not one it names");
    home.run(n, t1, { peer: Q, rid: 8, port: 3, data: 'q' });
    home.run(n, { tabId: 't2', origin: undefined, app: 'chat' }, { peer: P, rid: 9, port: 3, data: 'q' });
    home.run(n, { tabId: 't1', origin: 'https://other.example', app: 'chat' }, { peer: P, rid: 10, port: 3, data: 'q' });
    home.run(n, t1, null as never);
    assert.equal(ran.length, 1, 'nothing more run');
    assert.deepEqual(sent, [], 'and nothing answered');
    assert.deepEqual(home.stats, { failed: 0, answered: 0, ran: 1, refused: 4 });
  });

  test("a closing tab's requests: those it ran fail with HANDLER_CLOSED, its unwritten answers are sent; also after its lock told of its death, not once the grace is over", () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const home = new AnswersHome();
      const { n, sent } = node();
      const t1 = { tabId: 't1', origin: undefined, app: 'chat' };
      home.granted('t1', P);
      home.tabGone('t1'); // the lock first (Firefox), then the closing
      home.closing(n, t1, { failed: [{ peer: P, rid: 1 }], answers: [{ peer: P, rid: 2, ok: true, data: 'v' }] });
      assert.deepEqual(
        sent.map((s) => [s.rid, s.answer.ok, s.answer.ok ? s.answer.data : s.answer.code]),
        [[1, false, 'HANDLER_CLOSED'], [2, true, 'v']],
      );
      assert.deepEqual(home.stats, { failed: 1, answered: 1, ran: 0, refused: 0 });
      mock.timers.tick(10_000);
      home.closing(n, t1, { failed: [{ peer: P, rid: 3 }], answers: [] });
      assert.equal(sent.length, 2, 'a tab long dead is granted nothing');
      assert.equal(home.stats.refused, 1);
      home.closing(n, t1, 'garbage');
      assert.equal(home.stats.refused, 2, 'malformed: counted');
    } finally {
      mock.timers.reset();
    }
  });
});
