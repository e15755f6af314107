/**
 * Crossed WebRTC dials (src/browser/broker.ts, keepOwnDial): two browser nodes that dial each
 * other at the same moment agree, without a word, on the attempt the smaller id dialled; the
 * other side gives its own up (its dial rejects as DUPLICATE) and answers. One PeerConnection
 * and one handshake instead of two.
 *
 * Neither end backs off from the other for it (dial-backoff.ts): the dials go through the real
 * BrowserDialer, whose back-off once counted a DUPLICATE as a failure.
 *
 * An offer of ours lost on its way does not make the peer's crossing offer, seconds later, wait
 * for our timeout (STALE_OFFER_MS).
 *
 * A dial to a node that is gone fails within a round trip, as UNREACHABLE: the node closest to
 * it drops the offer and says so (src/core/unreachable.ts), and the broker ends the attempt.
 *
 * The brokers and the nodes are the real ones, signalling over a real mesh (a -- relay -- b,
 * MessagePort links). Node has no RTCPeerConnection, so each broker's host tab is a loopback
 * here: it "describes" at once, and an answer, once back at the offerer, joins the two tabs' pipes
 * as a DataChannel would (test/browser/mesh.test.ts runs the real thing).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtcBroker, type RtcHostTab } from '../../src/browser/broker.js';
import { DialBackoff } from '../../src/browser/dial-backoff.js';
import { BrowserDialer, WEBRTC_CAP } from '../../src/browser/dialer.js';
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
  broker!: RtcBroker;
  /** Offers this tab took (inbound attempts it answered). */
  answered = 0;
  /** While set, answers wait here: the channel is still "connecting" (ICE and DTLS take a while). */
  held?: (() => void)[];

  constructor(
    readonly tabId: string,
    private readonly wire: LoopbackWire,
  ) {}

  openRtc(key: string, _peer: string, initiator: boolean, port: MessagePort): void {
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
    if (m.t === 'offer') {
      this.answered++;
      return this.broker.fromTab(this.tabId, key, JSON.stringify({ k: key, t: 'answer', sdp: 'v=0' }));
    }
    // The answer applied: the channel opens, as a DataChannel does once ICE and DTLS are through.
    const open = () => {
      const theirs = [...this.wire.ends].find(([k, e]) => k.startsWith(`${key}:`) && e.owner !== this.tabId)?.[1];
      if (theirs && !mine.tab.closed) this.wire.join(mine.tab, theirs.tab);
    };
    if (m.t === 'answer') this.held ? this.held.push(open) : open();
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

/** Two browser nodes (real brokers, loopback tabs) that reach each other through a relay node. */
async function pair() {
  const [a, b, relay] = [await started(), await started(), await started()];
  await portLink(a, relay);
  await portLink(b, relay);
  const wire = new LoopbackWire();
  const side = (n: MeshNode) => {
    const tab = new LoopbackTab(`tab-${n.id.slice(0, 6)}`, wire);
    const broker = new RtcBroker(() => n, () => [tab]);
    tab.broker = broker;
    // `lose`: a signal the mesh loses on its way here (the test decides which).
    const lost: [string, string][] = [];
    let lose: ((body: string) => boolean) | undefined;
    n.onSignal((from, body) => (lose?.(body) ? lost.push([from, body]) : broker.onSignal(from, body)));
    n.events.on('unreachable', (e) => e.kind === 'signal' && broker.unreachable(e.id, e.by));
    // As host.ts wires them: the node's dialer and its back-off, which a channel opening either way clears.
    const backoff = new DialBackoff();
    broker.onLinkOpened = (peer) => backoff.reachable(peer);
    const dialer = new BrowserDialer(broker, undefined, backoff);
    return { node: n, tab, broker, backoff, lost, loseIf: (f: typeof lose) => (lose = f), dial: (to: { id: string }) => dialer.dial({ id: to.id, caps: [WEBRTC_CAP], addrs: [] } as unknown as PeerRecord) };
  };
  const [x, y] = [side(a), side(b)];
  const [small, big] = a.id < b.id ? [x, y] : [y, x];
  const webrtc = (n: MeshNode) => n.status().links.filter((l) => l.transport === 'webrtc').length;
  const dropped = (n: MeshNode, k: string) => n.status().counters.dropped[k] ?? 0;
  return { small, big, relay, wire, webrtc, dropped, stop: () => Promise.all([a, b, relay].map((n) => n.stop())) };
}

const rejectedWith = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? (r.reason as unknown) : undefined);

