/**
 * ReplayGuard's windows (replay-guard.ts rule 2) against the rule as written: a floor per
 * (source, lane), at most `recent` ids above it, the smallest becoming the floor. The model below
 * keeps the ids in a Set and finds the smallest by looking at all of them; the guard must give
 * the same answer for every packet of long runs with reordering, replays and many sources.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDS_PER_MS, laneOf, LANES, MAX_SKEW_MS, packetIdAt, RECENT, ReplayGuard } from '../../src/core/replay-guard.js';

const T0 = 1_790_000_000_000;

class Model {
  /** Per source (oldest heard first), per lane. */
  private sources = new Map<string, Map<number, { floor: number; recent: Set<number> }>>();
  constructor(
    private readonly capacity: number,
    private readonly recent: number,
  ) {}
  check(source: string, id: number): string | undefined {
    const lanes = this.sources.get(source) ?? new Map();
    const w = lanes.get(laneOf(id));
    if (!w) {
      if (Math.abs(id / IDS_PER_MS - T0) > MAX_SKEW_MS) return 'replay:clock-skew';
      lanes.set(laneOf(id), { floor: -1, recent: new Set([id]) });
      return this.heard(source, lanes);
    }
    if (id <= w.floor) return 'replay:old';
    if (w.recent.has(id)) return 'replay';
    w.recent.add(id);
    if (w.recent.size > this.recent) {
      const min = Math.min(...w.recent);
      w.recent.delete(min);
      w.floor = min;
    }
    return this.heard(source, lanes);
  }
  private heard(source: string, lanes: Map<number, { floor: number; recent: Set<number> }>): undefined {
    this.sources.delete(source);
    this.sources.set(source, lanes);
    if (this.sources.size > this.capacity) this.sources.delete(this.sources.keys().next().value!);
    return undefined;
  }
}

/** A small seeded generator, so a failure names a run that can be repeated. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const recent of [RECENT, 256]) {
  test(`the guard answers as the rule says, packet by packet (window ${recent})`, () => {
    for (const seed of [1, 2, 3]) {
      const r = rng(seed * 1000 + recent);
      // More sources than the guard remembers: some are forgotten and met again as first contacts.
      const guard = new ReplayGuard(() => T0, 6, recent);
      const model = new Model(6, recent);
      const sources = Array.from({ length: 8 }, (_, k) => `source-${k}`);
      const next = new Map<string, number>();
      const seen = new Map<string, number[]>();
      const counts = { accepted: 0, old: 0, replay: 0, skew: 0 };
      for (let i = 0; i < 20_000; i++) {
        // One busy source (kept, its floor rises) among others that come and go.
        const source = r() < 0.6 ? sources[0]! : sources[Math.floor(r() * sources.length)]!;
        const lane = Math.floor(r() * 3);
        const key = `${source}/${lane}`;
        let id: number;
        const pick = r();
        let mine = seen.get(source);
        if (!mine) seen.set(source, (mine = []));
        if (pick < 0.1 && mine.length > 0) id = mine[Math.floor(r() * mine.length)]!; // a replay of this source's
        else if (pick < 0.13) id = packetIdAt(T0 - 2 * MAX_SKEW_MS, i, lane); // far too old for a first contact
        else {
          // Mostly in order; sometimes a few places early or late (reordering on the way).
          const n = (next.get(key) ?? 0) + 1;
          next.set(key, n);
          const jitter = r() < 0.2 ? Math.floor(r() * (recent * 1.5)) : 0;
          id = packetIdAt(T0, Math.max(0, n - jitter), lane);
        }
        const want = model.check(source, id);
        const got = guard.check(source, id);
        assert.equal(got, want, `seed ${seed}, packet ${i}: ${source} lane ${lane} id ${id}`);
        if (want === undefined && mine.push(id) > 8 * recent) mine.splice(0, 4 * recent);
        counts[want === undefined ? 'accepted' : want === 'replay:old' ? 'old' : want === 'replay' ? 'replay' : 'skew']++;
      }
      // The run exercised every answer, so agreement means something.
      for (const [k, v] of Object.entries(counts)) assert.ok(v > 50, `seed ${seed}: ${k} happened ${v} times`);
    }
  });
}

test('a forgotten source is judged by its clock again; a remembered one by its window', () => {
  const guard = new ReplayGuard(() => T0, 2);
  const old = packetIdAt(T0 - MAX_SKEW_MS - 1000);
  assert.equal(guard.check('a', packetIdAt(T0)), undefined);
  assert.equal(guard.check('a', packetIdAt(T0)), 'replay');
  assert.equal(guard.check('b', packetIdAt(T0)), undefined);
  assert.equal(guard.check('a', packetIdAt(T0, 1)), undefined, 'a is heard again: now the newest');
  assert.equal(guard.check('c', packetIdAt(T0)), undefined, 'c pushes out b, the longest unheard');
  assert.equal(guard.check('b', old), 'replay:clock-skew', 'b was forgotten: its old id is judged by the clock');
  assert.equal(guard.check('a', packetIdAt(T0, 1)), 'replay', 'a is still remembered');
  for (let lane = 1; lane < LANES; lane++) assert.equal(guard.check('a', packetIdAt(T0, 0, lane)), undefined, `lane ${lane} of a is its own window`);
});
