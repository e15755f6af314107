/**
 * The host tab's data plane (src/browser/fast-path.ts, docs/DATA-PLANE.md) against forged,
 * altered and replayed packets. Two FastPath instances hold the two ends of one pair key, as two
 * host tabs would; the DataChannel between them is replaced by handing each written frame to the
 * other's `take` (the seam RtcHost gives it), so every byte of a frame can be altered on the way.
 * WebCrypto is Node's, the same API the tabs use. The real-browser test of the same path is
 * test/browser/fast-path.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { appId } from '../../src/core/app-namespace.js';
import { toHex } from '../../src/core/bytes.js';
import { decodeFrame, encodeFrame, type PacketFrame } from '../../src/core/codec.js';
import type { MeshError } from '../../src/core/errors.js';
import { PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { laneOf } from '../../src/core/replay-guard.js';
import { dropped, type End, KEY, lastPacket, noNode, hostWithRelayedTab, otherTab, pair, type TabHandler } from '../helpers/fast-path-ends.js';
import { until } from '../helpers/wait.js';

describe('host tab data plane: forged, altered and replayed packets', () => {
  test('a datagram and a request cross; ids are in the granted lane; packets go unsigned with the AAD over the header', async () => {
    const [a, b] = await pair();
    await a.fast.send(b.id, 'hello', 5, noNode);
    const p = lastPacket(a);
    assert.equal(p.signature.length, 0, 'unsigned: the AEAD proves the source');
    assert.equal(laneOf(p.id), 1, "in the tab's lane");
    assert.equal(b.fast.take(KEY, a.wire.at(-1)!), true, 'claimed by the peer tab');
    await until(() => b.inbox.length === 1, 5_000, 'the datagram delivered');
    assert.deepEqual(b.inbox[0], { from: a.id, data: 'hello', port: 5 });

    const answer = a.fast.request(b.id, 'ping', 1, 5_000, noNode);
    await until(() => a.wire.length === 2, 5_000, 'the request written');
    assert.equal(b.fast.take(KEY, a.wire[1]!), true);
    await until(() => b.wire.length === 1, 5_000, 'the response written');
    assert.equal(a.fast.take(KEY, b.wire[0]!), true);
    assert.equal(await answer, 'echo:ping');
    assert.deepEqual(b.fast.status().dropped, {});
  });

  test('altered ciphertext, packet id, kind or source key are dropped as bad ciphertext; a replay as a replay', async () => {
    const [a, b] = await pair();
    await a.fast.send(b.id, 'original', 5, noNode);
    const good = a.wire.at(-1)!;
    const p = lastPacket(a);
    const altered: [string, Uint8Array][] = [
      ['ciphertext', (() => { const f = good.slice(); f[f.length - 5]! ^= 1; return f; })()],
      ['packet id', encodeFrame({ ...p, id: p.id + 8 })],
      ['kind', encodeFrame({ ...p, kind: PacketKind.Request })],
    ];
    for (const [what, frame] of altered) {
      const before = dropped(b, 'fast:bad-ciphertext');
      assert.equal(b.fast.take(KEY, frame), true, `${what}: claimed (it names the link's peer)`);
      await until(() => dropped(b, 'fast:bad-ciphertext') === before + 1, 5_000, `${what} altered: dropped as fast:bad-ciphertext`);
    }
    assert.equal(b.inbox.length, 0, 'nothing altered was delivered');
    assert.equal(b.fast.take(KEY, good), true);
    await until(() => b.inbox.length === 1, 5_000, 'the unaltered packet delivered');
    assert.equal(b.fast.take(KEY, good), true);
    await until(() => dropped(b, 'fast:replay') === 1, 5_000, 'the same packet again: dropped as a replay');
    assert.equal(b.inbox.length, 1, 'delivered once');
  });

  test('what the tab may not open goes to the node untouched: another source, another destination, a signed packet, a plaintext payload, an encoding that is not the one, another sender key', async () => {
    const [a, b] = await pair();
    await a.fast.send(b.id, 'x', 5, noNode);
    const p = lastPacket(a);
    const other = crypto.getRandomValues(new Uint8Array(32));
    assert.equal(b.fast.take(KEY, encodeFrame({ ...p, src: other })), false, 'a source other than the link peer: the node decides');
    assert.equal(b.fast.take(KEY, encodeFrame({ ...p, dst: other })), false, 'not for us: the node forwards it');
    assert.equal(b.fast.take(KEY, encodeFrame({ ...p, publicKey: new Uint8Array(32), signature: new Uint8Array(64) })), false, 'signed: the node verifies it');
    assert.equal(b.fast.take('another-link', a.wire.at(-1)!), false, 'on a link without a grant: the node');
    // From the link peer to us, unsigned, but not a sealed envelope: the node judges it (and drops it).
    const unsealed = encodeFrame({ ...p, payload: Payload.data.encode({ app: appId(''), port: 5, data: 'plain' }) });
    assert.equal(b.fast.take(KEY, unsealed), false, 'a plaintext payload: the node');
    // The same packet with its hop limit in a longer head than needed (valid CBOR, not the one
    // encoding): the tab's one-pass reader leaves it to the node's strict decoder, which refuses it.
    const good = a.wire.at(-1)!;
    const at = 1 + 1 + 1 + 34 + 34; // version, array head, type, src, dst: then the hop limit
    assert.deepEqual([...good.subarray(at, at + 2)], [0x18, 64], 'the hop limit, 64, in a 2-byte head');
    const loose = Uint8Array.from([...good.subarray(0, at), 0x19, 0x00, ...good.subarray(at + 1)]);
    assert.equal(b.fast.take(KEY, loose), false, 'a head that is not minimal: the node');
    assert.equal(decodeFrame(loose).ok, false, 'which refuses it');
    // Sealed under a sender key the grant does not name (the peer restarted): handed on whole for the node to learn it.
    const [c, d] = await pair();
    await c.fast.send(d.id, 'y', 5, noNode);
    const foreign = encodeFrame({ ...p, payload: lastPacket(c).payload });
    assert.equal(b.fast.take(KEY, foreign), true);
    await until(() => b.handedOn.length === 1, 5_000, 'a packet under another sender key handed on to the node');
    assert.deepEqual(b.handedOn[0], foreign, 'untouched');
    assert.equal(b.inbox.length, 0);
  });

  test('after a revoke nothing is claimed, except the answer to a request sent under the grant', async () => {
    const [a, b] = await pair();
    const answer = a.fast.request(b.id, 'late', 1, 5_000, noNode);
    await until(() => a.wire.length === 1, 5_000, 'the request written');
    a.fast.revoke(KEY);
    assert.equal(a.fast.has(b.id), false);
    assert.equal(b.fast.take(KEY, a.wire[0]!), true);
    await until(() => b.wire.length === 1, 5_000, 'the response written');
    assert.equal(a.fast.take(KEY, b.wire[0]!), true, 'the response to its own request is still claimed');
    assert.equal(await answer, 'echo:late');
    await b.fast.send(a.id, 'after', 5, noNode);
    assert.equal(a.fast.take(KEY, b.wire.at(-1)!), false, 'a datagram after the revoke goes to the node');
  });

  test('an answer on another link to the peer goes to the node, which passes it on: it settles the request once, and only from the peer asked', async () => {
    // As when a link re-homes and both nodes dial at once: the tab sent on the link it was
    // granted, the node then kept the other link (the grants went while both were open), and
    // the peer's node answered on that one.
    const [a, b] = await pair(true);
    const answer = a.fast.request(b.id, 'ping', 1, 5_000, noNode);
    await until(() => a.wire.length === 1, 5_000, 'the request written');
    const { requestId } = Payload.request.decode(lastPacket(a).payload)!;
    a.fast.revoke(KEY);
    assert.equal(b.fast.take(KEY, a.wire[0]!), true);
    await until(() => b.wire.length === 1, 5_000, 'the response written');
    assert.equal(a.fast.take('link-2', b.wire[0]!), false, 'on a link the tab holds no grant for, and sent no request on: the node takes it');
    a.fast.answeredByNode(requestId, toHex(crypto.getRandomValues(new Uint8Array(32))), true, 'forged');
    assert.equal(dropped(a, 'fast:stray-answer'), 1, 'an answer from a node it did not ask is dropped');
    a.fast.answeredByNode(requestId, b.id, true, 'echo:ping');
    assert.equal(await answer, 'echo:ping');
    assert.equal(a.fast.status().answersViaNode, 1);
    a.fast.answeredByNode(requestId, b.id, true, 'again');
    assert.equal(dropped(a, 'fast:stray-answer'), 2, 'a second answer is dropped');
  });

  test('a link gone before the packet is written: the datagram and the request go through the node, and the grant is dropped', async () => {
    const [a, b] = await pair();
    a.open = false;
    const viaNode: string[] = [];
    await a.fast.send(b.id, 'd', 5, async () => void viaNode.push('send'));
    assert.equal(a.fast.has(b.id), false, 'the grant went with the link');
    assert.deepEqual(viaNode, ['send']);
    const [c, d] = await pair();
    c.open = false;
    assert.equal(await c.fast.request(d.id, 'q', 1, 5_000, async () => 'answered by the node'), 'answered by the node');
    assert.equal(a.wire.length + c.wire.length, 0, 'nothing written');
  });

  test('sends made at once are sealed side by side but written, numbered and delivered in call order', async () => {
    const [a, b] = await pair();
    const N = 50;
    await Promise.all(Array.from({ length: N }, (_, i) => a.fast.send(b.id, `m${i}`, 5, noNode)));
    const ids = a.wire.map((f) => (decodeFrame(f) as { ok: true; value: PacketFrame }).value.id);
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'ids grow along the wire');
    for (const f of a.wire) assert.equal(b.fast.take(KEY, f), true);
    await until(() => b.inbox.length === N, 5_000, 'every message delivered');
    assert.deepEqual(b.inbox.map((m) => m.data), Array.from({ length: N }, (_, i) => `m${i}`));
    assert.deepEqual(b.fast.status().dropped, {});
  });

  test('a tab without the link sends through the host tab over a channel; the answer goes back to it by request id; a replay of it goes to the node', async () => {
    const [a, b] = await pair();
    const a2 = otherTab(a, 'r1', 3);
    const mc = new MessageChannel();
    a.fast.relays.open('r1', mc.port1);
    a2.fast.relays.open('r1', mc.port2);
    try {
      await a2.fast.send(b.id, 'from the second tab', 5, noNode);
      assert.equal(a.wire.length, 1, 'written on the host tab\'s channel');
      assert.equal(laneOf(lastPacket(a).id), 3, "in the second tab's lane");
      assert.equal(b.fast.take(KEY, a.wire[0]!), true);
      await until(() => b.inbox.length === 1, 5_000, 'delivered');
      assert.deepEqual(b.inbox[0], { from: a.id, data: 'from the second tab', port: 5 });

      const answer = a2.fast.request(b.id, 'q', 1, 5_000, noNode);
      await until(() => a.wire.length === 2, 5_000, 'the request written by the host tab');
      assert.equal(b.fast.take(KEY, a.wire[1]!), true);
      await until(() => b.wire.length === 1, 5_000, 'the response written');
      assert.equal(a.fast.take(KEY, b.wire[0]!), true, 'the host tab claims the answer to a request it relayed');
      assert.equal(await answer, 'echo:q');
      const [s1, s2] = [a.fast.status(), a2.fast.status()];
      assert.deepEqual([s1.relayedOut, s1.relayedBack, s1.received], [2, 1, 0], 'host tab: two frames written for the other tab, one answer passed back');
      assert.deepEqual([s2.viaTab, s2.viaTabAnswers, s2.sent, s2.requests], [2, 1, 1, 1], 'other tab: both through the host tab');
      // The same Response again: its route is gone, so it is the node's (which drops it as a late response).
      assert.equal(a.fast.take(KEY, b.wire[0]!), true);
      await until(() => a.handedOn.length === 1, 5_000, 'a replayed answer handed on to the node');
      assert.equal(a2.fast.status().viaTabAnswers, 1, 'not passed to the other tab twice');
    } finally {
      mc.port1.close();
    }
  });

  test('the host tab writes nothing for another tab on a link it holds no grant for (the other tab goes through the node); an answer for no request of the tab is dropped', async () => {
    const [a, b] = await pair();
    const a2 = otherTab(a, 'r1', 3);
    const mc = new MessageChannel();
    a.fast.relays.open('r1', mc.port1);
    a2.fast.relays.open('r1', mc.port2);
    try {
      a.fast.revoke(KEY);
      const viaNode: string[] = [];
      await a2.fast.send(b.id, 'd', 5, async () => void viaNode.push('send'));
      assert.deepEqual(viaNode, ['send'], 'refused by the host tab: through the node');
      assert.equal(a.wire.length, 0, 'nothing written');
      assert.equal(a2.fast.has(b.id), false, "the other tab's grant went with the refusal");
      assert.equal(a.fast.status().relayedOut, 0);
      // A channel closed with a request posted and not acknowledged: the request waits for its
      // timeout (it may have been written), never sent again through the node.
      const c2 = otherTab(a, 'r2', 4);
      const mc2 = new MessageChannel();
      const posted: { t: string; rid?: number }[] = [];
      mc2.port1.onmessage = (ev) => void posted.push(ev.data);
      c2.fast.relays.open('r2', mc2.port2);
      const late = c2.fast.request(b.id, 'lost', 1, 300, async () => 'through the node');
      await until(() => posted.length === 1, 5_000, 'the request posted to the host tab');
      // An answer for no request of this tab: dropped, counted.
      mc2.port1.postMessage({ t: 'answer', rid: posted[0]!.rid! + 1, from: b.id, ok: true, data: 'stray' });
      await until(() => c2.fast.status().dropped['fast:stray-answer'] === 1, 5_000, 'a stray answer dropped');
      c2.fast.relays.close('r2');
      await assert.rejects(late, (e: Error & { code?: string }) => e.code === 'TIMEOUT', 'timed out, not sent twice');
      mc2.port1.close();
    } finally {
      mc.port1.close();
    }
    void b;
  });

  test('a grant without inbound (the app has other tabs) leaves datagrams and requests to the node, and still claims answers to its own requests', async () => {
    const [a, b] = await pair();
    b.fast.grant({ ...b.grant, inbound: false });
    await a.fast.send(b.id, 'to the node', 5, noNode);
    assert.equal(b.fast.take(KEY, a.wire.at(-1)!), false, 'a datagram: the node hands it to every listening tab');
    const answer = b.fast.request(a.id, 'ping', 1, 5_000, noNode);
    await until(() => b.wire.length === 1, 5_000, 'the request written');
    assert.equal(a.fast.take(KEY, b.wire[0]!), true);
    await until(() => a.wire.length === 2, 5_000, 'the response written');
    assert.equal(b.fast.take(KEY, a.wire[1]!), true, 'the answer to its own request is claimed');
    assert.equal(await answer, 'echo:ping');
  });

  test('on a bound channel: datagrams and requests cross in the clear, unsigned, with no AES-GCM, and only the link peer\'s own packets to us are taken', async () => {
    const [a, b] = await pair(true, false);
    await a.fast.send(b.id, 'hello in the clear', 5, noNode);
    const p = lastPacket(a);
    assert.equal(p.signature.length, 0, 'unsigned: the bound channel proves the source');
    assert.deepEqual(Payload.data.decode(p.payload), { app: appId(''), port: 5, data: 'hello in the clear' }, 'the payload in the clear');
    assert.equal(b.fast.take(KEY, a.wire.at(-1)!), true);
    await until(() => b.inbox.length === 1, 5_000, 'the datagram delivered');
    const answer = a.fast.request(b.id, 'ping', 1, 5_000, noNode);
    await until(() => a.wire.length === 2, 5_000, 'the request written');
    assert.equal(b.fast.take(KEY, a.wire[1]!), true);
    await until(() => b.wire.length === 1, 5_000, 'the response written');
    assert.equal(a.fast.take(KEY, b.wire[0]!), true);
    assert.equal(await answer, 'echo:ping');
    assert.equal(a.fast.status().clear, 3, 'two written and one taken in the clear');
    assert.equal(a.fast.status().bound, 1);
    // The same rules as for sealed packets: another source, destination, a signed packet or another link: the node's.
    const other = crypto.getRandomValues(new Uint8Array(32));
    assert.equal(b.fast.take(KEY, encodeFrame({ ...p, src: other })), false, 'another source');
    assert.equal(b.fast.take(KEY, encodeFrame({ ...p, dst: other })), false, 'another destination');
    assert.equal(b.fast.take(KEY, encodeFrame({ ...p, publicKey: new Uint8Array(32), signature: new Uint8Array(64) })), false, 'signed');
    assert.equal(b.fast.take('another-link', a.wire[0]!), false, 'another link');
    // A sealed packet on a bound grant without the pair key: the node opens it.
    const [c, d] = await pair();
    await c.fast.send(d.id, 'sealed', 5, noNode);
    assert.equal(b.fast.take(KEY, encodeFrame({ ...lastPacket(c), src: p.src, dst: p.dst })), false, 'sealed, no key here: the node');
    // A replay is refused as for sealed packets.
    assert.equal(b.fast.take(KEY, a.wire[0]!), true);
    await until(() => dropped(b, 'fast:replay') === 1, 5_000, 'replayed: dropped');
    assert.equal(b.inbox.length, 1, 'delivered once');
  });

  test('a plaintext packet on a link that is not bound is never taken, even from the link peer', async () => {
    const [a, b] = await pair(true, false);
    const [c, d] = await pair(false, true);
    await a.fast.send(b.id, 'x', 5, noNode);
    const p = lastPacket(a);
    await c.fast.send(d.id, 'y', 5, noNode);
    const q = lastPacket(c);
    // Made to come from d's link peer to d, on d's link: still the node's to judge (and drop).
    assert.equal(d.fast.take(KEY, encodeFrame({ ...p, src: q.src, dst: q.dst })), false);
    assert.equal(d.inbox.length, 0);
  });

  test('a tab without the link writes in the clear through the host tab on a bound channel, and gets its answer back', async () => {
    const [a, b] = await pair(true, false);
    const a2 = otherTab(a, 'ch-1', 5);
    const ch = new MessageChannel();
    a.fast.relays.open('ch-1', ch.port1);
    a2.fast.relays.open('ch-1', ch.port2);
    const answer = a2.fast.request(b.id, 'from the second tab', 1, 5_000, noNode);
    await until(() => a.wire.length === 1, 5_000, 'the host tab wrote the second tab\'s request');
    const req = lastPacket(a);
    assert.equal(req.signature.length, 0);
    assert.equal(Payload.request.decode(req.payload)?.data, 'from the second tab', 'in the clear inside the channel');
    assert.equal(b.fast.take(KEY, a.wire[0]!), true);
    await until(() => b.wire.length === 1, 5_000, 'answered');
    assert.equal(a.fast.take(KEY, b.wire[0]!), true, 'the host tab takes the answer and passes it back');
    assert.equal(await answer, 'echo:from the second tab');
    ch.port1.close();
    ch.port2.close();
  });

  test("an app with several tabs: the host tab takes a datagram only with the node's list of listening tabs, and passes it to each once", async () => {
    const [a, b] = await pair();
    a.fast.grant({ ...a.grant, inbound: false });
    const a2 = otherTab(a, 'r1', 3);
    const mc = new MessageChannel();
    a.fast.relays.open('r1', mc.port1);
    a2.fast.relays.open('r1', mc.port2);
    try {
      await b.fast.send(a.id, 'one', 5, noNode);
      assert.equal(a.fast.take(KEY, b.wire.at(-1)!), false, 'no list from the node: its datagram');
      a.fast.relays.setListeners(['self', 'r1']);
      assert.equal(a.fast.take(KEY, b.wire.at(-1)!), true, 'with the list: taken');
      await until(() => a.inbox.length === 1 && a2.inbox.length === 1, 5_000, 'delivered in both tabs');
      assert.deepEqual([a.inbox[0], a2.inbox[0]], [{ from: b.id, data: 'one', port: 5 }, { from: b.id, data: 'one', port: 5 }]);
      assert.equal(a.fast.take(KEY, b.wire.at(-1)!), true);
      await until(() => dropped(a, 'fast:replay') === 1, 5_000, 'the same datagram again: a replay, passed on to nobody');
      assert.equal(a2.inbox.length, 1);
      // A listener whose channel is gone: the others still get it, and the loss is counted.
      a.fast.relays.setListeners(['self', 'r9']);
      await b.fast.send(a.id, 'two', 5, noNode);
      assert.equal(a.fast.take(KEY, b.wire.at(-1)!), true);
      await until(() => dropped(a, 'fast:listener-gone') === 1, 5_000, 'counted');
      assert.equal(a.inbox.length, 2);
      // A request stays the node's: it picks the handling tab.
      void b.fast.request(a.id, 'q', 1, 200, noNode).catch(() => undefined);
      await until(() => b.wire.length === 3, 5_000, 'the request written');
      assert.equal(a.fast.take(KEY, b.wire[2]!), false, "a request to a multi-tab app: the node's");
      assert.deepEqual([a.fast.status().relayedData, a2.fast.status().viaTabData], [1, 1]);
    } finally {
      mc.port1.close();
    }
  });

  describe("an app with several tabs: the peer's requests go from the host tab to the handling tab the node names", () => {
    /** A's host tab (its app has two tabs) and a second tab handling port 1 behind channel r1; B on the other end of the link. */
    async function setUp(handler: TabHandler) {
      const { a, b, a2, mc } = await hostWithRelayedTab(handler, false);
      /** B's request to A's app on port 1; resolves once written, with B's outcome. */
      const ask = async (data: string, timeoutMs = 5_000) => {
        const n = b.wire.length;
        const answer = b.fast.request(a.id, data, 1, timeoutMs, noNode).then((d) => ({ ok: true, d }), (e: MeshError) => ({ ok: false, d: e.message, code: e.code }));
        await until(() => b.wire.length === n + 1, 5_000, 'the request written');
        return { frame: b.wire[n]!, answer };
      };
      return { a, b, a2, mc, ask };
    }
    const relayCounts = (e: End) => {
      const s = e.fast.status();
      return [s.relayedRequests, s.relayedReplies, s.relayedRequestsToNode, s.viaTabRequests];
    };

    test('taken only with the node\'s routes; run in the handling tab once, answered on the link; a replay is dropped', async () => {
      const runs: unknown[] = [];
      const { a, b, a2, mc, ask } = await setUp(async (d) => (runs.push(d), { ok: true, data: `tab2:${String(d)}` }));
      try {
        const first = await ask('q1');
        assert.equal(a.fast.take(KEY, first.frame), false, "no routes from the node: the node's to hand out");
        a.fast.relays.setHandlers([[1, 'r1']]);
        const n = a.wire.length;
        assert.equal(a.fast.take(KEY, first.frame), true, 'with the routes: taken');
        await until(() => a.wire.length === n + 1, 5_000, "the second tab's answer written on the link");
        assert.equal(b.fast.take(KEY, a.wire.at(-1)!), true);
        assert.deepEqual(await first.answer, { ok: true, d: 'tab2:q1' });
        assert.equal(a.fast.take(KEY, first.frame), true);
        await until(() => dropped(a, 'fast:replay') === 1, 5_000, 'the same request again: a replay');
        assert.deepEqual(runs, ['q1'], 'run once, in the second tab');
        assert.deepEqual(relayCounts(a), [1, 1, 0, 0], 'host tab: passed on once, answer written');
        assert.deepEqual(relayCounts(a2), [0, 0, 0, 1], 'second tab: handled once');
        // A port the node did not name, or a route to a channel that is gone: the node's.
        a.fast.relays.setHandlers([[2, 'r1']]);
        assert.equal(a.fast.take(KEY, (await ask('q2')).frame), true);
        await until(() => a.handedOn.length === 1, 5_000, 'a port without a route: handed on opened-and-untouched');
        a.fast.relays.setHandlers([[1, 'r9']]);
        assert.equal(a.fast.take(KEY, (await ask('q3')).frame), true);
        await until(() => a.handedOn.length === 2, 5_000, 'a route to no channel: handed on');
        // `self`: the host tab handles it itself.
        a.fast.relays.setHandlers([[1, 'self']]);
        const own = await ask('q4');
        assert.equal(a.fast.take(KEY, own.frame), true);
        await until(() => a.wire.length === n + 2, 5_000, 'answered by the host tab');
        assert.equal(b.fast.take(KEY, a.wire.at(-1)!), true);
        assert.deepEqual(await own.answer, { ok: true, d: 'echo:q4' });
        assert.deepEqual(runs, ['q1'], 'the second tab ran nothing more');
      } finally {
        mc.port1.close();
      }
    });

    test('a forged or misrouted reply is dropped and counted; the real one still answers', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const { a, b, mc, ask } = await setUp(async (d) => (await held, { ok: true, data: `tab2:${String(d)}` }));
      // A second channel into the host tab, whose far end this test holds: it asked nothing there.
      const rogue = new MessageChannel();
      a.fast.relays.open('r2', rogue.port1);
      try {
        a.fast.relays.setHandlers([[1, 'r1']]);
        const q = await ask('q');
        const n = a.wire.length;
        assert.equal(a.fast.take(KEY, q.frame), true);
        await until(() => a.fast.status().relayedRequests === 1, 5_000, 'asked of the second tab');
        // Request 1 is in flight on r1: a reply for it on r2 is not its answer.
        rogue.port2.postMessage({ t: 'reply', id: 1, ok: true, data: 'forged' });
        await until(() => dropped(a, 'fast:stray-reply') === 1, 5_000, 'misrouted reply dropped and counted');
        // A reply on r1 itself would need the second tab's port: it is that tab's, not the test's.
        rogue.port2.postMessage({ t: 'reply', id: 77, ok: true, data: 'forged' });
        await until(() => dropped(a, 'fast:stray-reply') === 2, 5_000, 'a reply to nothing asked dropped and counted');
        assert.equal(a.wire.length, n, 'nothing written for them');
        release();
        await until(() => a.wire.length === n + 1, 5_000, 'the real answer written');
        assert.equal(b.fast.take(KEY, a.wire.at(-1)!), true);
        assert.deepEqual(await q.answer, { ok: true, d: 'tab2:q' });
        // A request posted to a tab by a channel (not a host tab that opened it): run only if it handles the port.
        rogue.port2.postMessage({ t: 'request', id: 'x', from: b.id, port: 1, data: 'y' });
        await until(() => dropped(a, 'fast:stray-request') === 1, 5_000, 'a malformed request dropped and counted');
      } finally {
        mc.port1.close();
        rogue.port2.close();
      }
    });

    test('the handling tab goes with the request in flight: the request goes to the node once (its worker asks another tab); a parked tab keeps it; one that closes with it running gets its requester HANDLER_CLOSED', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const runs: unknown[] = [];
      const { a, a2, mc, ask } = await setUp(async (d) => (runs.push(d), await held, { ok: true, data: 'late' }));
      try {
        a.fast.relays.setHandlers([[1, 'r1']]);
        const q = await ask('gone', 500);
        const n = a.wire.length;
        assert.equal(a.fast.take(KEY, q.frame), true);
        await until(() => runs.length === 1, 5_000, 'the second tab runs it');
        // The channel goes without naming a running request (the worker's relay-close when a tab
        // dies says no more): the host tab gives the request to the node, untouched.
        a2.fast.relays.closeAll();
        await until(() => a.handedOn.length === 1, 5_000, 'handed to the node');
        assert.deepEqual(a.handedOn[0], q.frame, 'the frame as it came');
        assert.deepEqual(relayCounts(a), [1, 0, 1, 0]);
        release();
        await until(() => a2.fast.status().viaTabRequests === 1, 5_000, 'its handler finished');
        assert.equal(a.wire.length, n, "the closed tab's late answer is not written");
        assert.deepEqual(runs, ['gone']);

        // Parked with the handler running: the answer cannot come back, and the request stays with that tab (as the node leaves it).
        let release2!: () => void;
        const held2 = new Promise<void>((r) => (release2 = r));
        let started = 0;
        const s2 = await setUp(async () => (started++, await held2, { ok: true, data: 'x' }));
        s2.a.fast.relays.setHandlers([[1, 'r1']]);
        const q2 = await s2.ask('parks', 500);
        assert.equal(s2.a.fast.take(KEY, q2.frame), true);
        await until(() => started === 1, 5_000, 'the handler runs in the second tab');
        s2.a2.fast.relays.closeAll('parked');
        await until(() => dropped(s2.a, 'fast:handler-parked') === 1, 5_000, 'counted, not handed on');
        assert.equal(s2.a.handedOn.length, 0, 'not run elsewhere');
        release2();
        s2.mc.port1.close();

        // Closed for good with the handler running (its pagehide): B is told HANDLER_CLOSED on the
        // link, and nothing runs the request again.
        let release4!: () => void;
        const held4 = new Promise<void>((r) => (release4 = r));
        let started4 = 0;
        const s4 = await setUp(async () => (started4++, await held4, { ok: true, data: 'x' }));
        s4.a.fast.relays.setHandlers([[1, 'r1']]);
        const q4 = await s4.ask('closes', 5_000);
        assert.equal(s4.a.fast.take(KEY, q4.frame), true);
        await until(() => started4 === 1, 5_000, 'the handler runs in the second tab');
        const n4 = s4.a.wire.length;
        s4.a2.fast.relays.closeAll('closing');
        await until(() => s4.a.wire.length === n4 + 1, 5_000, 'the host tab writes the failure on the link');
        assert.equal(s4.b.fast.take(KEY, s4.a.wire.at(-1)!), true);
        const out4 = await q4.answer;
        assert.equal(out4.ok, false);
        assert.equal((out4 as { code?: string }).code, 'HANDLER_CLOSED', 'B gets the typed error');
        assert.equal(s4.a.handedOn.length, 0, 'not given to the node: not run again');
        release4();
        await until(() => s4.a2.fast.status().viaTabRequests === 1, 5_000, 'its handler finished');
        assert.equal(s4.a.wire.length, n4 + 1, "the closed tab's late answer is not written");
        assert.equal(started4, 1);
        s4.mc.port1.close();

        // A tab that no longer handles the port runs nothing and says so: to the node.
        const s3 = await setUp(async () => ({ ok: true, data: 'x' }));
        s3.a.fast.relays.setHandlers([[1, 'r1']]);
        (s3.a2.fast as unknown as { host: { handles: () => boolean } }).host.handles = () => false;
        const q3 = await s3.ask('unhandled', 500);
        assert.equal(s3.a.fast.take(KEY, q3.frame), true);
        await until(() => s3.a.handedOn.length === 1, 5_000, 'handed to the node');
        assert.deepEqual(relayCounts(s3.a), [1, 0, 1, 0]);
        s3.mc.port1.close();
      } finally {
        mc.port1.close();
      }
    });
  });
});
