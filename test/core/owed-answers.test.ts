/**
 * Answers that lost their way (docs/DATA-PLANE.md): a peer's request that A's host tab took off
 * its link, run there or in A's second tab behind a real MessageChannel, when the link, the host
 * tab or the channel goes before the answer is written. Each test ends with B's request settled
 * by what the tab hands its node (`home`, or the `closing`'s list), passed to B as A's node
 * would send it (FastPath.answeredByNode stands in for that Response: it settles only the request
 * id B is waiting for, from A): the answer, or HANDLER_CLOSED; never written twice, never run twice.
 * The browser test of the same is test/browser/tab-closing.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MeshError } from '../../src/core/errors.js';
import type { OwedAnswer, TakenRequest } from '../../src/browser/protocol.js';
import { BYE_WAIT_MS } from '../../src/browser/relay-channel.js';
import { dropped, type End, KEY, noNode, hostWithRelayedTab, pair, type TabHandler } from '../helpers/fast-path-ends.js';
import { until } from '../helpers/wait.js';

/** A handler that waits to be released; counts its runs and its returns. */
function held(): { fn: TabHandler; release: () => void; runs: unknown[]; returned: () => number } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const runs: unknown[] = [];
  let returned = 0;
  return { fn: async (d) => (runs.push(d), await gate, returned++, { ok: true, data: `done:${String(d)}` }), release, runs, returned: () => returned };
}

/** Past what follows a handler's return in the tab (promise steps, no task): one task later. */
const nextTask = () => new Promise((r) => setImmediate(r));

/** B's request to A on port 1, written on B's side of the link; resolves with B's outcome. */
async function ask(a: End, b: End, data: string) {
  const n = b.wire.length;
  const outcome = b.fast.request(a.id, data, 1, 5_000, noNode).then(
    (d): { ok: boolean; d: unknown; code?: string } => ({ ok: true, d }),
    (e: MeshError) => ({ ok: false, d: e.message, code: e.code }),
  );
  await until(() => b.wire.length === n + 1, 5_000, 'the request written');
  return { frame: b.wire[n]!, outcome };
}

/** What A's node sends B for an answer a tab handed it (MeshNode.answerTaken), as B takes it. */
function nodeSends(a: End, b: End, x: OwedAnswer | (TakenRequest & { failed: true })): void {
  assert.equal(x.peer, b.id, 'for B');
  if ('failed' in x) b.fast.answeredByNode(x.rid, a.id, false, 'closed', 'HANDLER_CLOSED');
  else b.fast.answeredByNode(x.rid, a.id, x.ok, x.data, x.code);
}

/**
 * The host tab closes as at its pagehide: its links first (RtcHost.closeAll gives the node the
 * frames the data plane claimed and has not taken, then closes them), then its channels and its `closing`.
 */
function hostCloses(a: End) {
  a.fast.release();
  a.open = false;
  a.fast.relays.closeAll('closing');
  return a.fast.leave();
}

