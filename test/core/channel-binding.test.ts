/**
 * Channel binding (session.ts): on a link whose transport names its secure channel (WebRTC's
 * DTLS fingerprints), the handshake proofs cover it, so a party that terminated the channel on
 * each side is refused, and a link both ends bound carries application packets without a second
 * seal (e2e.ts, services.ts). Real MeshNodes on memory links whose ends carry a binding, as the
 * browser's broker sets it from the two session descriptions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { utf8 } from '../../src/core/bytes.js';
import { SeededRandom } from '../../src/core/clock.js';
import { encodeFrame } from '../../src/core/codec.js';
import { isMeshError } from '../../src/core/errors.js';
import { idFromText } from '../../src/core/id.js';
import type { ChannelBinding, Link } from '../../src/core/link.js';
import { MeshNode, type Message } from '../../src/core/node.js';
import { createPacket, PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { LinkWrapper, seededIdentity, TestNet } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

const FP_A = utf8('sha-256 AA:01:02');
const FP_B = utf8('sha-256 BB:01:02');
const FP_M1 = utf8('sha-256 4D:31:00');
const FP_M2 = utf8('sha-256 4D:32:00');

/** A link whose transport knows its channel's fingerprints (the broker's PortLink, in a browser). */
class BoundLink extends LinkWrapper {
  constructor(
    inner: Link,
    readonly channelBinding: ChannelBinding | undefined,
  ) {
    super(inner);
  }
}

/** A started node listening at `mem:<label>` that wraps each inbound link's end with `binding`. */
async function listener(net: TestNet, label: string, binding: () => ChannelBinding | undefined): Promise<MeshNode> {
  const clock = net.clock.scoped(500 + label.length);
  const node = new MeshNode({ identity: await seededIdentity(label), clock, random: new SeededRandom(label), keepaliveMs: 0, addrs: [`mem:${label}`], wallClock: () => net.clock.now() });
  node.actor.onBusy = (idle) => net.clock.track(idle);
  net.network.listen(`mem:${label}`, clock, (link) => void node.addLink(new BoundLink(link, binding()), { outbound: false }).catch(() => undefined));
  await drive(net.clock, node.start(), 1000, `start ${label}`);
  return node;
}

/** A started node with no address, to dial by hand. */
async function dialler(net: TestNet, label: string): Promise<MeshNode> {
  const node = (await net.addNode(label, { addrs: [] })).node;
  await drive(net.clock, node.start(), 1000, `start ${label}`);
  return node;
}

/** Links `from` to the node at `mem:<to>` over its end carrying `binding`; resolves with the link or the refusal. */
async function link(net: TestNet, from: MeshNode, fromAddr: string, to: MeshNode, toLabel: string, binding?: ChannelBinding): Promise<BoundLink> {
  const raw = await drive(net.clock, net.network.dial(fromAddr, `mem:${toLabel}`, net.clock.scoped(900)), 1000, 'dial');
  const l = new BoundLink(raw, binding);
  await drive(net.clock, from.addLink(l, { outbound: true, expectedId: to.id }), 3000, 'handshake');
  return l;
}

function boundOf(node: MeshNode, peer: MeshNode): boolean | undefined {
  return node.status().links.find((l) => l.id === peer.id)?.bound;
}

