/**
 * Idle WebRTC links on a virtual clock (idle-links.ts): nodes that stand in for browsers
 * (memory links that report transport 'webrtc' between them) and one server (plain memory
 * links, with an address). An idle WebRTC link closes as IDLE after idleLinkMs while the server
 * links stay; traffic keeps a link; a closed idle link is not dialled again until traffic
 * between the two nodes asks for it, and then it comes back; a node without a server link
 * keeps its WebRTC links.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TransportKind } from '../../src/core/link.js';
import type { PeerRecord } from '../../src/core/peer-memory.js';
import { WEBRTC_CAP } from '../../src/core/reachability.js';
import { TestNet, type TestNode } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

const IDLE = 10_000; // idleLinkMs in these tests
const K = 1_000; // keepaliveMs: probes run all along and must not count as traffic

const webrtcTo = (rec: PeerRecord): TransportKind => (rec.caps.includes(WEBRTC_CAP) ? 'webrtc' : 'memory');

interface LinkEvent {
  at: number;
  node: string;
  peer: string;
  up: boolean;
  transport: string;
  reason?: string;
}

async function mesh(label: string, browsers: number) {
  const net = new TestNet();
  const server = await net.addNode(`${label}-srv`, { keepaliveMs: K, idleLinkMs: IDLE });
  const nodes: TestNode[] = [];
  for (let i = 0; i < browsers; i++) {
    nodes.push(await net.addNode(`${label}-b${i}`, { keepaliveMs: K, idleLinkMs: IDLE, caps: [WEBRTC_CAP], bootstrap: [server.addr] }, webrtcTo));
  }
  const events: LinkEvent[] = [];
  for (const t of [server, ...nodes]) {
    t.node.events.on('link-up', (e) => void events.push({ at: net.clock.now(), node: t.node.id, peer: e.id, up: true, transport: e.transport }));
    t.node.events.on('link-down', (e) => void events.push({ at: net.clock.now(), node: t.node.id, peer: e.id, up: false, transport: e.transport, reason: e.reason }));
  }
  await drive(net.clock, server.node.start(), 1000, 'start server');
  for (const t of nodes) await drive(net.clock, t.node.start(), 1000, 'start');
  const rtcLinks = (t: TestNode) => t.node.status().links.filter((l) => l.transport === 'webrtc');
  const full = () => nodes.every((t) => t.node.linkIds().includes(server.node.id) && rtcLinks(t).length === browsers - 1);
  await driveUntil(net.clock, full, 20_000, 'every browser linked to the server and to every other browser');
  return { net, server, nodes, events, rtcLinks };
}

describe('idle WebRTC links', () => {
  it('close as IDLE after the idle time, the server links stay, and nothing dials them again', async () => {
    const { net, server, nodes, events, rtcLinks } = await mesh('quiet', 4);
    const settledAt = net.clock.now();
    const lastUp = Math.max(...events.filter((e) => e.up && e.transport === 'webrtc').map((e) => e.at));
    await driveUntil(net.clock, () => nodes.every((t) => rtcLinks(t).length === 0), 3 * IDLE, 'every idle WebRTC link closed');
    const downs = events.filter((e) => !e.up && e.transport === 'webrtc');
    assert.equal(downs.length, 4 * 3, 'each of the 6 links closed, seen from both ends');
    for (const d of downs) assert.match(d.reason ?? '', /^IDLE/, `closed as idle, not "${d.reason}"`);
    const firstDown = Math.min(...downs.map((d) => d.at));
    assert.ok(firstDown >= settledAt - 20_000 && firstDown - lastUp >= IDLE - 2 * K, `a link closed ${firstDown - lastUp} ms after the last one came up (idle time ${IDLE})`);
    for (const t of nodes) assert.ok(t.node.linkIds().includes(server.node.id), 'the server link stays');
    // No churn: five more idle times, and no WebRTC link is dialled again.
    const before = events.length;
    await advance(net.clock, 5 * IDLE);
    const later = events.slice(before).filter((e) => e.transport === 'webrtc');
    assert.deepEqual(later, [], 'no WebRTC link came up or went down again');
    for (const t of nodes) assert.deepEqual(t.node.linkIds(), [server.node.id]);
    // Still reachable: a request goes through the server.
    nodes[1]!.node.handle(1, (m) => `echo ${String(m.data)}`);
    const reply = await drive(net.clock, nodes[0]!.node.request(nodes[1]!.node.id, 'hi', { port: 1 }), 5000, 'request through the server');
    assert.equal(reply, 'echo hi');
    await net.stopAll();
  });

  it('a link that carries traffic stays up, and closes once the traffic stops', async () => {
    const { net, nodes, events, rtcLinks } = await mesh('busy', 2);
    const [a, b] = nodes as [TestNode, TestNode];
    b.node.onMessage(() => undefined);
    // A datagram every half idle time, for four idle times.
    for (let i = 0; i < 8; i++) {
      await drive(net.clock, a.node.send(b.node.id, `m${i}`, { port: 1 }), 1000, 'send');
      await advance(net.clock, IDLE / 2);
    }
    assert.equal(rtcLinks(a).length, 1, 'the link carrying traffic is still up');
    assert.deepEqual(events.filter((e) => !e.up && e.transport === 'webrtc'), [], 'it never closed');
    const stoppedAt = net.clock.now();
    await driveUntil(net.clock, () => rtcLinks(a).length === 0 && rtcLinks(b).length === 0, 3 * IDLE, 'the link closes once idle');
    const closedAfter = net.clock.now() - stoppedAt;
    assert.ok(closedAfter >= IDLE / 2 && closedAfter <= IDLE + K, `closed ${closedAfter} ms after the last datagram was sent`);
    await net.stopAll();
  });

  it('traffic between two resting nodes brings their direct link back, dialled once', async () => {
    const { net, server, nodes, events, rtcLinks } = await mesh('wake', 3);
    const [a, b] = nodes as [TestNode, TestNode, TestNode];
    await driveUntil(net.clock, () => nodes.every((t) => rtcLinks(t).length === 0), 3 * IDLE, 'every idle WebRTC link closed');
    b.node.handle(1, (m) => `echo ${String(m.data)}`);
    const before = events.length;
    // A burst of requests, answered through the server at first.
    for (let i = 0; i < 3; i++) {
      const reply = await drive(net.clock, a.node.request(b.node.id, `r${i}`, { port: 1 }), 5000, 'request');
      assert.equal(reply, `echo r${i}`);
    }
    await driveUntil(net.clock, () => a.node.linkIds().includes(b.node.id) && b.node.linkIds().includes(a.node.id), 5000, 'the direct link is back');
    const ups = events.slice(before).filter((e) => e.up && e.transport === 'webrtc');
    assert.equal(ups.length, 2, `one link, seen from both ends (${ups.length} link-ups)`);
    assert.ok(ups.every((e) => (e.node === a.node.id && e.peer === b.node.id) || (e.node === b.node.id && e.peer === a.node.id)), 'only the pair that talks');
    // Requests now take the direct link: one hop.
    b.node.onMessage((m) => void (hops = m.hops));
    let hops = 0;
    await drive(net.clock, a.node.send(b.node.id, 'direct', { port: 2 }), 1000, 'send');
    await driveUntil(net.clock, () => hops > 0, 1000, 'the datagram arrives');
    assert.equal(hops, 1, 'the datagram crossed the direct link');
    assert.ok(a.node.linkIds().includes(server.node.id));
    await net.stopAll();
  });

  it('a node without a server link keeps its WebRTC links (resting peers wake when the server goes)', async () => {
    const { net, server, nodes, events, rtcLinks } = await mesh('alone', 2);
    const [a, b] = nodes as [TestNode, TestNode];
    await driveUntil(net.clock, () => rtcLinks(a).length === 0 && rtcLinks(b).length === 0, 3 * IDLE, 'the idle link closed');
    net.network.partition([[server.addr], [a.addr, b.addr]]);
    await driveUntil(net.clock, () => rtcLinks(a).length === 1 && rtcLinks(b).length === 1, 3 * IDLE, 'without the server, the two link again');
    assert.ok(!a.node.linkIds().includes(server.node.id));
    // Both woke and both dialled: one of the two links is kept (links.ts, duplicates).
    await advance(net.clock, 1_000);
    const before = events.length;
    await advance(net.clock, 3 * IDLE);
    assert.equal(rtcLinks(a).length, 1, 'the idle link stays: it is the only way in');
    assert.deepEqual(events.slice(before).filter((e) => e.transport === 'webrtc'), []);
    await net.stopAll();
  });
});
