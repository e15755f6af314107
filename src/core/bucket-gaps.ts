/**
 * Empty buckets, and the one-hop exchange that fills them (the Ask and Tell frames).
 *
 * A routed lookup follows one greedy path and ends at a local minimum. When a whole region of
 * the id space has no link into the bucket next to it (a node arrived there that none of its
 * neighbours has heard of), every lookup from inside the region ends inside it and learns
 * nothing new. Asking a linked peer directly avoids that: a peer in our bucket c shares our
 * first c bits, so its buckets below c are our buckets below c, and its links there are nodes
 * we can use. Knowledge of a newcomer then spreads through its region one link at a time.
 */
import type { PeerInfo } from './codec.js';
import { MAX_ASKED_BUCKETS, MAX_REFERRALS } from './limits.js';
import { mayName, type PeerMemory } from './peer-memory.js';
import { isLeaf, type RoutingTable } from './routing-table.js';
import type { Session } from './session.js';

/** Peers named per asked bucket: two, so one dead or full node does not end the search. */
const PER_BUCKET = 2;

/**
 * Buckets with no routing link, shallower than our deepest link. Deeper buckets are most often
 * empty in fact (few nodes share so long a prefix with us), so only these are worth asking for.
 */
export function emptyBuckets(table: RoutingTable): number[] {
  const counts = table.bucketCounts();
  let deepest = -1;
  for (const b of counts.keys()) deepest = Math.max(deepest, b);
  const gaps: number[] = [];
  for (let b = 0; b < deepest && gaps.length < MAX_ASKED_BUCKETS; b++) if (!counts.get(b)) gaps.push(b);
  return gaps;
}

/** The gaps a given link can help with: those below the link's own bucket. */
export function gapsBelow(table: RoutingTable, gaps: number[], link: Session): number[] {
  const c = table.bucketOf(link.peer!.id);
  return gaps.filter((b) => b < c);
}

/** A routing link deeper than our shallowest gap, picked by `pick` among those that qualify. */
export function helperFor(table: RoutingTable, gaps: number[], pick: (n: number) => number): Session | undefined {
  if (gaps.length === 0) return undefined;
  const helpers = [...table.all()].filter((s) => !isLeaf(s) && table.bucketOf(s.peer!.id) > gaps[0]!);
  return helpers[pick(helpers.length)];
}

/**
 * Our answer to an Ask from `asker`: for each asked bucket below the asker's bucket (the others
 * are not the asker's to learn from us), our routing links there, then remembered nodes.
 */
export function peersForAsk(table: RoutingTable, memory: PeerMemory, asker: Session, buckets: number[]): PeerInfo[] {
  const c = table.bucketOf(asker.peer!.id);
  const out: PeerInfo[] = [];
  for (const b of new Set(buckets)) {
    if (b >= c) continue;
    let named = 0;
    for (const s of table.all()) {
      if (named >= PER_BUCKET || out.length >= MAX_REFERRALS) break;
      if (isLeaf(s) || table.bucketOf(s.peer!.id) !== b) continue;
      const { publicKey, addrs, caps } = s.peer!;
      out.push({ publicKey, addrs, caps });
      named++;
    }
    for (const r of memory.inBucket(b)) {
      if (named >= PER_BUCKET || out.length >= MAX_REFERRALS) break;
      if (!mayName(r) || table.has(r.id)) continue;
      out.push({ publicKey: r.publicKey, addrs: r.addrs, caps: r.caps });
      named++;
    }
  }
  return out;
}
