/**
 * A node answers a request it never saw (services.ts answerTaken): in a browser, a tab's data
 * plane takes a peer's request off the link it hosts, and when the answer can no longer go back
 * that way the tab hands it to its node (docs/DATA-PLANE.md, "Answers that lost their way").
 * Here B's handler on port 9 holds every request and never answers (as a tab that took it and
 * went would), so only answerTaken can answer it: the requester gets the value, or
 * HANDLER_CLOSED, sealed as the node's own answers are; each (requester, request id) once; bad
 * input refused with a code. runTaken runs such a request as if it had come to B (a tab took it
 * and nothing ran): B's own handler answers, or REFUSED when B has none, once, under the same rule.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isMeshError, type MeshErrorCode } from '../../src/core/errors.js';
import { MAX_PAYLOAD_BYTES } from '../../src/core/limits.js';
import type { MeshNode } from '../../src/core/node.js';
import { TestNet } from '../helpers/mesh.js';
import { drive, driveUntil } from '../helpers/wait.js';

function isCode(code: MeshErrorCode) {
  return (err: unknown) => {
    assert.ok(isMeshError(err, code), `expected MeshError ${code}, got ${String(err)}`);
    return true;
  };
}

describe('a node answers a request a tab took (answerTaken, runTaken)', () => {
  const net = new TestNet();
  let a: MeshNode;
  let b: MeshNode;
  /** A's requests through its services are numbered from 1 (requests.ts), and this test makes all of them. */
  let nextRid = 1;
  const run = <T>(p: Promise<T>, what: string) => drive(net.clock, p, 10_000, what);

  before(async () => {
    const s = await net.addNode('taken-s');
    const ta = await net.addNode('taken-a', { bootstrap: [s.addr] });
    const tb = await net.addNode('taken-b', { bootstrap: [s.addr] });
    for (const t of [s, ta, tb]) await drive(net.clock, t.node.start(), 1000, `start ${t.addr}`);
    [a, b] = [ta.node, tb.node];
    await driveUntil(net.clock, () => a.linkIds().length > 0 && b.linkIds().length > 0, 10_000, 'linked');
  });
  after(() => net.stopAll());

  /** Requests B's handler on port 9 holds, never answered: B's node answers none of them itself. */
  let held = 0;
  before(() => b.handle(9, () => (held++, new Promise<never>(() => undefined))));

  /** A request from A to B on port 9, held by B's handler. */
  async function unanswered(): Promise<{ rid: number; reply: Promise<unknown> }> {
    const was = held;
    const reply = a.request(b.id, 'ask', { port: 9, timeoutMs: 8_000 });
    reply.catch(() => undefined);
    await driveUntil(net.clock, () => held > was, 5_000, "B's handler holds the request");
    return { rid: nextRid++, reply };
  }

  it("sends the requester the value, sealed as the node's own answers, once", async () => {
    const { rid, reply } = await unanswered();
    const sealed = b.status().e2e.sealed;
    assert.equal(await run(b.answerTaken(a.id, rid, { ok: true, data: 'from the tab' }), 'answerTaken'), true);
    assert.equal(await run(reply, 'the reply'), 'from the tab');
    assert.equal(b.counters.takenAnswers, 1, 'counted');
    assert.equal(b.status().e2e.sealed - sealed, 1, 'sealed to A');
    // A second answer to the same request: refused and counted, and A hears nothing more.
    const late = a.counters.dropped('late-response');
    assert.equal(await run(b.answerTaken(a.id, rid, { ok: true, data: 'again' }), 'answerTaken again'), false);
    assert.equal(b.counters.dropped('taken-answer-twice'), 1);
    assert.equal(b.counters.takenAnswers, 1, 'not sent');
    const probe = await unanswered(); // a packet after it on the same way: by then a second answer would have come
    await run(b.answerTaken(a.id, probe.rid, { ok: true, data: 'probe' }), 'probe');
    assert.equal(await run(probe.reply, 'probe reply'), 'probe');
    assert.equal(a.counters.dropped('late-response'), late, 'A got no second answer');
  });

  it('sends a failure with HANDLER_CLOSED, which the requester rejects with', async () => {
    const { rid, reply } = await unanswered();
    await run(b.answerTaken(a.id, rid, { ok: false, message: 'the tab closed mid-run', code: 'HANDLER_CLOSED' }), 'answerTaken');
    await assert.rejects(run(reply, 'the reply'), (err: unknown) => isCode('HANDLER_CLOSED')(err) && /the tab closed mid-run/.test((err as Error).message));
    const other = await unanswered();
    await run(b.answerTaken(a.id, other.rid, { ok: false, message: 'the handler threw' }), 'answerTaken');
    await assert.rejects(run(other.reply, 'the reply'), isCode('REMOTE_ERROR'));
  });

  it('refuses bad input with a typed error, and sends nothing', async () => {
    const sent = b.counters.takenAnswers;
    const ok = { ok: true as const, data: 'x' };
    const refusals: [() => Promise<unknown>, MeshErrorCode][] = [
      [() => b.answerTaken('not an id', 1, ok), 'INVALID_ARGUMENT'],
      [() => b.answerTaken(a.id, -1, ok), 'INVALID_ARGUMENT'],
      [() => b.answerTaken(a.id, 1.5, ok), 'INVALID_ARGUMENT'],
      [() => b.answerTaken(a.id, 2 ** 64, ok), 'INVALID_ARGUMENT'],
      [() => b.answerTaken(a.id, 1, { ok: 'yes' } as never), 'INVALID_ARGUMENT'],
      [() => b.answerTaken(a.id, 1, { ok: true, data: 42 } as never), 'INVALID_ARGUMENT'],
      [() => b.answerTaken(a.id, 1, { ok: true, data: new Uint8Array(MAX_PAYLOAD_BYTES + 1) }), 'PAYLOAD_TOO_LARGE'],
      [() => b.answerTaken(a.id, 1, { ok: false, message: 7 } as never), 'INVALID_ARGUMENT'],
      // Only a code a node may give crosses (errors.ts remoteCode): never one that passes for the requester's own.
      [() => b.answerTaken(a.id, 1, { ok: false, message: 'x', code: 'TIMEOUT' }), 'INVALID_ARGUMENT'],
      [() => b.answerTaken(a.id, 1, { ok: false, message: 'x', code: 'UNREACHABLE' }), 'INVALID_ARGUMENT'],
    ];
    for (const [call, code] of refusals) await assert.rejects(Promise.resolve().then(call), isCode(code));
    assert.equal(b.counters.takenAnswers, sent, 'nothing sent');
  });

  it("runs a request nothing ran (runTaken) with the node's own handler, sealed, once", async () => {
    const off = b.handle(10, (m) => `ran ${String(m.data)} from ${m.from.slice(0, 8)} on ${m.port}, ${m.hops} hop`);
    try {
      const { rid, reply } = await unanswered();
      const sealed = b.status().e2e.sealed;
      const sent = b.counters.takenAnswers;
      assert.equal(await run(b.runTaken(a.id, rid, { port: 10, data: 'the taken one' }), 'runTaken'), true);
      assert.equal(await run(reply, 'the reply'), `ran the taken one from ${a.id.slice(0, 8)} on 10, 1 hop`);
      assert.equal(b.counters.takenAnswers, sent + 1, 'counted');
      assert.equal(b.status().e2e.sealed - sealed, 1, 'sealed to A');
      // At most once per (A, request id), whichever of the two asks.
      const twice = b.counters.dropped('taken-answer-twice');
      assert.equal(await run(b.runTaken(a.id, rid, { port: 10, data: 'again' }), 'runTaken again'), false);
      assert.equal(await run(b.answerTaken(a.id, rid, { ok: true, data: 'again' }), 'answerTaken after it'), false);
      assert.equal(b.counters.dropped('taken-answer-twice'), twice + 2);
      assert.equal(b.counters.takenAnswers, sent + 1, 'nothing more sent');
    } finally {
      off();
    }
  });

  it('refuses a request nothing ran when the node has no handler for its port (REFUSED, naming it)', async () => {
    const { rid, reply } = await unanswered();
    const noHandler = b.counters.dropped('no-handler');
    assert.equal(await run(b.runTaken(a.id, rid, { port: 11, data: 'anyone?' }), 'runTaken'), true);
    await assert.rejects(run(reply, 'the reply'), (err: unknown) => isCode('REFUSED')(err) && /port 11/.test((err as Error).message));
    assert.equal(b.counters.dropped('no-handler'), noHandler + 1, 'counted as the node counts it');
    const refusals: [() => Promise<unknown>, MeshErrorCode][] = [
      [() => b.runTaken('not an id', 1, { port: 10, data: 'x' }), 'INVALID_ARGUMENT'],
      [() => b.runTaken(a.id, -1, { port: 10, data: 'x' }), 'INVALID_ARGUMENT'],
      [() => b.runTaken(a.id, 1, { port: 65536, data: 'x' }), 'INVALID_ARGUMENT'],
      [() => b.runTaken(a.id, 1, { port: 10, data: 42 } as never), 'INVALID_ARGUMENT'],
      [() => b.runTaken(a.id, 1, { port: 10, data: new Uint8Array(MAX_PAYLOAD_BYTES + 1) }), 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [call, code] of refusals) await assert.rejects(Promise.resolve().then(call), isCode(code));
  });
});
