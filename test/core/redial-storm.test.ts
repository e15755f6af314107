/**
 * A node whose every link is refused (here a second running copy of an identity: its peer keeps
 * the live link of the first copy, liveness.ts probeNow, and refuses the copy's as DUPLICATE
 * right after the copy admitted it). Its routing table empties at each refusal, and a node
 * with no link looks around at once (links.ts hurry(0)), dialling its bootstrap and remembered
 * peers whatever their cooldowns: a round every ~35 ms here, each dialling both the bootstrap
 * address and the remembered peer (both s): 57 dials in the first second, 3 429 in a minute.
 * Now a peer cooling down after a DUPLICATE (1.6 s, just past the peer's probe of a dead old
 * link of ours), or after REFUSALS_BEFORE_BACKOFF refusals in a row, is held back (and the
 * address that led to it), and each refusal past the third doubles the cooldown up to
 * COOLDOWN_MS: 1 dial in the first second, 8 in a minute, then 1 per 30 s (2 before
 * test/core/double-dial.test.ts: the address and the remembered peer). A first dial after
 * losing a link is still made at once, and a restart while the peer holds our dead old link
 * gets in at its first re-dial.
 *
 * Real nodes and maintenance over memory links on a virtual clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dialer } from '../../src/core/node.js';
import { COOLDOWN_MS, DUPLICATE_COOLDOWN_MS, REFUSALS_BEFORE_BACKOFF } from '../../src/core/maintenance.js';
import { REDIALLED_PROBE_MS } from '../../src/core/liveness.js';
import type { RoutingTable } from '../../src/core/routing-table.js';
import { memoryDialer } from '../../src/transports/memory.js';
import { SilenceableLink, TestNet } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';

async function setUp() {
  const net = new TestNet();
  // s cannot dial (as a server cannot dial a browser): a link between s and a copy is the copy's doing.
  const s = await net.addNode('storm/s', { keepaliveMs: 15_000, dialer: undefined });
  const a = await net.addNode('storm/a', { bootstrap: [s.addr] });
  await drive(net.clock, a.node.start(), 1000, 'a starts');
  await driveUntil(net.clock, () => s.node.linkIds().includes(a.node.id), 2000, 'a linked to s');
  // The copy: the same identity run again while a runs (two copies of a profile, a restored backup).
  const dials: number[] = [];
  const memory = memoryDialer(net.network, 'mem:storm/copy', net.clock.scoped(990));
  const dialer: Dialer = {
    ...memory,
    dialAddress: (addr, hello) => (dials.push(net.clock.now()), memory.dialAddress(addr, hello)),
    dial: (rec, hello) => (dials.push(net.clock.now()), memory.dial(rec, hello)),
  };
  const copy = await net.addNode('storm/copy', { identity: a.node.identity, bootstrap: [s.addr], dialer });
  const refusals = () => s.node.status().counters.dropped['handshake:DUPLICATE'] ?? 0;
  return { net, s, a, copy, dials, refusals };
}

describe('a node whose every link is refused', () => {
  it('backs off: re-dials as the DUPLICATE cooldown ends, then the cooldown doubles up to COOLDOWN_MS', async () => {
    const { net, s, a, copy, dials, refusals } = await setUp();
    const t0 = net.clock.now();
    await drive(net.clock, copy.node.start(), 1000, 'the copy starts');
    await driveUntil(net.clock, () => refusals() >= 1, 1000, 'the first refusal');
    const at = (t: number) => dials.filter((d) => d - t0 <= t).length;
    await advance(net.clock, 120_000 - (net.clock.now() - t0));
    const figures = { firstSecond: at(1_000), first10s: at(10_000), first60s: at(60_000), first120s: at(120_000), refusals: refusals() };
    console.log(`copy's dials: ${JSON.stringify(figures)} at ${JSON.stringify(dials.map((d) => d - t0))}`);
    // At most the bootstrap address and the remembered peer (both s here; the record is skipped while the address is dialled).
    assert.ok(figures.firstSecond <= 2, `no storm: ${figures.firstSecond} dials in the first second`);
    const rounds = [...new Set(dials)];
    const gaps = rounds.slice(1).map((d, i) => d - rounds[i]!);
    // The first re-dials come as the DUPLICATE cooldown ends (the peer's probe of a dead old link of ours has ended by then).
    for (const g of gaps.slice(0, REFUSALS_BEFORE_BACKOFF - 1)) assert.ok(g >= DUPLICATE_COOLDOWN_MS && g < DUPLICATE_COOLDOWN_MS + 200, `early gaps ${gaps.join(', ')} ms`);
    // Then each doubles, up to COOLDOWN_MS.
    for (let i = REFUSALS_BEFORE_BACKOFF; i < gaps.length; i++) assert.ok(gaps[i]! >= Math.min(COOLDOWN_MS, 1.9 * gaps[i - 1]!), `gaps ${gaps.join(', ')} ms`);
    assert.ok(gaps.slice(-2).every((g) => g >= COOLDOWN_MS), `late gaps ${gaps.join(', ')} ms`);
    assert.ok(figures.first60s <= 20, `bounded: ${figures.first60s} dials in 60 s`);
    assert.ok(figures.first120s - figures.first60s <= 4, `a round per COOLDOWN_MS: ${figures.first120s - figures.first60s} dials in the second minute`);
    // The live link of the first copy stayed throughout.
    assert.ok(s.node.linkIds().includes(a.node.id) && a.node.linkIds().includes(s.node.id), 'the live link stays');
    assert.deepEqual(copy.node.linkIds(), []);
    await net.stopAll();
  });

  it('gets in within COOLDOWN_MS once the first copy is gone, and a link that holds starts the count again', async () => {
    const { net, s, a, copy, dials, refusals } = await setUp();
    await drive(net.clock, copy.node.start(), 1000, 'the copy starts');
    await advance(net.clock, 60_000);
    assert.ok(refusals() > REFUSALS_BEFORE_BACKOFF);
    await drive(net.clock, a.node.stop(), 5000, 'the first copy stops');
    const stoppedAt = net.clock.now();
    await driveUntil(net.clock, () => copy.node.linkIds().includes(s.node.id), COOLDOWN_MS + 1_000, 'the copy linked');
    assert.ok(net.clock.now() - stoppedAt <= COOLDOWN_MS + 100, `${net.clock.now() - stoppedAt} ms`);
    // The link holds; when s refuses it later, that is a first refusal again: re-dialled as the
    // short DUPLICATE cooldown ends, not at the long one the run had reached.
    await advance(net.clock, 20_000);
    const before = dials.length;
    const held = (s.node as unknown as { table: RoutingTable }).table.get(copy.node.id);
    assert.ok(held, 's holds the copy');
    held.sendError('DUPLICATE', 'refused once more');
    held.close('refused once more');
    const refusedAt = net.clock.now();
    await driveUntil(net.clock, () => dials.length > before, COOLDOWN_MS, 'a re-dial');
    assert.ok(net.clock.now() - refusedAt < DUPLICATE_COOLDOWN_MS + 200, `re-dialled after ${net.clock.now() - refusedAt} ms`);
    await net.stopAll();
  });

  it('a restart while the peer holds our dead old link: in at the first re-dial, as the peer closes it', async () => {
    const net = new TestNet();
    const s = await net.addNode('storm/s', { keepaliveMs: 15_000, dialer: undefined });
    const a = await net.addNode('storm/a');
    const old = new SilenceableLink(await drive(net.clock, net.network.dial(a.addr, s.addr, net.clock.scoped(900)), 1000, 'dial'));
    await drive(net.clock, a.node.addLink(old, { outbound: true, expectedId: s.node.id }), 2000, 'first link');
    await driveUntil(net.clock, () => s.node.linkIds().includes(a.node.id), 1000, 's admits it');
    old.silent = true; // a's process is gone; s does not know yet
    const again = await net.addNode('storm/a-again', { identity: a.node.identity, bootstrap: [s.addr] });
    let up = false;
    s.node.events.on('link-up', () => (up = true));
    const t0 = net.clock.now();
    await drive(net.clock, again.node.start(), 1000, 'the restart');
    await driveUntil(net.clock, () => up && again.node.linkIds().includes(s.node.id), 10_000, 'linked again');
    // Before: 86 refused dials in the 1.5 s of s's probe, in at 1 530 ms; now one, in at 1 700 ms.
    assert.ok(net.clock.now() - t0 <= REDIALLED_PROBE_MS + 300, `in after ${net.clock.now() - t0} ms`);
    assert.equal(s.node.status().counters.dropped['handshake:DUPLICATE'], 1);
    await net.stopAll();
  });
});

