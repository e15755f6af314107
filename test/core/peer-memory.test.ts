/**
 * Peer memory: bounded per distance bucket, forgetting peers that keep failing, and surviving
 * a save and restore through plain JSON, bad records skipped and counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../../src/core/bytes.js';
import { commonPrefixLength, hashToId, idFromPublicKey } from '../../src/core/id.js';
import { MAX_FAILURES, PER_BUCKET, PeerMemory, type PeerRecord, type StoredPeer } from '../../src/core/peer-memory.js';

const self = hashToId(Uint8Array.of(1, 2, 3));
/** The k-th test key: 32 bytes, as a public key is (memory never needs it to be on the curve). */
const keyOf = (k: number) => hashToId(Uint8Array.of(k & 0xff, (k >> 8) & 0xff, (k >> 16) & 0xff, 0x55));
const bucketOf = (key: Uint8Array) => commonPrefixLength(self, idFromPublicKey(key));
const info = (publicKey: Uint8Array, addrs: string[] = [], caps: string[] = []) => ({ publicKey, addrs, caps });

/** Keys that fall in bucket `bucket` of `self`, `n` of them. */
function keysInBucket(bucket: number, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; out.length < n; k++) {
    assert.ok(k < 1_000_000, 'test setup: enough keys');
    const key = keyOf(k);
    if (bucketOf(key) === bucket) out.push(key);
  }
  return out;
}

/** Records in id order, with an absent rtt and an undefined one read alike. */
function sorted(records: Iterable<PeerRecord>): PeerRecord[] {
  return [...records].map((r) => ({ ...r, rttMs: r.rttMs ?? undefined })).sort((a, b) => a.id.localeCompare(b.id));
}

