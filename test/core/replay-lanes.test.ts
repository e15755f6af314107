/**
 * Packet-id lanes (replay-guard.ts rule 3): a node's own packets (lane 0) and a tab's granted
 * lane interleave at one receiver without either falling under the other's floor, while a
 * replay in any lane is still refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDS_PER_MS, laneOf, LANES, PacketSequence, packetIdAt, RECENT, ReplayGuard } from '../../src/core/replay-guard.js';

const T0 = 1_790_000_000_000;

test('each lane numbers its own growing sequence, in its own low bits', () => {
  let now = T0;
  const node = new PacketSequence(() => now);
  const tab = new PacketSequence(() => now, 3);
  const ids: number[] = [];
  for (let i = 0; i < 500; i++) {
    ids.push(node.next(), tab.next(), tab.next());
    if (i % 100 === 0) now += 1;
  }
  const nodeIds = ids.filter((_, i) => i % 3 === 0);
  const tabIds = ids.filter((_, i) => i % 3 !== 0);
  assert.ok(nodeIds.every((id) => laneOf(id) === 0), 'node ids are in lane 0');
  assert.ok(tabIds.every((id) => laneOf(id) === 3), 'tab ids are in lane 3');
  for (const xs of [nodeIds, tabIds]) for (let i = 1; i < xs.length; i++) assert.ok(xs[i]! > xs[i - 1]!, 'each lane only grows');
  assert.ok(Math.abs(nodeIds[0]! / IDS_PER_MS - T0) < 1, 'ids still say when they were made');
  assert.equal(packetIdAt(T0, 2, 3), T0 * IDS_PER_MS + 2 * LANES + 3);
  assert.throws(() => new PacketSequence(() => now, LANES), RangeError);
});

test('interleaved lanes of one source: all accepted, replays refused in every lane', () => {
  const wall = () => T0;
  const node = new PacketSequence(wall);
  const tab = new PacketSequence(wall, 1);
  const guard = new ReplayGuard(wall);
  // The tab sends a burst of many more than RECENT packets between two of the node's: with one
  // window per source the node's next id would be under the floor the burst raised.
  const sent: number[] = [];
  for (let round = 0; round < 20; round++) {
    const own = node.next();
    const burst = Array.from({ length: RECENT * 3 }, () => tab.next());
    for (const id of [...burst, own]) {
      assert.equal(guard.check('src', id), undefined, `id ${id} (lane ${laneOf(id)}) accepted`);
      sent.push(id);
    }
  }
  for (const id of [sent[0]!, sent[5]!, sent[sent.length - 1]!, sent[sent.length - 2]!]) {
    assert.match(guard.check('src', id) ?? 'accepted', /^replay/, `replay of ${id} (lane ${laneOf(id)}) refused`);
  }
});

test('without lanes the same interleaving would be refused (why lanes exist)', () => {
  const wall = () => T0;
  const guard = new ReplayGuard(wall);
  // Two independent numberings in one lane: the second falls under the first's floor.
  const a = new PacketSequence(wall);
  const b = new PacketSequence(wall);
  for (let i = 0; i < RECENT * 2; i++) assert.equal(guard.check('src', a.next()), undefined);
  assert.equal(guard.check('src', b.next()), 'replay:old');
});
