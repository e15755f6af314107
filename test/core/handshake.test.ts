/**
 * The link handshake between real MeshNodes, and against raw peers that a test drives frame by
 * frame to play every way a peer can get it wrong: the wrong key, an unknown wire version, a
 * bad proof, silence, and garbage once the link is open.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame, encodeFrame, FrameType, Want, type ErrorFrame, type Frame, type HelloFrame } from '../../src/core/codec.js';
import { isMeshError, type MeshErrorCode } from '../../src/core/errors.js';
import type { Identity } from '../../src/core/identity.js';
import { WIRE_VERSION } from '../../src/core/limits.js';
import type { MeshNode, MeshNodeOptions } from '../../src/core/node.js';
import type { StoredPeer } from '../../src/core/peer-memory.js';
import { createPacket, PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import type { Dialer } from '../../src/core/node.js';
import { memoryDialer } from '../../src/transports/memory.js';
import { hello, LinkWrapper, rawHandshake, seededIdentity, TestNet, transcript } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

function errorsIn(frames: Frame[]): ErrorFrame[] {
  return frames.filter((f): f is ErrorFrame => f.type === FrameType.Error);
}

function isCode(code: MeshErrorCode) {
  return (err: unknown) => {
    assert.ok(isMeshError(err, code), `expected MeshError ${code}, got ${String(err)}`);
    return true;
  };
}

/** The drop counters of a node, as its status reports them. */
function dropped(node: MeshNode): Record<string, number> {
  return node.status().counters.dropped;
}

