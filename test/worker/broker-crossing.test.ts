/**
 * Crossed WebRTC dials (src/browser/broker.ts, keepOwnDial): two browser nodes that dial each
 * other at the same moment agree, without a word, on the attempt the smaller id dialled; the
 * other side gives its own up (its dial rejects as DUPLICATE) and answers. One PeerConnection
 * and one handshake instead of two.
 *
 * The brokers and the nodes are the real ones, signalling over a real mesh (a -- relay -- b,
 * MessagePort links). Node has no RTCPeerConnection, so each broker's host tab is a loopback
 * here: it "describes" at once, and an answer, once back at the offerer, joins the two tabs' pipes
 * as a DataChannel would (test/browser/mesh.test.ts runs the real thing).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtcBroker, type RtcHostTab } from '../../src/browser/broker.js';
import { isMeshError } from '../../src/core/errors.js';
import { Identity } from '../../src/core/identity.js';
import type { Link } from '../../src/core/link.js';
import { MeshNode } from '../../src/core/node.js';
import type { PeerRecord } from '../../src/core/peer-memory.js';
import { PortLink } from '../../src/transports/port.js';
import { until } from '../helpers/wait.js';

/** The tab ends of every attempt, by key, and the pairs joined: the "network" between the tabs. */
class LoopbackWire {
  readonly ends = new Map<string, { tab: PortLink; owner: string }>();
  joined = 0;

  join(offerer: PortLink, answerer: PortLink): void {
    this.joined++;
    offerer.attach({ frame: (b) => void answerer.send(b), close: (r) => answerer.close(r) });
    answerer.attach({ frame: (b) => void offerer.send(b), close: (r) => offerer.close(r) });
    offerer.markOpen();
    answerer.markOpen();
  }
}

/** A host tab whose "PeerConnection" is the loopback wire. */
class LoopbackTab implements RtcHostTab {
  readonly alive = true;
  opened = 0;
  broker!: RtcBroker;

  constructor(
    readonly tabId: string,
    private readonly wire: LoopbackWire,
  ) {}

  openRtc(key: string, _peer: string, initiator: boolean, port: MessagePort): void {
    this.opened++;
    const tab = new PortLink(port, { transport: 'webrtc' });
    // Both nodes share the wire: an attempt's key names one end per side.
    this.wire.ends.set(`${key}:${this.tabId}`, { tab, owner: this.tabId });
    if (initiator) queueMicrotask(() => this.broker.fromTab(this.tabId, key, JSON.stringify({ k: key, t: 'offer', sdp: 'v=0' })));
  }

  signalRtc(key: string, body: string): void {
    const m = JSON.parse(body) as { t: string };
    const mine = this.wire.ends.get(`${key}:${this.tabId}`);
    if (!mine) return;
    if (m.t === 'bye') return mine.tab.close('peer gave up');
    if (m.t === 'offer') return this.broker.fromTab(this.tabId, key, JSON.stringify({ k: key, t: 'answer', sdp: 'v=0' }));
    // The answer applied: the channel opens, as a DataChannel does once ICE and DTLS are through.
    const theirs = [...this.wire.ends].find(([k, e]) => k.startsWith(`${key}:`) && e.owner !== this.tabId)?.[1];
    if (m.t === 'answer' && theirs) this.wire.join(mine.tab, theirs.tab);
  }
}

async function started(): Promise<MeshNode> {
  const n = new MeshNode({ identity: await Identity.generate(), keepaliveMs: 0, encryption: false });
  await n.start();
  return n;
}

async function portLink(a: MeshNode, b: MeshNode): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  const [la, lb] = [new PortLink(port1), new PortLink(port2)];
  la.markOpen();
  lb.markOpen();
  await Promise.all([a.addLink(la, { outbound: true, expectedId: b.id }), b.addLink(lb, { outbound: false })]);
}

describe('crossed WebRTC dials in the broker', () => {
  it('keep the attempt the smaller id dialled: one connection, the other dial rejects as DUPLICATE', async () => {
    const [a, b, relay] = [await started(), await started(), await started()];
    await portLink(a, relay);
    await portLink(b, relay);
    const wire = new LoopbackWire();
    const brokers = new Map<MeshNode, RtcBroker>();
    for (const n of [a, b]) {
      const tab = new LoopbackTab(`tab-${n.id.slice(0, 6)}`, wire);
      const broker = new RtcBroker(() => n, () => [tab]);
      tab.broker = broker;
      brokers.set(n, broker);
      n.onSignal((from, body) => broker.onSignal(from, body));
    }
    const record = (n: MeshNode) => ({ id: n.id }) as PeerRecord;
    try {
      // Both dial in the same turn: each offer reaches the other while its own attempt is under way.
      const dials = await Promise.allSettled([brokers.get(a)!.dial(record(b)), brokers.get(b)!.dial(record(a))]);
      const [small, big] = a.id < b.id ? [a, b] : [b, a];
      const [smallDial, bigDial] = a.id < b.id ? dials : [dials[1], dials[0]];
      assert.equal(smallDial!.status, 'fulfilled', `the smaller id's dial is kept: ${String((smallDial as PromiseRejectedResult).reason)}`);
      assert.equal(bigDial!.status, 'rejected', 'the larger id gives its own dial up');
      const reason = (bigDial as PromiseRejectedResult).reason as unknown;
      assert.ok(isMeshError(reason, 'DUPLICATE'), `and says why: ${String(reason)}`);
      await small.addLink((smallDial as PromiseFulfilledResult<Link>).value, { outbound: true, expectedId: big.id });
      await until(() => big.linkIds().includes(small.id) && small.linkIds().includes(big.id), 3_000, 'the kept link up on both sides');
      assert.equal(wire.joined, 1, 'one connection made, not two');
      assert.equal(small.status().counters.dropped['webrtc:crossed-offer'], 1, "the smaller id ignored the larger's offer, counted");
      for (const n of [a, b]) assert.equal(n.status().counters.dropped['handshake:DUPLICATE'], undefined, 'no second link to close');
      const webrtc = (n: MeshNode) => n.status().links.filter((l) => l.transport === 'webrtc').length;
      assert.deepEqual([webrtc(a), webrtc(b)], [1, 1], 'one WebRTC link each');
    } finally {
      await Promise.all([a, b, relay].map((n) => n.stop()));
    }
  });
});
