/**
 * Link liveness on a virtual clock (liveness.ts): a peer that falls silent is closed exactly at
 * the dead-peer bound (3 × keepaliveMs after the last frame heard), whichever side it is on;
 * traffic counts as proof of life, so a busy link is never probed; on an idle link only the
 * dialling side probes, one ping per two keepalive units.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame, FrameType } from '../../src/core/codec.js';
import type { MemoryLink } from '../../src/transports/memory.js';
import { rawHandshake, seededIdentity, TestNet } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

const K = 1_000; // keepaliveMs
const BOUND = 3 * K;
const LATENCY = 5; // TestNet's memory links

/** Counts the frames of each type that pass through one end of a memory link, both ways. */
function tap(link: MemoryLink): { sent: Map<number, number>; heard: Map<number, number>; deaf: boolean } {
  const t = { sent: new Map<number, number>(), heard: new Map<number, number>(), deaf: false };
  const count = (m: Map<number, number>, bytes: Uint8Array) => {
    const d = decodeFrame(bytes);
    if (d.ok) m.set(d.value.type, (m.get(d.value.type) ?? 0) + 1);
  };
  const send = link.send.bind(link);
  link.send = (bytes) => (count(t.sent, bytes), send(bytes));
  const deliver = link.deliver.bind(link);
  // `deaf`: nothing from the peer arrives any more, as from a frozen tab or a dead route.
  link.deliver = (bytes) => {
    if (t.deaf) return;
    count(t.heard, bytes);
    deliver(bytes);
  };
  return t;
}

async function pair(label: string) {
  const net = new TestNet();
  const a = await net.addNode(`${label}-a`, { keepaliveMs: K });
  const b = await net.addNode(`${label}-b`, { keepaliveMs: K });
  const link = await drive(net.clock, net.network.dial(a.addr, b.addr, net.clock.scoped(50)), 1000, 'dial');
  const t = tap(link);
  await drive(net.clock, a.node.addLink(link, { outbound: true, expectedId: b.node.id }), 2000, 'addLink');
  await driveUntil(net.clock, () => b.node.linkIds().includes(a.node.id), 1000, 'b admits a');
  return { net, a, b, t };
}

describe('keepalive: dead-peer bound and probes', () => {
  it('an idle link stays up; only the dialling side probes, one ping per two keepalive units', async () => {
    const { net, a, b, t } = await pair('idle');
    await advance(net.clock, 100); // the pings every new link starts with, for its rtt
    const pingsOut = t.sent.get(FrameType.Ping) ?? 0;
    const pingsIn = t.heard.get(FrameType.Ping) ?? 0;
    await advance(net.clock, 30 * K);
    assert.deepEqual(a.node.linkIds(), [b.node.id], 'the idle link is still up');
    assert.deepEqual(b.node.linkIds(), [a.node.id]);
    const dialler = (t.sent.get(FrameType.Ping) ?? 0) - pingsOut;
    const answerer = (t.heard.get(FrameType.Ping) ?? 0) - pingsIn;
    // Before: each side pinged every K, 30 pings each. Now the dialler pings when quiet for 2 K
    // (maintenance packets, also traffic, spare it a few).
    assert.ok(dialler >= 8 && dialler <= 16, `the dialler pinged ${dialler} times in 30 K`);
    assert.equal(answerer, 0, 'the answering side hears the pings and never needs its own');
    assert.ok(a.node.status().links[0]!.rttMs !== null, 'the probes keep an rtt');
    await net.stopAll();
  });

  it('traffic carries liveness: a link in use is not probed', async () => {
    const { net, a, b, t } = await pair('busy');
    b.node.onMessage(() => undefined);
    await advance(net.clock, 100);
    const before = (t.sent.get(FrameType.Ping) ?? 0) + (t.heard.get(FrameType.Ping) ?? 0);
    for (let i = 0; i < 20; i++) {
      await drive(net.clock, a.node.send(b.node.id, `m${i}`, { port: 1 }), 1000, 'send');
      await advance(net.clock, K); // one datagram a keepalive unit: the link is never quiet for 2 K
    }
    const after = (t.sent.get(FrameType.Ping) ?? 0) + (t.heard.get(FrameType.Ping) ?? 0);
    // Datagrams flow one way only: the answering side hears them, the dialler hears nothing back
    // and still proves the link with its probes, one per two units.
    assert.ok(after - before <= 11, `${after - before} pings in 20 K of one-way traffic`);
    assert.deepEqual(a.node.linkIds(), [b.node.id]);
    await net.stopAll();
  });

  it('the dialling side closes a link whose peer fell silent exactly at the bound', async () => {
    const { net, a, b, t } = await pair('deaf');
    await advance(net.clock, 2 * K + 300);
    t.deaf = true; // from now on nothing from b reaches a
    const silentFrom = net.clock.now();
    let closedAt = -1;
    let reason = '';
    a.node.events.on('link-down', (e) => ((closedAt = net.clock.now()), (reason = e.reason)));
    await driveUntil(net.clock, () => closedAt >= 0, 2 * BOUND, 'a closes the silent link');
    // The last frame from b arrived at or before silentFrom, and a link is never quiet for 2 K + rtt.
    assert.match(reason, /keepalive timeout/);
    assert.ok(closedAt - silentFrom <= BOUND, `closed ${closedAt - silentFrom} ms after b fell silent (bound ${BOUND})`);
    assert.ok(closedAt - silentFrom >= BOUND - 2 * K - 2 * LATENCY, 'not before b had a chance to answer a probe');
    assert.ok((t.sent.get(FrameType.Ping) ?? 0) >= 2, 'a probed before giving up');
    await driveUntil(net.clock, () => b.node.linkIds().length === 0, 100, 'b sees the close');
    await net.stopAll();
  });

  it('the answering side closes a link to a silent dialler at the bound, and probes first', async () => {
    const net = new TestNet();
    const a = await net.addNode('answerer', { keepaliveMs: K });
    const raw = await net.rawDial('mem:silent-dialler', a.addr);
    await rawHandshake(net, raw, await seededIdentity('silent-dialler'));
    const proofSentAt = net.clock.now();
    await driveUntil(net.clock, () => a.node.linkIds().length === 1, 1000, 'a admits the raw peer');
    let closedAt = -1;
    a.node.events.on('link-down', (e) => void (e.reason.includes('keepalive timeout') && (closedAt = net.clock.now())));
    await driveUntil(net.clock, () => closedAt >= 0, 2 * BOUND, 'a closes the link to the silent dialler');
    const sinceLastFrame = closedAt - (proofSentAt + LATENCY);
    assert.ok(sinceLastFrame >= BOUND - 1 && sinceLastFrame <= BOUND + 1, `closed ${sinceLastFrame} ms after the last frame arrived (bound ${BOUND})`);
    const pings = raw.frames().filter((f) => f.type === FrameType.Ping).length;
    assert.ok(pings >= 2, `${pings} pings: the rtt ping at admission and at least one probe`);
    await driveUntil(net.clock, () => raw.closeReasons.length === 1, 100, 'the raw peer sees the close');
    await net.stopAll();
  });
});