describe('a peer request whose answer lost its way', () => {
  test('the host tab runs it and closes mid-run: it names it in its closing (HANDLER_CLOSED through the node) and writes nothing after', async () => {
    const [a, b] = await pair();
    const h = held();
    (a.fast as unknown as { host: { runHandler: unknown } }).host.runHandler = (_from: string, d: unknown) => h.fn(d);
    const q = await ask(a, b, 'slow');
    assert.equal(a.fast.take(KEY, q.frame), true);
    await until(() => h.runs.length === 1, 5_000, 'the host tab runs it');
    const n = a.wire.length;
    const left = hostCloses(a);
    assert.equal(left.answers.length, 0);
    assert.equal(left.failed.length, 1, 'named as running here');
    nodeSends(a, b, { ...left.failed[0]!, failed: true });
    assert.deepEqual(await q.outcome, { ok: false, d: 'closed', code: 'HANDLER_CLOSED' });
    h.release();
    await until(() => h.returned() === 1, 5_000, 'the handler returned');
    await nextTask();
    assert.equal(a.wire.length, n, 'its late answer not written');
    assert.deepEqual(a.home, [], 'nor handed to the node');
  });

  test('the link goes while the host tab runs it (the tab stays): its answer goes to the node', async () => {
    const [a, b] = await pair();
    const h = held();
    (a.fast as unknown as { host: { runHandler: unknown } }).host.runHandler = (_from: string, d: unknown) => h.fn(d);
    const q = await ask(a, b, 'q');
    assert.equal(a.fast.take(KEY, q.frame), true);
    await until(() => h.runs.length === 1, 5_000, 'the host tab runs it');
    a.open = false;
    h.release();
    await until(() => a.home.length === 1, 5_000, 'handed to the node');
    assert.equal(a.fast.status().answersHome, 1);
    nodeSends(a, b, a.home[0]!);
    assert.deepEqual(await q.outcome, { ok: true, d: 'done:q' });
    assert.deepEqual(a.fast.leave(), { failed: [], answers: [] }, 'owed no more');
  });

  test('the host tab closes while the second tab runs it: the second tab hands its answer to the node; the host tab names nothing', async () => {
    const h = held();
    const { a, b, a2, mc } = await hostWithRelayedTab(h.fn);
    try {
      const q = await ask(a, b, 'relayed');
      assert.equal(a.fast.take(KEY, q.frame), true);
      await until(() => h.runs.length === 1, 5_000, 'the second tab runs it');
      const n = a.wire.length;
      assert.deepEqual(hostCloses(a), { failed: [], answers: [] }, 'the tab running it owns its answer now');
      h.release();
      await until(() => a2.home.length === 1, 5_000, 'the second tab hands its answer to the node');
      nodeSends(a, b, a2.home[0]!);
      assert.deepEqual(await q.outcome, { ok: true, d: 'done:relayed' });
      assert.equal(a.wire.length, n, 'the host tab wrote nothing');
      assert.equal(a.handedOn.length, 0, 'nor gave the request to the node: not run again');
      assert.deepEqual(h.runs, ['relayed']);
    } finally {
      mc.port1.close();
    }
  });

  test('the second tab replied and the host tab closed before reading it: the reply goes to the node', async () => {
    const h = held();
    const { a, b, a2, mc } = await hostWithRelayedTab(h.fn);
    try {
      const q = await ask(a, b, 'crossed');
      assert.equal(a.fast.take(KEY, q.frame), true);
      await until(() => h.runs.length === 1, 5_000, 'the second tab runs it');
      // Catch the moment the second tab posts its reply; the host tab reads it only in a later task.
      let replied = false;
      const post = mc.port2.postMessage.bind(mc.port2) as (m: unknown, t?: Transferable[]) => void;
      (mc.port2 as { postMessage: unknown }).postMessage = (m: { t?: string }, t?: Transferable[]) => ((replied ||= m.t === 'reply'), post(m, t));
      h.release();
      for (let i = 0; i < 1_000 && !replied; i++) await Promise.resolve();
      assert.ok(replied, 'replied within microtasks');
      assert.deepEqual(hostCloses(a), { failed: [], answers: [] });
      await until(() => a2.home.length === 1, 5_000, 'the reply the host tab left unread goes to the node');
      nodeSends(a, b, a2.home[0]!);
      assert.deepEqual(await q.outcome, { ok: true, d: 'done:crossed' });
      assert.equal(a.handedOn.length, 0);
    } finally {
      mc.port1.close();
    }
  });

  test('the second tab no longer handles the port and the host tab closes before reading its not-run reply: the second tab hands the request to its node to run', async () => {
    const h = held();
    const { a, b, a2, mc } = await hostWithRelayedTab(h.fn);
    try {
      // The second tab dropped its handler (its `unhandle` is a message behind the node's list);
      // the host tab closes in the turn the request reaches it, so the reply posted after is never read.
      let left: ReturnType<typeof hostCloses> | undefined;
      (a2.fast as unknown as { host: { handles: unknown } }).host.handles = () => ((left ??= hostCloses(a)), false);
      const q = await ask(a, b, 'unhandled');
      assert.equal(a.fast.take(KEY, q.frame), true);
      await until(() => a2.unrun.length === 1, 5_000, 'the second tab hands the request to its node');
      assert.deepEqual(left, { failed: [], answers: [] }, 'the host tab names nothing: the request is the second tab\'s');
      const r = a2.unrun[0]!;
      assert.deepEqual([r.peer, r.port, r.data], [b.id, 1, 'unhandled'], 'the peer, the port and the data (its request id: B takes the answer below)');
      assert.equal(a2.fast.status().requestsHome, 1, 'counted');
      assert.deepEqual(a2.home, [], 'no answer handed over: nothing ran');
      assert.equal(a.handedOn.length, 0, 'the host tab gave the node nothing: only one of them hands it over');
      assert.deepEqual(h.runs, [], 'run nowhere in the tabs');
      // What A's node then does with it (MeshNode.runTaken, test/core/taken-answers.test.ts): here, no tab handles port 1.
      b.fast.answeredByNode(r.rid, a.id, false, 'no handler on port 1', 'REFUSED');
      assert.deepEqual(await q.outcome, { ok: false, d: 'no handler on port 1', code: 'REFUSED' });
    } finally {
      mc.port1.close();
    }
  });

  test('the second tab parks with it running: it answers through the node when it runs again, and the host tab writes nothing', async () => {
    const h = held();
    const { a, b, a2, mc } = await hostWithRelayedTab(h.fn);
    try {
      const q = await ask(a, b, 'parked');
      assert.equal(a.fast.take(KEY, q.frame), true);
      await until(() => h.runs.length === 1, 5_000, 'the second tab runs it');
      const n = a.wire.length;
      a2.fast.relays.closeAll('parked');
      await until(() => dropped(a, 'fast:handler-parked') === 1, 5_000, 'the host tab hears it parked with it running');
      h.release();
      await until(() => a2.home.length === 1, 5_000, 'back, it hands its answer to the node');
      nodeSends(a, b, a2.home[0]!);
      assert.deepEqual(await q.outcome, { ok: true, d: 'done:parked' });
      assert.equal(a.wire.length, n);
      assert.equal(a.handedOn.length, 0, 'not run elsewhere');
      // Parked again with another running, then closed for good before it finished: failed in its closing.
      const h2 = held();
      const s = await hostWithRelayedTab(h2.fn);
      const q2 = await ask(s.a, s.b, 'parked-then-closed');
      assert.equal(s.a.fast.take(KEY, q2.frame), true);
      await until(() => h2.runs.length === 1, 5_000, 'runs');
      s.a2.fast.relays.closeAll('parked');
      const left = s.a2.fast.leave();
      assert.equal(left.failed.length, 1, 'named in its closing');
      nodeSends(s.a, s.b, { ...left.failed[0]!, failed: true });
      assert.equal((await q2.outcome).code, 'HANDLER_CLOSED');
      h2.release();
      await until(() => s.a2.fast.status().viaTabRequests === 1, 5_000, 'the handler returned');
      await nextTask();
      assert.deepEqual(s.a2.home, [], 'its late answer not handed over');
      s.mc.port1.close();
    } finally {
      mc.port1.close();
    }
  });

  test('frames the host tab claimed and was still opening (AES-GCM) when it closed: the node gets them as they came, ahead of the links closing; nothing runs here', async () => {
    const [a, b] = await pair(); // not bound: each claimed frame is opened in a later turn
    let ran = 0;
    (a.fast as unknown as { host: { runHandler: unknown } }).host.runHandler = async () => (ran++, { ok: true, data: 'ran here' });
    const q = await ask(a, b, 'mid-open');
    const n = b.wire.length;
    await b.fast.send(a.id, 'datagram mid-open', 7, noNode);
    const datagram = b.wire[n]!;
    assert.equal(a.fast.take(KEY, q.frame), true, 'the request claimed');
    assert.equal(a.fast.take(KEY, datagram), true, 'the datagram claimed');
    const written = a.wire.length;
    assert.deepEqual(hostCloses(a), { failed: [], answers: [] }, 'not owed by the tab: it never took them');
    assert.deepEqual(a.handedOn, [q.frame, datagram], 'given to the node whole, in the order they came');
    assert.equal(a.fast.status().givenBack, 2, 'counted');
    // Past their turn on the tab's inbound chain: their opening finished, and nothing was taken here.
    await (a.fast as unknown as { inbound: Promise<void> }).inbound;
    assert.equal(ran, 0, 'the request not run in the tab');
    assert.deepEqual(a.inbox, [], 'the datagram not delivered in the tab');
    assert.equal(a.wire.length, written, 'nothing written');
    assert.deepEqual(a.fast.status().dropped, {}, 'no drop: their opening ended quietly');
    assert.equal(a.fast.status().received, 0);
  });

  describe("the node's relay-close reaches the host tab before the parking tab's bye", () => {
    test('said (the tab told the node it parks): the host tab waits for the bye, and the request stays with the parked tab', async () => {
      const h = held();
      const { a, b, a2, mc } = await hostWithRelayedTab(h.fn);
      try {
        const q = await ask(a, b, 'raced');
        assert.equal(a.fast.take(KEY, q.frame), true);
        await until(() => h.runs.length === 1, 5_000, 'the second tab runs it');
        // The order the worker's port and the channel may give: relay-close first, then the bye.
        a.fast.relays.close('r1', true);
        assert.equal(a.fast.relays.handlerFor(1), undefined, 'no new request goes to a tab that said it parks');
        a2.fast.relays.closeAll('parked');
        await until(() => dropped(a, 'fast:handler-parked') === 1, 5_000, 'the bye, read after the relay-close, names it running');
        assert.equal(a.handedOn.length, 0, 'not given to the node: it still runs in the parked tab');
        h.release();
        await until(() => a2.home.length === 1, 5_000, 'back, the parked tab hands its answer to the node');
        nodeSends(a, b, a2.home[0]!);
        assert.deepEqual(await q.outcome, { ok: true, d: 'done:raced' });
        assert.deepEqual(h.runs, ['raced'], 'run once');
      } finally {
        mc.port1.close();
      }
    });

    test('said, and no bye ever comes: after the wait, the request goes to the node as for a tab that died', async () => {
      const h = held();
      const { a, b, a2, mc } = await hostWithRelayedTab(h.fn);
      try {
        const q = await ask(a, b, 'silent');
        assert.equal(a.fast.take(KEY, q.frame), true);
        await until(() => h.runs.length === 1, 5_000, 'the second tab runs it');
        // The second tab's end stops reading, as a tab that crashed after saying it parks.
        (a2.fast.relays as unknown as { channels: Map<string, unknown> }).channels.clear();
        mc.port2.close();
        const t0 = Date.now();
        a.fast.relays.close('r1', true);
        assert.equal(a.handedOn.length, 0, 'not at once');
        await until(() => a.handedOn.length === 1, 5_000, 'handed to the node once the wait is over');
        assert.ok(Date.now() - t0 >= BYE_WAIT_MS - 50, `after the wait (${Date.now() - t0} ms)`);
        assert.deepEqual(a.handedOn[0], q.frame, 'the frame as it came');
        h.release();
      } finally {
        mc.port1.close();
      }
    });

    test('not said (a tab that died without a word): the request goes to the node at once', async () => {
      const h = held();
      const { a, b, mc } = await hostWithRelayedTab(h.fn);
      try {
        const q = await ask(a, b, 'died');
        assert.equal(a.fast.take(KEY, q.frame), true);
        await until(() => h.runs.length === 1, 5_000, 'the second tab runs it');
        a.fast.relays.close('r1');
        await until(() => a.handedOn.length === 1, 5_000, 'handed to the node');
        h.release();
      } finally {
        mc.port1.close();
      }
    });
  });
});