describe('peer memory', () => {
  it('keeps at most PER_BUCKET records in any bucket, however many it hears of', () => {
    const memory = new PeerMemory(self);
    for (let k = 0; k < 2000; k++) memory.learn(info(keyOf(k), [`ws://${k}`]), 1000 + k);
    const perBucket = new Map<number, number>();
    for (const r of memory.all()) {
      const b = bucketOf(r.publicKey);
      perBucket.set(b, (perBucket.get(b) ?? 0) + 1);
    }
    for (const [b, n] of perBucket) assert.ok(n <= PER_BUCKET, `bucket ${b} holds ${n}`);
    assert.equal(perBucket.get(0), PER_BUCKET, 'the far half of the id space is full');
    assert.equal(memory.size, [...perBucket.values()].reduce((x, y) => x + y, 0));
    // The ids are the hashes of the keys.
    for (const r of memory.all()) assert.equal(r.id, toHex(idFromPublicKey(r.publicKey)));
  });

  it('makes room in a full bucket by dropping an unproven record, but keeps proven ones', () => {
    const memory = new PeerMemory(self);
    const keys = keysInBucket(0, PER_BUCKET + 2);
    const first = keys.slice(0, PER_BUCKET).map((k, i) => memory.learn(info(k), 100 + i)!);
    // A newcomer, seen later than everyone, replaces the stalest unproven record.
    const newcomer = memory.learn(info(keys[PER_BUCKET]!), 500);
    assert.ok(newcomer, 'kept');
    assert.equal(memory.get(first[0]!.id), undefined, 'the stalest record made room');
    // Once every record has worked at least once, an unproven newcomer is not kept.
    for (const r of memory.all()) memory.succeeded(r.id, 600);
    assert.equal(memory.learn(info(keys[PER_BUCKET + 1]!), 700), undefined);
    assert.equal(memory.size, PER_BUCKET);
  });

  it('never drops a pinned record to make room', () => {
    const keys = keysInBucket(0, PER_BUCKET + 1);
    const pinnedId = toHex(idFromPublicKey(keys[0]!));
    const memory = new PeerMemory(self, (id) => id === pinnedId);
    keys.slice(0, PER_BUCKET).forEach((k, i) => memory.learn(info(k), i)); // the pinned one is the stalest
    memory.learn(info(keys[PER_BUCKET]!), 1000);
    assert.ok(memory.get(pinnedId), 'the pinned record stays');
  });

  it('does not remember itself, and refreshes what it already knows', () => {
    const memory = new PeerMemory(hashToId(keyOf(1)));
    // A key hashing to our own id is ourselves.
    const selfMemory = new PeerMemory(idFromPublicKey(keyOf(1)));
    assert.equal(selfMemory.learn(info(keyOf(1)), 1), undefined);
    assert.equal(selfMemory.size, 0);
    const rec = memory.learn(info(keyOf(2), ['ws://a'], ['relay']), 10)!;
    memory.learn(info(keyOf(2), [], []), 5); // older news, no addresses: keeps what it had
    assert.deepEqual([rec.lastSeen, rec.addrs, rec.caps], [10, ['ws://a'], ['relay']]);
    memory.learn(info(keyOf(2), ['ws://b'], []), 20);
    assert.deepEqual([rec.lastSeen, rec.addrs, rec.caps], [20, ['ws://b'], ['relay']]);
    assert.equal(memory.size, 1);
  });

  it('takes a peer\'s own word (firsthand) over what others said: a node that lost WebRTC loses the cap', () => {
    const memory = new PeerMemory(hashToId(keyOf(1)));
    const rec = memory.learn(info(keyOf(3), [], ['webrtc']), 10)!;
    memory.learn(info(keyOf(3), [], []), 20); // a third party's partial news keeps the cap
    assert.deepEqual(rec.caps, ['webrtc']);
    memory.learn(info(keyOf(3), [], []), 30, true); // its own proven hello says it has none now
    assert.deepEqual([rec.lastSeen, rec.caps], [30, []]);
  });

  it(`forgets a peer after ${MAX_FAILURES} failed dials in a row; a success resets the count`, () => {
    const memory = new PeerMemory(self);
    const rec = memory.learn(info(keyOf(7)), 1)!;
    for (let i = 0; i < MAX_FAILURES - 1; i++) memory.failed(rec.id);
    memory.succeeded(rec.id, 50, 12);
    assert.deepEqual([rec.failures, rec.successes, rec.lastSuccess, rec.rttMs], [0, 1, 50, 12]);
    for (let i = 0; i < MAX_FAILURES - 1; i++) memory.failed(rec.id);
    assert.ok(memory.get(rec.id), `still known after ${MAX_FAILURES - 1} failures`);
    memory.failed(rec.id);
    assert.equal(memory.get(rec.id), undefined, `forgotten after ${MAX_FAILURES}`);
    // Forgetting frees its place in the bucket.
    assert.equal(memory.size, 0);
    assert.ok(memory.learn(info(keyOf(7)), 2), 'can be learned again');
  });

  it('never forgets a pinned peer for failures', () => {
    const pinned = toHex(idFromPublicKey(keyOf(8)));
    const memory = new PeerMemory(self, (id) => id === pinned);
    memory.learn(info(keyOf(8)), 1);
    for (let i = 0; i < MAX_FAILURES * 2; i++) memory.failed(pinned);
    assert.equal(memory.get(pinned)?.failures, MAX_FAILURES * 2);
  });

  it('lists the peers that worked most recently first, only those that ever worked', () => {
    const memory = new PeerMemory(self);
    const recs = [1, 2, 3, 4, 5].map((k) => memory.learn(info(keyOf(100 + k)), k)!);
    memory.succeeded(recs[0]!.id, 300);
    memory.succeeded(recs[2]!.id, 900);
    memory.succeeded(recs[4]!.id, 600);
    assert.deepEqual(
      memory.mostRecentlyUseful(10).map((r) => r.id),
      [recs[2]!.id, recs[4]!.id, recs[0]!.id],
    );
    assert.deepEqual(
      memory.mostRecentlyUseful(1).map((r) => r.id),
      [recs[2]!.id],
    );
  });

  it('survives toStored, JSON and restore unchanged', () => {
    const memory = new PeerMemory(self);
    for (let k = 0; k < 40; k++) {
      const rec = memory.learn(info(keyOf(k), [`ws://host-${k}:80`], k % 2 ? ['relay'] : []), 1000 + k);
      if (rec && k % 3 === 0) memory.succeeded(rec.id, 2000 + k, k % 2 ? 15 + k : undefined);
      if (rec && k % 5 === 0) memory.failed(rec.id);
    }
    const json = JSON.stringify(memory.toStored());
    const stored = JSON.parse(json) as StoredPeer[];
    assert.equal(stored.length, memory.size);
    const back = new PeerMemory(self);
    assert.deepEqual(back.restore(stored), { restored: memory.size, skipped: 0 });
    assert.deepEqual(sorted(back.all()), sorted(memory.all()));
    assert.equal(back.dirty, false, 'a freshly restored memory has nothing to save');
  });

  it('skips and counts stored records that do not validate', () => {
    const good: StoredPeer = { publicKey: toHex(keyOf(1)), addrs: ['ws://a'], caps: [], lastSeen: 5, lastSuccess: 4, successes: 1, failures: 0, rttMs: 20 };
    const bad: unknown[] = [
      null,
      'a string',
      42,
      [],
      {},
      { ...good, publicKey: 'zz' },
      { ...good, publicKey: toHex(keyOf(2)).slice(2) },
      { ...good, publicKey: toHex(keyOf(2)).toUpperCase() },
      { ...good, addrs: 'ws://a' },
      { ...good, addrs: [1] },
      { ...good, caps: null },
      { ...good, lastSeen: -1 },
      { ...good, lastSeen: 'yesterday' },
      { ...good, lastSuccess: Number.POSITIVE_INFINITY },
      { ...good, successes: undefined },
      { ...good, failures: Number.NaN },
    ];
    const memory = new PeerMemory(self);
    const { restored, skipped } = memory.restore([good, ...bad]);
    assert.deepEqual({ restored, skipped }, { restored: 1, skipped: bad.length });
    const rec = memory.get(toHex(idFromPublicKey(keyOf(1))))!;
    assert.deepEqual(
      [rec.addrs, rec.lastSeen, rec.lastSuccess, rec.successes, rec.failures, rec.rttMs],
      [['ws://a'], 5, 4, 1, 0, 20],
    );
  });
});