describe('handshake between two nodes', () => {
  it('links two nodes: both sides see the other, with the right transport and direction', async () => {
    const net = new TestNet();
    const a = await net.addNode('a');
    const b = await net.addNode('b');
    const ups: string[] = [];
    b.node.events.on('link-up', (e) => ups.push(`${e.id} ${e.transport} ${e.outbound ? 'out' : 'in'}`));
    const link = await drive(net.clock, net.network.dial(a.addr, b.addr, net.clock.scoped(50)), 1000, 'dial');
    const peer = await drive(net.clock, a.node.addLink(link, { outbound: true, expectedId: b.node.id }), 2000, 'addLink');
    assert.equal(peer, b.node.id);
    await driveUntil(net.clock, () => b.node.linkIds().includes(a.node.id), 1000, 'b admits a');
    assert.deepEqual(a.node.linkIds(), [b.node.id]);
    assert.deepEqual(ups, [`${a.node.id} memory in`]);
    const status = a.node.status().links[0]!;
    assert.equal(status.transport, 'memory');
    assert.equal(status.outbound, true);
    assert.deepEqual(status.addrs, [b.addr], 'the hello carried the dial addresses');
    assert.equal(a.node.memory.get(b.node.id)?.successes, 1, 'the peer is remembered as having worked');
    await net.stopAll();
  });

  it('refuses a node whose key does not match the id it dialled: ID_MISMATCH', async () => {
    const net = new TestNet();
    const a = await net.addNode('a');
    const b = await net.addNode('b');
    const someoneElse = await seededIdentity('someone else');
    const link = await drive(net.clock, net.network.dial(a.addr, b.addr, net.clock.scoped(50)), 1000, 'dial');
    await assert.rejects(
      drive(net.clock, a.node.addLink(link, { outbound: true, expectedId: someoneElse.idText }), 2000, 'addLink'),
      isCode('ID_MISMATCH'),
    );
    assert.equal(link.closed, true);
    assert.equal(dropped(a.node)['handshake:ID_MISMATCH'], 1);
    await driveUntil(net.clock, () => (dropped(b.node)['handshake:HANDSHAKE_FAILED'] ?? 0) === 1, 1000, 'b told of the refusal');
    assert.deepEqual(a.node.linkIds(), []);
    assert.deepEqual(b.node.linkIds(), []);
    await net.stopAll();
  });

  it('sends the impostor an ID_MISMATCH error frame', async () => {
    const net = new TestNet();
    const a = await net.addNode('a');
    const expected = await seededIdentity('expected');
    const impostor = await seededIdentity('impostor');
    const rawSide = net.rawListen('mem:impostor');
    const link = await drive(net.clock, net.network.dial(a.addr, 'mem:impostor', net.clock.scoped(50)), 1000, 'dial');
    const raw = await rawSide;
    const result = a.node.addLink(link, { outbound: true, expectedId: expected.idText });
    raw.send(hello(impostor, new Uint8Array(32).fill(1)));
    await assert.rejects(drive(net.clock, result, 2000, 'addLink'), isCode('ID_MISMATCH'));
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'the impostor sees the close');
    const errors = errorsIn(raw.frames());
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'ID_MISMATCH');
    assert.equal(raw.frames().some((f) => f.type === FrameType.Proof), false, 'no proof is given to an impostor');
    await net.stopAll();
  });

  it('refuses a link to itself', async () => {
    const net = new TestNet();
    const a = await net.addNode('a');
    const link = await drive(net.clock, net.network.dial(a.addr, a.addr, net.clock.scoped(50)), 1000, 'dial');
    await assert.rejects(drive(net.clock, a.node.addLink(link, { outbound: true }), 2000, 'addLink'), isCode('HANDSHAKE_FAILED'));
    await net.clock.runUntil(net.clock.now() + 100);
    assert.deepEqual(a.node.linkIds(), []);
    await net.stopAll();
  });

  it('keeps one link when the same pair links twice', async () => {
    const net = new TestNet();
    const a = await net.addNode('a');
    const b = await net.addNode('b');
    const first = await drive(net.clock, net.network.dial(a.addr, b.addr, net.clock.scoped(50)), 1000, 'dial');
    await drive(net.clock, a.node.addLink(first, { outbound: true }), 2000, 'first link');
    const second = await drive(net.clock, net.network.dial(a.addr, b.addr, net.clock.scoped(51)), 1000, 'dial');
    await assert.rejects(drive(net.clock, a.node.addLink(second, { outbound: true }), 2000, 'second link'), isCode('DUPLICATE'));
    await net.clock.runUntil(net.clock.now() + 100);
    assert.deepEqual(a.node.linkIds(), [b.node.id]);
    assert.deepEqual(b.node.linkIds(), [a.node.id]);
    assert.equal(first.closed, false, 'the first link survives');
    // Counted as what it is, on both sides: not as a failed handshake.
    for (const n of [a.node, b.node]) {
      await driveUntil(net.clock, () => dropped(n)['handshake:DUPLICATE'] === 1, 1000, 'the duplicate counted');
      assert.equal(dropped(n)['handshake:HANDSHAKE_FAILED'], undefined, JSON.stringify(dropped(n)));
    }
    await net.stopAll();
  });

  // Two nodes that learn of each other at once dial each other: in browsers the WebRTC
  // signalling leaves a wide window for it (both Chromium and Firefox counted these in
  // webkit.test.ts). Both keep the link the smaller id dialled and count the other as a duplicate.
  it('crossed dials: one link kept, the other counted as handshake:DUPLICATE', async () => {
    const net = new TestNet();
    const a = await net.addNode('a');
    const b = await net.addNode('b');
    const ab = await drive(net.clock, net.network.dial(a.addr, b.addr, net.clock.scoped(50)), 1000, 'dial a to b');
    const ba = await drive(net.clock, net.network.dial(b.addr, a.addr, net.clock.scoped(51)), 1000, 'dial b to a');
    const results = await drive(
      net.clock,
      Promise.allSettled([a.node.addLink(ab, { outbound: true }), b.node.addLink(ba, { outbound: true })]),
      2000,
      'both handshakes',
    );
    await net.clock.runUntil(net.clock.now() + 100);
    assert.deepEqual(a.node.linkIds(), [b.node.id]);
    assert.deepEqual(b.node.linkIds(), [a.node.id]);
    const refused = results.filter((r) => r.status === 'rejected');
    assert.ok(refused.length <= 1, 'at most one dial is refused');
    // A refused dial says why: a duplicate, not a failure (maintenance cools the peer down 2 s, not 30: duplicate-cooldown.test.ts).
    for (const r of refused) assert.ok(isCode('DUPLICATE')((r as PromiseRejectedResult).reason), String((r as PromiseRejectedResult).reason));
    const all = [dropped(a.node), dropped(b.node)];
    assert.ok(all.some((d) => (d['handshake:DUPLICATE'] ?? 0) >= 1), JSON.stringify(all));
    for (const d of all) assert.equal(d['handshake:HANDSHAKE_FAILED'], undefined, JSON.stringify(all));
    await net.stopAll();
  });

  it('loses nothing in flight when both sides dialled and one link replaces the other', async () => {
    const net = new TestNet();
    const [x, y] = [await net.addNode('dup-x'), await net.addNode('dup-y')];
    // Both sides keep the link dialled by the smaller id: the larger dials first, and its link
    // is the one that goes once the smaller one's link comes up.
    const [small, large] = x.node.id < y.node.id ? [x, y] : [y, x];
    const first = await drive(net.clock, net.network.dial(large.addr, small.addr, net.clock.scoped(50)), 1000, 'dial');
    await drive(net.clock, large.node.addLink(first, { outbound: true }), 2000, 'first link');
    const got: string[] = [];
    small.node.onMessage((m) => got.push(String(m.data)));
    await drive(net.clock, large.node.send(small.node.id, 'warm-up'), 2000, 'warm-up');
    await driveUntil(net.clock, () => got.length === 1, 1000, 'warm-up arrives');
    const second = drive(net.clock, net.network.dial(small.addr, large.addr, net.clock.scoped(51)), 1000, 'dial').then((l) => small.node.addLink(l, { outbound: true }));
    // A datagram every millisecond while the second link's handshake runs: some leave on the
    // first link after the small side has already switched to the second.
    const sent: string[] = [];
    for (let i = 0; i < 60; i++) {
      sent.push(`d${i}`);
      void large.node.send(small.node.id, `d${i}`);
      await net.clock.runUntil(net.clock.now() + 1);
    }
    await drive(net.clock, second, 2000, 'second link');
    await driveUntil(net.clock, () => first.closed, 5000, 'the replaced link closes');
    assert.deepEqual(got.slice(1).sort(), sent.sort(), 'every datagram arrived');
    assert.deepEqual(small.node.linkIds(), [large.node.id]);
    assert.deepEqual(large.node.linkIds(), [small.node.id]);
    await net.stopAll();
  });
});