describe('channel binding', () => {
  it('binds a link whose two ends name the same channel, and carries datagrams and requests on it without sealing them', async () => {
    const net = new TestNet();
    const b = await listener(net, 'bind/b', () => ({ local: FP_B, remote: FP_A }));
    const a = await dialler(net, 'bind/a');
    await link(net, a, 'mem:bind/a', b, 'bind/b', { local: FP_A, remote: FP_B });
    await driveUntil(net.clock, () => boundOf(b, a) === true, 1000, 'b sees the link bound');
    assert.equal(boundOf(a, b), true);
    const inbox: Message[] = [];
    b.onMessage((m) => inbox.push(m));
    b.handle(7, (m) => `answer to ${String(m.data)}`);
    await drive(net.clock, a.send(b.id, 'hello', { port: 3 }), 2000, 'send');
    const reply = await drive(net.clock, a.request(b.id, 'question', { port: 7 }), 2000, 'request');
    await driveUntil(net.clock, () => inbox.length === 1, 1000, 'datagram delivered');
    assert.equal(inbox[0]!.data, 'hello');
    assert.equal(reply, 'answer to question');
    const ea = a.status().e2e;
    const eb = b.status().e2e;
    assert.equal(ea.directSent, 2, 'a sent its datagram and request in the bound channel');
    assert.equal(eb.directOpened, 2);
    assert.equal(eb.directSent, 1, 'b answered the same way');
    assert.equal(ea.directOpened, 1);
    assert.equal(ea.sealed + eb.sealed, 0, 'no AES-GCM');
    // The keys are still exchanged, in the background: should the link go, what goes through a relay is sealed at once.
    await driveUntil(net.clock, () => a.fastPair(b.id) !== undefined && b.fastPair(a.id) !== undefined, 2000, 'keys exchanged in the background');
    await net.stopAll();
    await drive(net.clock, b.stop(), 1000, 'stop b');
  });

  it('refuses a party that terminated the channel on each side, and binds the same relay when the channel is one', async () => {
    for (const honest of [false, true]) {
      const net = new TestNet();
      // B sees the certificate of whoever it shares DTLS with: M's second one, or A's when the channel is end to end.
      const b = await listener(net, 'bind/b', () => ({ local: FP_B, remote: honest ? FP_A : FP_M2 }));
      const a = await dialler(net, 'bind/a');
      // M passes every byte between its two channels unchanged: all it could do without A's or B's key.
      const mClock = net.clock.scoped(700);
      net.network.listen('mem:bind/m', mClock, (fromA) => {
        void net.network.dial('mem:bind/m', 'mem:bind/b', mClock).then((toB) => {
          fromA.attach({ frame: (f) => void (toB.closed || toB.send(f)), close: (r) => toB.close(r) });
          toB.attach({ frame: (f) => void (fromA.closed || fromA.send(f)), close: (r) => fromA.close(r) });
        });
      });
      const raw = await drive(net.clock, net.network.dial('mem:bind/a', 'mem:bind/m', net.clock.scoped(900)), 1000, 'dial m');
      const added = a.addLink(new BoundLink(raw, { local: FP_A, remote: honest ? FP_B : FP_M1 }), { outbound: true, expectedId: b.id });
      if (honest) {
        await drive(net.clock, added, 3000, 'handshake through a byte relay');
        await driveUntil(net.clock, () => boundOf(b, a) === true, 1000, 'b bound');
        assert.equal(boundOf(a, b), true);
      } else {
        await assert.rejects(drive(net.clock, added, 3000, 'handshake through M'), (err: unknown) => {
          assert.ok(isMeshError(err, 'HANDSHAKE_FAILED'), String(err));
          assert.match((err as Error).message, /does not cover this channel/);
          return true;
        });
        await advance(net.clock, 200);
        assert.deepEqual(b.linkIds(), [], 'B refused A too');
        assert.ok((b.status().counters.dropped['handshake:HANDSHAKE_FAILED'] ?? 0) >= 1, JSON.stringify(b.status().counters.dropped));
      }
      await net.stopAll();
      await drive(net.clock, b.stop(), 1000, 'stop b');
    }
  });

  it('leaves a link unbound when either end names no channel, and seals on it as before', async () => {
    for (const side of ['dialler', 'listener'] as const) {
      const net = new TestNet();
      const b = await listener(net, 'bind/b', () => (side === 'listener' ? undefined : { local: FP_B, remote: FP_A }));
      const a = await dialler(net, 'bind/a');
      await link(net, a, 'mem:bind/a', b, 'bind/b', side === 'dialler' ? undefined : { local: FP_A, remote: FP_B });
      await driveUntil(net.clock, () => boundOf(b, a) !== undefined, 1000, 'b linked');
      assert.equal(boundOf(a, b), false);
      assert.equal(boundOf(b, a), false);
      assert.ok(!a.memory.get(b.id)?.caps.includes('bound'), 'the hello mark is no node capability');
      await drive(net.clock, a.send(b.id, 'sealed', { port: 3 }), 3000, 'send');
      await driveUntil(net.clock, () => b.status().e2e.opened === 1, 1000, 'opened');
      assert.equal(a.status().e2e.directSent, 0);
      await net.stopAll();
      await drive(net.clock, b.stop(), 1000, 'stop b');
    }
  });

  it('takes an unsigned plaintext packet only from the peer at the other end of a bound channel, for itself', async () => {
    const net = new TestNet();
    const b = await listener(net, 'bind/b', () => ({ local: FP_B, remote: FP_A }));
    const a = await dialler(net, 'bind/a');
    const c = await dialler(net, 'bind/c');
    const ab = await link(net, a, 'mem:bind/a', b, 'bind/b', { local: FP_A, remote: FP_B });
    // C's end names no channel: its link to B is unbound.
    const cb = await link(net, c, 'mem:bind/c', b, 'bind/b');
    await driveUntil(net.clock, () => boundOf(b, a) === true && boundOf(b, c) === false, 1000, 'both linked');
    const inbox: Message[] = [];
    b.onMessage((m) => inbox.push(m));
    const aId = await seededIdentity('bind/a');
    const cId = await seededIdentity('bind/c');
    let n = Date.now() * 1024;
    const forged = async (from: typeof aId, text: string, dst = b.id) =>
      encodeFrame(await createPacket(from, idFromText(dst), PacketKind.Data, Payload.data.encode({ app: new Uint8Array(0), port: 9, data: text }), (n += 8), 16, true));
    // Written on the links by hand, beside the nodes' own frames.
    ab.inner.send(await forged(aId, 'from a, its own'));
    ab.inner.send(await forged(cId, 'in the name of c, on a\'s channel'));
    cb.inner.send(await forged(cId, 'from c, unbound'));
    await driveUntil(net.clock, () => (b.status().counters.dropped['e2e:unsigned-plaintext'] ?? 0) === 2, 1000, 'two dropped');
    await advance(net.clock, 100);
    assert.deepEqual(inbox.map((m) => [m.from, m.data]), [[a.id, 'from a, its own']]);
    assert.equal(b.status().e2e.directOpened, 1);
    await net.stopAll();
    await drive(net.clock, b.stop(), 1000, 'stop b');
  });

  it('acks a reliable datagram in the bound channel, in the clear; takes an unsigned Ack only from the peer at the other end of one', async () => {
    const net = new TestNet();
    const b = await listener(net, 'bind/b', () => ({ local: FP_B, remote: FP_A }));
    const a = await dialler(net, 'bind/a');
    const c = await dialler(net, 'bind/c');
    const ab = await link(net, a, 'mem:bind/a', b, 'bind/b', { local: FP_A, remote: FP_B });
    const cb = await link(net, c, 'mem:bind/c', b, 'bind/b');
    await driveUntil(net.clock, () => boundOf(b, a) === true && boundOf(b, c) === false, 1000, 'both linked');
    const inbox: Message[] = [];
    b.onMessage((m) => inbox.push(m));
    const sent0 = b.status().e2e.directSent;
    await drive(net.clock, a.send(b.id, 'kept', { port: 3, reliable: true, deadlineMs: 2000 }), 3000, 'reliable send acked');
    assert.deepEqual(inbox.map((m) => m.data), ['kept']);
    assert.equal(b.status().e2e.directSent - sent0, 1, 'b acked it unsigned, in the bound channel');
    const aId = await seededIdentity('bind/a');
    const cId = await seededIdentity('bind/c');
    let n = Date.now() * 1024;
    const ack = async (from: typeof aId) => encodeFrame(await createPacket(from, idFromText(b.id), PacketKind.Ack, Payload.ack.encode({ messageId: 5 }), (n += 8), 16, true));
    ab.inner.send(await ack(aId));
    ab.inner.send(await ack(cId));
    cb.inner.send(await ack(cId));
    await driveUntil(net.clock, () => (b.status().counters.dropped['unsigned'] ?? 0) === 2, 1000, "c's two dropped");
    await driveUntil(net.clock, () => (b.status().counters.dropped['late-ack'] ?? 0) === 1, 1000, "a's own taken (it acks nothing of b's: late)");
    await net.stopAll();
    await drive(net.clock, b.stop(), 1000, 'stop b');
  });

  it("does not pass on a packet in its own name that came from elsewhere: no one writes into a bound channel as its peer", async () => {
    const net = new TestNet();
    const b = await listener(net, 'bind/b', () => ({ local: FP_B, remote: FP_A }));
    const a = await dialler(net, 'bind/a');
    const c = await dialler(net, 'bind/c');
    await link(net, a, 'mem:bind/a', b, 'bind/b', { local: FP_A, remote: FP_B });
    const cb = await link(net, c, 'mem:bind/c', b, 'bind/b');
    await driveUntil(net.clock, () => boundOf(a, b) === true && boundOf(b, c) === false, 1000, 'both linked');
    const inbox: Message[] = [];
    a.onMessage((m) => inbox.push(m));
    const bId = await seededIdentity('bind/b');
    let n = Date.now() * 1024;
    // C writes, on its own link to B, an unsigned clear Data in B's name for A: B would forward it into its bound channel to A.
    const forged = async (kind: number, payload: Uint8Array) => encodeFrame(await createPacket(bId, idFromText(a.id), kind, payload, (n += 8), 16, true));
    cb.inner.send(await forged(PacketKind.Data, Payload.data.encode({ app: new Uint8Array(0), port: 9, data: 'in b\'s name, from c' })));
    cb.inner.send(await forged(PacketKind.Ack, Payload.ack.encode({ messageId: 5 })));
    await advance(net.clock, 200);
    assert.equal(b.status().counters.dropped['own-source'], 2, 'b dropped both');
    assert.deepEqual(inbox, [], 'A took nothing in B\'s name');
    assert.equal(a.status().counters.dropped['late-ack'] ?? 0, 0);
    await net.stopAll();
    await drive(net.clock, b.stop(), 1000, 'stop b');
  });

  it('seals what goes through a relay, bound links or not: only the first hop to the destination itself skips it', async () => {
    const net = new TestNet();
    const b = await listener(net, 'bind/b', () => ({ local: FP_B, remote: FP_A }));
    const a = await dialler(net, 'bind/a');
    const c = await dialler(net, 'bind/c');
    await link(net, a, 'mem:bind/a', b, 'bind/b', { local: FP_A, remote: FP_B });
    await link(net, c, 'mem:bind/c', b, 'bind/b', { local: FP_A, remote: FP_B });
    await driveUntil(net.clock, () => boundOf(b, a) === true && boundOf(b, c) === true, 1000, 'both bound');
    const inbox: Message[] = [];
    c.onMessage((m) => inbox.push(m));
    await drive(net.clock, a.send(c.id, 'through b', { port: 3 }), 3000, 'send via b');
    await driveUntil(net.clock, () => inbox.length === 1, 1000, 'delivered');
    assert.equal(a.status().e2e.directSent, 0);
    assert.equal(a.status().e2e.sealed, 1);
    assert.equal(c.status().e2e.opened, 1);
    assert.equal(b.status().e2e.directOpened, 0);
    await net.stopAll();
    await drive(net.clock, b.stop(), 1000, 'stop b');
  });
});
