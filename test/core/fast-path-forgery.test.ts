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
import { decodeFrame, encodeFrame, FrameType, type PacketFrame } from '../../src/core/codec.js';
import { derivePairKey, exportE2ePublicKey, generateE2eKeys } from '../../src/core/e2e-crypto.js';
import { PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { laneOf } from '../../src/core/replay-guard.js';
import { FastPath } from '../../src/browser/fast-path.js';
import type { RtcHost } from '../../src/browser/rtc-host.js';
import { until } from '../helpers/wait.js';

const KEY = 'link-1';
/** The path through the node, which these tests never take (the link is never gone here). */
const noNode = (): Promise<never> => Promise.reject(new Error('went through the node'));

interface End {
  fast: FastPath;
  id: string;
  wire: Uint8Array[];
  handedOn: Uint8Array[];
  inbox: { from: string; data: unknown; port: number }[];
  /** The DataChannel is open (sendOwn writes); false: the link is gone. */
  open: boolean;
}

async function pair(): Promise<[End, End]> {
  const made = await Promise.all(
    [0, 1].map(async () => {
      const keys = await generateE2eKeys();
      return { keys, publicKey: await exportE2ePublicKey(keys), id: crypto.getRandomValues(new Uint8Array(32)) };
    }),
  );
  const ends: End[] = [];
  for (const [i, me] of made.entries()) {
    const them = made[1 - i]!;
    const aes = await derivePairKey(me, them);
    const end: End = { fast: undefined as unknown as FastPath, id: toHex(me.id), wire: [], handedOn: [], inbox: [], open: true };
    const rtc = {
      sendOwn: async (_key: string, frame: Uint8Array) => end.open && (end.wire.push(frame), true),
      toNode: (_key: string, frame: Uint8Array) => void end.handedOn.push(frame),
    } as unknown as RtcHost;
    end.fast = new FastPath({
      rtc,
      listening: () => true,
      deliver: (from, data, port) => void end.inbox.push({ from, data, port }),
      handles: (port) => port === 1,
      runHandler: async (_from, data) => ({ ok: true, data: `echo:${String(data)}` }),
      traffic: () => undefined,
    });
    end.fast.grant({ ev: 'fast-grant', key: KEY, peer: toHex(them.id), self: toHex(me.id), aes: aes as CryptoKey, ownPublic: me.publicKey, peerPublic: them.publicKey, app: appId(''), lane: 1 + i });
    ends.push(end);
  }
  return ends as [End, End];
}

/** The frame `a` wrote last, decoded. */
function lastPacket(e: End): PacketFrame {
  const d = decodeFrame(e.wire.at(-1)!);
  assert.ok(d.ok && d.value.type === FrameType.Packet, 'a packet frame was written');
  return d.value as PacketFrame;
}

const dropped = (e: End, reason: string): number => e.fast.status().dropped[reason] ?? 0;

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
});