describe('what a peer says of itself', () => {
  it('replaces what memory held once its hello is proven: a node restarted without WebRTC is no longer known as webrtc', async () => {
    const net = new TestNet();
    const a = await net.addNode('caps-a');
    const b1 = await net.addNode('caps-b', { caps: ['webrtc'], addrs: [] });
    const l1 = await drive(net.clock, net.network.dial(b1.addr, a.addr, net.clock.scoped(60)), 1000, 'dial');
    await drive(net.clock, b1.node.addLink(l1, { outbound: true }), 2000, 'link with webrtc');
    await driveUntil(net.clock, () => a.node.linkIds().includes(b1.node.id), 1000, 'a admitted the link too');
    assert.deepEqual(a.node.memory.get(b1.node.id)?.caps, ['webrtc']);
    await drive(net.clock, b1.node.stop(), 1000, 'b stops');
    // The same identity, now without the capability.
    const b2 = await net.addNode('caps-b2', { identity: await seededIdentity('caps-b'), caps: [], addrs: [] });
    assert.equal(b2.node.id, b1.node.id);
    const l2 = await drive(net.clock, net.network.dial(b2.addr, a.addr, net.clock.scoped(61)), 1000, 'dial');
    await drive(net.clock, b2.node.addLink(l2, { outbound: true }), 2000, 'link without webrtc');
    await driveUntil(net.clock, () => a.node.linkIds().includes(b2.node.id), 1000, 'a admitted the link too');
    assert.deepEqual(a.node.memory.get(b2.node.id)?.caps, [], 'the proven hello replaced the old caps');
    await net.stopAll();
  });
});

