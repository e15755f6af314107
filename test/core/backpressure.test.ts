/**
 * Backpressure: an application that sends faster than its first link carries is slowed down,
 * not refused. Datagrams sent all at once, more than the link may queue, all arrive.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNet } from '../helpers/mesh.js';
import { drive, driveUntil } from '../helpers/wait.js';

describe('sending faster than the link carries', () => {
  it('waits for the link to drain instead of failing with CONGESTED, and loses nothing', async () => {
    const net = new TestNet({ latencyMs: 40 });
    const b = (await net.addNode('bp/b')).node;
    const a = (await net.addNode('bp/a', { bootstrap: ['mem:bp/b'] })).node;
    await drive(net.clock, Promise.all([b.start(), a.start()]), 1000, 'start');
    await driveUntil(net.clock, () => a.linkIds().includes(b.id), 5000, 'a linked to b');
    const got = new Set<string>();
    b.onMessage((m) => got.add(String(m.data).slice(0, 8)));
    // 120 datagrams of 60 KiB at once: 7 MB, more than the 4 MB a link may hold before senders wait.
    const filler = 'x'.repeat(60 * 1024);
    const outcomes = await drive(
      net.clock,
      Promise.allSettled(Array.from({ length: 120 }, (_, i) => a.send(b.id, `${String(i).padStart(8, '0')}${filler}`, { port: 4 }))),
      30_000,
      'every send settled',
    );
    const failed = outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason));
    assert.deepEqual(failed, [], 'no send refused');
    await driveUntil(net.clock, () => got.size === 120, 10_000, 'every datagram delivered');
    assert.equal(a.status().counters.dropped['congested'] ?? 0, 0);
    await net.stopAll();
  });

  it('a full link still carries control packets: signalling goes out while datagrams wait', async () => {
    const net = new TestNet({ latencyMs: 40 });
    const b = (await net.addNode('bp2/b')).node;
    const a = (await net.addNode('bp2/a', { bootstrap: ['mem:bp2/b'] })).node;
    await drive(net.clock, Promise.all([b.start(), a.start()]), 1000, 'start');
    await driveUntil(net.clock, () => a.linkIds().includes(b.id), 5000, 'a linked to b');
    await drive(net.clock, a.send(b.id, 'warm-up (key exchange)', { port: 4 }), 5000, 'warm-up');
    const signals: string[] = [];
    b.onSignal((from, body) => signals.push(body));
    const filler = 'x'.repeat(60 * 1024);
    const sends = Promise.allSettled(Array.from({ length: 120 }, (_, i) => a.send(b.id, `${i}${filler}`, { port: 4 })));
    await driveUntil(net.clock, () => (a.status().links[0]?.bufferedBytes ?? 0) > 4 * 1024 * 1024, 5000, 'the link holds over 4 MB');
    // Before: refused at once with CONGESTED, so a WebRTC re-home could not be signalled.
    await drive(net.clock, a.sendSignal(b.id, 'offer while full'), 5000, 'signal on a full link');
    await driveUntil(net.clock, () => signals.includes('offer while full'), 10_000, 'the signal arrived');
    const outcomes = await drive(net.clock, sends, 30_000, 'every send settled');
    assert.deepEqual(outcomes.filter((o) => o.status === 'rejected'), []);
    await net.stopAll();
  });
});