describe('crossed WebRTC dials in the broker', () => {
  it('keep the attempt the smaller id dialled: one connection, the other dial rejects as DUPLICATE', async () => {
    const { small, big, wire, webrtc, dropped, stop } = await pair();
    try {
      // Both dial in the same turn: each offer reaches the other while its own attempt is under way.
      const [smallDial, bigDial] = await Promise.allSettled([small.dial(big.node), big.dial(small.node)]);
      assert.equal(smallDial!.status, 'fulfilled', `the smaller id's dial is kept: ${String(rejectedWith(smallDial!))}`);
      assert.ok(isMeshError(rejectedWith(bigDial!), 'DUPLICATE'), `the larger id gives its own dial up, and says why: ${String(rejectedWith(bigDial!))}`);
      await small.node.addLink((smallDial as PromiseFulfilledResult<Link>).value, { outbound: true, expectedId: big.node.id });
      await until(() => big.node.linkIds().includes(small.node.id) && small.node.linkIds().includes(big.node.id), 3_000, 'the kept link up on both sides');
      assert.equal(wire.joined, 1, 'one connection made, not two');
      assert.deepEqual([small.tab.answered, big.tab.answered], [0, 1], "only the smaller id's offer answered");
      assert.equal(dropped(small.node, 'webrtc:crossed-offer'), 1, "the smaller id ignored the larger's offer, counted");
      for (const n of [small.node, big.node]) assert.equal(dropped(n, 'handshake:DUPLICATE'), 0, 'no second link to close');
      assert.deepEqual([webrtc(small.node), webrtc(big.node)], [1, 1], 'one WebRTC link each');
      // Should the kept link close now, either end may dial the other at once.
      assert.ok(big.backoff.allowed(small.node.id) && small.backoff.allowed(big.node.id), 'neither end backs off from the other');
      assert.deepEqual([small.backoff.counters().failed, big.backoff.counters().failed], [0, 0], 'no dial counted as failed');
    } finally {
      await stop();
    }
  });

  it("no second dial while the peer's offer is being answered: refused at once as DUPLICATE, no offer sent", async () => {
    const { small, big, wire, webrtc, dropped, stop } = await pair();
    try {
      small.tab.held = [];
      const smallDial = small.dial(big.node);
      // The larger id answers the smaller's offer, and is asked to dial it before that channel opens.
      await until(() => big.tab.answered === 1, 3_000, "the smaller id's offer answered");
      const [bigDial] = await Promise.allSettled([big.dial(small.node)]);
      assert.ok(isMeshError(rejectedWith(bigDial!), 'DUPLICATE'), `the second dial is refused: ${String(rejectedWith(bigDial!))}`);
      for (const open of small.tab.held) open();
      small.tab.held = undefined;
      await small.node.addLink(await smallDial, { outbound: true, expectedId: big.node.id });
      await until(() => webrtc(small.node) === 1 && webrtc(big.node) === 1, 3_000, 'the first link up on both sides');
      assert.equal(wire.joined, 1, 'one connection made');
      assert.equal(small.tab.answered, 0, 'no offer reached the smaller id');
      assert.equal(dropped(small.node, 'webrtc:crossed-offer'), 0, 'nothing crossed');
      assert.ok(big.backoff.allowed(small.node.id), 'the refused dial pauses nothing');
      assert.equal(big.backoff.counters().failed, 0, 'nor counts as failed');
    } finally {
      await stop();
    }
  });

  it('a dial to a node that is gone fails within a round trip as UNREACHABLE (the node closest to it says so), not at the 15 s timeout', async () => {
    const { small, big, relay, wire, stop } = await pair();
    try {
      const gone = (await Identity.generate()).idText;
      const at = Date.now();
      const [dial] = await Promise.allSettled([small.dial({ id: gone })]);
      const took = Date.now() - at;
      const err = rejectedWith(dial!);
      assert.ok(isMeshError(err, 'UNREACHABLE'), `UNREACHABLE: ${String(err)}`);
      const by = [relay, big.node].find((n) => n.status().counters.unreachableSent === 1);
      assert.ok(by, 'the relay or the other browser, whichever is closer to the id, dropped the offer and said so');
      assert.match((err as Error).message, new RegExp(`${gone.slice(0, 8)}.*unreachable.*${by.id.slice(0, 8)}`));
      assert.ok(took < 2_000, `within a round trip (here, a few ms of MessagePorts), not 15 s: ${took} ms`);
      assert.equal(wire.joined, 0);
      assert.equal(small.backoff.counters().failed, 1, 'a failed dial for the back-off: the peer is paused');
      assert.ok(!small.backoff.allowed(gone));
    } finally {
      await stop();
    }
  });

  it('an offer of ours that never reached the peer does not hold the link up: its crossing offer, seconds later, is answered', async () => {
    const { small, big, wire, webrtc, dropped, stop } = await pair();
    try {
      small.broker.staleOfferMs = 300;
      // The smaller id's offer is lost on its way (in the lab: into the server's link to the peer's previous run).
      big.loseIf((body) => body.includes('"offer"'));
      const smallDial = small.dial(big.node);
      await until(() => big.lost.length === 1, 3_000, 'the offer lost');
      big.loseIf(undefined);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const at = Date.now();
      const [bigDial, smallGaveUp] = await Promise.allSettled([big.dial(small.node), smallDial]);
      assert.equal(bigDial!.status, 'fulfilled', `the larger id's dial is taken: ${String(rejectedWith(bigDial!))}`);
      assert.ok(Date.now() - at < 2_000, `at once, not at the 15 s timeout: ${Date.now() - at} ms`);
      assert.ok(isMeshError(rejectedWith(smallGaveUp!), 'DUPLICATE'), `the stale dial gives way: ${String(rejectedWith(smallGaveUp!))}`);
      assert.equal(dropped(small.node, 'webrtc:stale-offer'), 1);
      assert.equal(dropped(small.node, 'webrtc:crossed-offer'), 0, 'not ignored as a crossing');
      await big.node.addLink((bigDial as PromiseFulfilledResult<Link>).value, { outbound: true, expectedId: small.node.id });
      await until(() => webrtc(small.node) === 1 && webrtc(big.node) === 1, 3_000, 'the link up on both sides');
      // The lost offer, should it arrive after all, is ignored: the smaller id said bye to it.
      const [from, body] = big.lost[0]!;
      big.broker.onSignal(from, body);
      assert.equal(dropped(big.node, 'webrtc:offer-after-bye'), 1);
      assert.equal(big.tab.answered, 0, 'nothing answered');
      assert.equal(wire.joined, 1);
      assert.deepEqual([webrtc(small.node), webrtc(big.node)], [1, 1]);
    } finally {
      await stop();
    }
  });
});