describe('a hello made before the dial (a WebSocket carries it in its upgrade URL)', () => {
  it('the session sends the very bytes the dialer was given, once, with the nonce drawn at the dial', async () => {
    const net = new TestNet();
    const b = await net.addNode('b');
    const made: Uint8Array[] = [];
    const sent: Uint8Array[] = [];
    const inner = memoryDialer(net.network, 'mem:a', net.clock.scoped(99));
    const dialer: Dialer = {
      canDial: (rec) => inner.canDial(rec),
      dial: (rec) => inner.dial(rec),
      // As the WebSocket dialers do: the hello is made before the connection exists.
      dialAddress: async (addr, hello) => {
        if (hello) made.push(hello());
        const link = await inner.dialAddress(addr);
        return new (class extends LinkWrapper {
          override send(frame: Uint8Array): boolean {
            sent.push(frame);
            return super.send(frame);
          }
        })(link);
      },
    };
    const a = await net.addNode('a', { dialer, bootstrap: [b.addr] });
    await drive(net.clock, a.node.start(), 1000, 'start');
    await driveUntil(net.clock, () => a.node.linkIds().includes(b.node.id), 2000, 'a links to b');
    assert.equal(made.length, 1);
    const hellos = sent.filter((f) => { const d = decodeFrame(f); return d.ok && d.value.type === FrameType.Hello; });
    assert.deepEqual(hellos, [made[0]], 'one hello, byte for byte the one made before the dial');
    await driveUntil(net.clock, () => b.node.linkIds().includes(a.node.id), 1000, 'b admits a: our proof signed the nonce in that hello');
    await net.stopAll();
  });
});

describe('dialBootstrapFirst (the browser host): the bootstrap dialled before peer memory is read', () => {
  /** A node at mem:<label> whose store holds its read until released, recording its dialer's address dials. */
  async function holdingNode(net: TestNet, label: string, options: Partial<MeshNodeOptions>) {
    const dials: { addr: string; hello: boolean }[] = [];
    const inner = memoryDialer(net.network, `mem:${label}`, net.clock.scoped(97));
    const dialer: Dialer = {
      canDial: (rec) => inner.canDial(rec),
      dial: (rec) => inner.dial(rec),
      dialAddress: (addr, hello) => (dials.push({ addr, hello: hello?.() !== undefined }), inner.dialAddress(addr)),
    };
    let release!: () => void;
    const read = new Promise<StoredPeer[]>((resolve) => (release = () => resolve([])));
    const n = await net.addNode(label, { dialer, store: { load: () => read, save: async () => undefined }, ...options });
    return { ...n, dials, release };
  }

  it('dials it, with its hello, while the read is under way, and once; addBootstrap() dials a new address the same way, once', async () => {
    const net = new TestNet();
    const b = await net.addNode('first-b');
    const c = await net.addNode('first-c');
    const a = await holdingNode(net, 'first-a', { bootstrap: [b.addr], dialBootstrapFirst: true });
    const starting = a.node.start();
    await driveUntil(net.clock, () => a.dials.length > 0, 1000, 'the bootstrap dialled before peer memory is read');
    a.release();
    await drive(net.clock, starting, 1000, 'start');
    await driveUntil(net.clock, () => a.node.linkIds().includes(b.node.id), 2000, 'a links to b');
    await a.node.addBootstrap(c.addr);
    await a.node.addBootstrap(c.addr);
    await driveUntil(net.clock, () => a.node.linkIds().includes(c.node.id), 2000, 'a links to c');
    assert.deepEqual(a.dials, [{ addr: b.addr, hello: true }, { addr: c.addr, hello: true }], 'each address once, each with a hello');
    await net.stopAll();
  });

  it('without it (the default, the simulator) the dial waits for the read', async () => {
    const net = new TestNet();
    const b = await net.addNode('later-b');
    const a = await holdingNode(net, 'later-a', { bootstrap: [b.addr] });
    const starting = a.node.start();
    await advance(net.clock, 100);
    assert.deepEqual(a.dials, [], 'nothing dialled while peer memory is read');
    a.release();
    await drive(net.clock, starting, 1000, 'start');
    await driveUntil(net.clock, () => a.node.linkIds().includes(b.node.id), 2000, 'a links to b');
    assert.equal(a.dials.length, 1);
    await net.stopAll();
  });
});

