/**
 * A node that dials a peer it still holds an open link from (liveness.ts probeNow): the peer
 * gave that link up, having restarted with its id or moved networks, and the link may be dead
 * without our knowing for up to 45 s (3 x keepalive), during which its every dial was refused as
 * a duplicate. The open link is pinged; silent for REDIALLED_PROBE_MS, it is closed and the next
 * dial gets in. A live one answers and stays (two running copies of one identity do not flap).
 *
 * Real nodes over memory links on a virtual clock; a's first link to s goes through a wrapper
 * that can fall silent both ways without closing, as a dead worker's socket does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REDIALLED_PROBE_MS } from '../../src/core/liveness.js';
import { DUPLICATE_COOLDOWN_MS } from '../../src/core/maintenance.js';
import { SilenceableLink, TestNet } from '../helpers/mesh.js';
import { drive, driveUntil, advance } from '../helpers/wait.js';


async function setUp() {
  const net = new TestNet();
  const s = await net.addNode('redial/s', { keepaliveMs: 15_000 });
  const a = await net.addNode('redial/a');
  const old = new SilenceableLink(await drive(net.clock, net.network.dial(a.addr, s.addr, net.clock.scoped(900)), 1000, 'dial'));
  await drive(net.clock, a.node.addLink(old, { outbound: true, expectedId: s.node.id }), 2000, 'first link');
  await driveUntil(net.clock, () => s.node.linkIds().includes(a.node.id), 1000, 's admits it');
  // The same identity, run again (a restart, or the node on a new network).
  const again = await net.addNode('redial/a-again', { identity: a.node.identity });
  const downs: string[] = [];
  s.node.events.on('link-down', (e) => downs.push(e.reason));
  const refusals = () => s.node.status().counters.dropped['handshake:DUPLICATE'] ?? 0;
  /** Dials s from the copy once: 'refused' when s refuses it as a duplicate (the copy's side admits it first, then hears why), else 'admitted'. */
  const dial = async (i: number): Promise<'refused' | 'admitted'> => {
    const before = refusals();
    const l = await drive(net.clock, net.network.dial(again.addr, s.addr, net.clock.scoped(910 + i)), 1000, 'dial');
    await drive(net.clock, again.node.addLink(l, { outbound: true, expectedId: s.node.id }).catch(() => undefined), 2000, 'handshake');
    await advance(net.clock, 50);
    return refusals() > before ? 'refused' : 'admitted';
  };
  return { net, s, a, again, old, downs, dial, refusals };
}

describe('a peer that dials us again while we hold its link', () => {
  it('gets in within REDIALLED_PROBE_MS of its refused dial when the old link is dead, not after 45 s', async () => {
    const { net, s, a, again, old, downs, dial } = await setUp();
    old.silent = true;
    assert.equal(await dial(1), 'refused', 'refused while the old link is open');
    const at = net.clock.now() - 50;
    await driveUntil(net.clock, () => downs.length > 0, REDIALLED_PROBE_MS + 100, 'the silent link closed');
    assert.ok(net.clock.now() - at <= REDIALLED_PROBE_MS + 10, `${net.clock.now() - at} ms`);
    assert.deepEqual(downs, ['silent since its peer dialled again']);
    // The copy, which has no other link, dials again by itself (maintenance) and is admitted.
    await driveUntil(net.clock, () => again.node.linkIds().includes(s.node.id) && s.node.linkIds().includes(a.node.id), 1000, 'the copy linked');
    await net.stopAll();
  });

  it('keeps an old link that answers: a second running copy of the identity stays refused', async () => {
    const { net, s, a, downs, dial, refusals } = await setUp();
    assert.equal(await dial(1), 'refused');
    // The copy keeps dialling (it has no other link), as each DUPLICATE cooldown ends (redial-storm.test.ts);
    // each is refused, the live link answers every probe.
    await advance(net.clock, 2 * DUPLICATE_COOLDOWN_MS + 500);
    assert.ok(s.node.linkIds().includes(a.node.id) && a.node.linkIds().includes(s.node.id), 'the live link stays');
    assert.deepEqual(downs, []);
    assert.ok(refusals() > 2, `the copy's dials all refused: ${refusals()}`);
    await net.stopAll();
  });
});