describe('linked(): ready means ready', () => {
  it('resolves once the first link is up (not before), and at once after that', async () => {
    const net = new TestNet();
    const a = await net.addNode('ready-a');
    const b = await net.addNode('ready-b', { bootstrap: ['mem:ready-a'] });
    let linkedAt: number | undefined;
    void b.node.linked().then(() => (linkedAt = b.node.linkIds().length));
    await drive(net.clock, b.node.start(), 1000, 'start b');
    assert.equal(linkedAt, undefined, 'not linked yet when start() resolved');
    await drive(net.clock, b.node.linked(), 2000, 'b linked');
    assert.equal(linkedAt, 1, 'resolved with the link in the table');
    // The first packet after it is routed: a node with a link never fails with UNREACHABLE.
    await drive(net.clock, a.node.start(), 1000, 'start a');
    await drive(net.clock, b.node.send(a.node.id, 'first'), 3000, 'first send after linked()');
    let again = false;
    void b.node.linked().then(() => (again = true));
    await Promise.resolve();
    assert.equal(again, true, 'already linked: resolves at once');
    await net.stopAll();
  });
});

describe('handshake against raw peers', () => {
  it('an honest raw peer gets a link (the harness itself speaks the protocol)', async () => {
    const net = new TestNet();
    const b = await net.addNode('b');
    const me = await seededIdentity('raw honest');
    const raw = await net.rawDial('mem:raw', b.addr);
    await rawHandshake(net, raw, me);
    await driveUntil(net.clock, () => b.node.linkIds().includes(me.idText), 1000, 'b admits the raw peer');
    const proofs = raw.frames().filter((f) => f.type === FrameType.Proof);
    assert.equal(proofs.length, 1, 'the node proved its key too');
    await net.stopAll();
  });

  it('answers an unknown wire version with a VERSION_MISMATCH error frame and closes', async () => {
    const net = new TestNet();
    const b = await net.addNode('b');
    const me = await seededIdentity('raw v2');
    const raw = await net.rawDial('mem:raw', b.addr);
    const v1 = encodeFrame(hello(me, new Uint8Array(32).fill(2)));
    raw.sendRaw(Uint8Array.from([WIRE_VERSION + 1, ...v1.subarray(1)]));
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'the link closes');
    const errors = errorsIn(raw.frames());
    assert.deepEqual(
      errors.map((e) => e.code),
      ['VERSION_MISMATCH'],
    );
    assert.equal(dropped(b.node)['malformed:unknown-version'], 1);
    assert.equal(dropped(b.node)['handshake:VERSION_MISMATCH'], 1);
    assert.deepEqual(b.node.linkIds(), []);
    await net.stopAll();
  });

  it('a node that dials a peer of another wire version rejects with VERSION_MISMATCH', async () => {
    const net = new TestNet();
    const a = await net.addNode('a');
    const rawSide = net.rawListen('mem:future');
    const link = await drive(net.clock, net.network.dial(a.addr, 'mem:future', net.clock.scoped(50)), 1000, 'dial');
    const raw = await rawSide;
    const result = a.node.addLink(link, { outbound: true });
    const future = await seededIdentity('future');
    const v1 = encodeFrame(hello(future, new Uint8Array(32).fill(3)));
    raw.sendRaw(Uint8Array.from([9, ...v1.subarray(1)]));
    await assert.rejects(drive(net.clock, result, 2000, 'addLink'), isCode('VERSION_MISMATCH'));
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'the link closes');
    assert.deepEqual(
      errorsIn(raw.frames()).map((e) => e.code),
      ['VERSION_MISMATCH'],
    );
    await net.stopAll();
  });

  const badProofs: [string, (me: Identity, other: Identity) => (h: HelloFrame, n: Uint8Array) => Promise<Uint8Array>][] = [
    ['random bytes', () => async () => new Uint8Array(64).fill(0x5a)],
    ['the nonces swapped', (me) => (h, n) => me.sign(transcript(me.publicKey, n, h.nonce))],
    ['signed by another key', (me, other) => (h, n) => other.sign(transcript(me.publicKey, h.nonce, n))],
    ['over a stale nonce', (me) => (_h, n) => me.sign(transcript(me.publicKey, new Uint8Array(32), n))],
  ];
  for (const [what, makeProof] of badProofs) {
    it(`refuses a proof made of ${what}`, async () => {
      const net = new TestNet();
      const b = await net.addNode('b');
      const me = await seededIdentity('raw liar');
      const other = await seededIdentity('raw accomplice');
      const raw = await net.rawDial('mem:raw', b.addr);
      await rawHandshake(net, raw, me, makeProof(me, other));
      await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'the link closes');
      assert.deepEqual(
        errorsIn(raw.frames()).map((e) => e.code),
        ['HANDSHAKE_FAILED'],
      );
      assert.equal(dropped(b.node)['handshake:HANDSHAKE_FAILED'], 1);
      assert.deepEqual(b.node.linkIds(), []);
      await net.stopAll();
    });
  }

  it('refuses a proof sent before any hello', async () => {
    const net = new TestNet();
    const b = await net.addNode('b');
    const raw = await net.rawDial('mem:raw', b.addr);
    raw.send({ type: FrameType.Proof, signature: new Uint8Array(64) });
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'the link closes');
    assert.deepEqual(
      errorsIn(raw.frames()).map((e) => e.code),
      ['HANDSHAKE_FAILED'],
    );
    await net.stopAll();
  });

  it('times out a peer that never finishes the handshake', async () => {
    const net = new TestNet();
    const b = await net.addNode('b', { handshakeTimeoutMs: 500 });
    const raw = await net.rawDial('mem:raw', b.addr);
    const start = net.clock.now();
    // The raw peer stays silent after the dial.
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 2000, 'the node gives up');
    const took = net.clock.now() - start;
    assert.ok(took >= 500 && took < 600, `closed after ${took} virtual ms`);
    assert.equal(dropped(b.node)['handshake:TIMEOUT'], 1);
    assert.match(raw.closeReasons[0]!, /timed out/);
    await net.stopAll();
  });

  it('a dialling node rejects addLink with TIMEOUT when the peer stays silent', async () => {
    const net = new TestNet();
    const a = await net.addNode('a', { handshakeTimeoutMs: 300 });
    const rawSide = net.rawListen('mem:silent');
    const link = await drive(net.clock, net.network.dial(a.addr, 'mem:silent', net.clock.scoped(50)), 1000, 'dial');
    const raw = await rawSide;
    await assert.rejects(drive(net.clock, a.node.addLink(link, { outbound: true }), 1000, 'addLink'), isCode('TIMEOUT'));
    assert.equal(link.closed, true);
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'the silent peer sees the close');
    await net.stopAll();
  });

  it('a full node refuses an optional link with BUSY and referrals', async () => {
    const net = new TestNet();
    const hub = await net.addNode('hub', { linkBudget: 2 });
    const linked: string[] = [];
    for (const name of ['x', 'y']) {
      const raw = await net.rawDial(`mem:${name}`, hub.addr);
      const who = await seededIdentity(`raw ${name}`);
      linked.push(Buffer.from(who.publicKey).toString('hex'));
      await rawHandshake(net, raw, who);
    }
    await driveUntil(net.clock, () => hub.node.linkIds().length === 2, 1000, 'hub holds two links');
    const late = await seededIdentity('raw late');
    const raw = await net.rawDial('mem:late', hub.addr);
    const nonce = new Uint8Array(32).fill(4);
    raw.send(hello(late, nonce, Want.Optional));
    // The answering side speaks only after the dialler's hello, so a full node refuses at once,
    // before either side has spent a signature: no hello of its own, only the error.
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'the link closes');
    assert.equal(raw.frames().some((f) => f.type === FrameType.Hello), false, 'a full node does not answer with a hello');
    const errors = errorsIn(raw.frames());
    assert.deepEqual(
      errors.map((e) => e.code),
      ['BUSY'],
    );
    const referred = errors[0]!.referrals.map((p) => Buffer.from(p.publicKey).toString('hex'));
    for (const key of linked) assert.ok(referred.includes(key), 'the busy node suggests the peers it is linked to');
    assert.equal(hub.node.linkIds().length, 2);
    assert.equal(dropped(hub.node)['handshake:BUSY'], 1);
    await net.stopAll();
  });
});

describe('frames on an open link', () => {
  /** A node `b` and a raw peer with an open link to it. */
  async function openLink() {
    const net = new TestNet();
    const b = await net.addNode('b');
    const me = await seededIdentity('raw open');
    const raw = await net.rawDial('mem:raw', b.addr);
    await rawHandshake(net, raw, me);
    await driveUntil(net.clock, () => b.node.linkIds().includes(me.idText), 1000, 'link open');
    return { net, b, me, raw };
  }

  it('delivers a valid packet from the raw peer and drops a tampered one as bad-signature', async () => {
    const { net, b, me, raw } = await openLink();
    const got: unknown[] = [];
    b.node.onMessage((m) => got.push(m.data));
    const payload = Payload.data.encode({ app: new Uint8Array(0), port: 3, data: 'hello from raw' });
    const good = await createPacket(me, b.node.identity.id, PacketKind.Data, payload, 1, 64);
    raw.send(good);
    raw.send({ ...good, id: 2 }); // the signature covers the id
    await driveUntil(net.clock, () => (dropped(b.node)['bad-signature'] ?? 0) === 1, 1000, 'tampered packet dropped');
    assert.deepEqual(got, ['hello from raw']);
    raw.send(good);
    await driveUntil(net.clock, () => (dropped(b.node)['duplicate'] ?? 0) === 1, 1000, 'replay dropped as a duplicate');
    assert.deepEqual(got, ['hello from raw']);
    await net.stopAll();
  });

  it('counts each malformed frame with its reason and keeps the link under the limit', async () => {
    const { net, b, me, raw } = await openLink();
    raw.sendRaw(Uint8Array.of(WIRE_VERSION)); // truncated
    raw.sendRaw(Uint8Array.of(WIRE_VERSION, 0x1c)); // malformed CBOR
    raw.sendRaw(Uint8Array.of(WIRE_VERSION, 0x82, 0x18, 0x63, 0x00)); // unknown frame type 99
    raw.sendRaw(Uint8Array.of(WIRE_VERSION, 0x82, 0x07, 0x00)); // a packet of the wrong shape
    raw.sendRaw(Uint8Array.of(WIRE_VERSION + 1, 0x82, 0x04, 0x00)); // another version, after the handshake
    raw.send(hello(me, new Uint8Array(32))); // a second hello on an open link
    await driveUntil(net.clock, () => (dropped(b.node)['unexpected-frame'] ?? 0) === 1, 1000, 'all six counted');
    const d = dropped(b.node);
    assert.equal(d['malformed:truncated'], 1);
    assert.equal(d['malformed:malformed-cbor'], 1);
    assert.equal(d['malformed:unknown-frame-type'], 1);
    assert.equal(d['malformed:bad-packet'], 1);
    assert.equal(d['malformed:unknown-version'], 1);
    assert.deepEqual(raw.closeReasons, []);
    assert.ok(b.node.linkIds().includes(me.idText), 'six bad frames do not close the link');
    await net.stopAll();
  });

  it('closes the link after many malformed frames, telling the peer why', async () => {
    const { net, b, me, raw } = await openLink();
    const closedEvents: string[] = [];
    b.node.events.on('link-down', (e) => closedEvents.push(e.id));
    for (let i = 0; i < 40; i++) raw.sendRaw(Uint8Array.of(WIRE_VERSION, 0xff, i));
    await driveUntil(net.clock, () => raw.closeReasons.length > 0, 1000, 'the abused node closes the link');
    assert.deepEqual(b.node.linkIds(), []);
    assert.deepEqual(closedEvents, [me.idText]);
    assert.ok(errorsIn(raw.frames()).some((e) => e.code === 'ABUSE'), 'an error frame says why');
    const counted = dropped(b.node)['malformed:malformed-cbor']!;
    assert.ok(counted >= 16 && counted < 40, `${counted} frames counted before the close`);
    await net.stopAll();
  });
});
