/**
 * Which links to keep and which to make, within the link budget. The routing invariant needs
 * one link in every non-empty distance bucket (and the few closest nodes, for redundancy);
 * links beyond that shorten routes and are the first to go when the budget is full.
 */
import { bitAt, compareDistance, type NodeId } from './id.js';
import type { PeerMemory, PeerRecord } from './peer-memory.js';
import { isLeaf, type RoutingTable } from './routing-table.js';
import { WEBRTC_CAP } from './reachability.js';
import type { Session } from './session.js';

/** How many of the closest links are protected in addition to one link per bucket. */
export const NEIGHBOURS = 3;
/** Budget slots kept free of optional links, so needed links and newcomers always fit. */
export const RESERVE = 4;

/**
 * True when dropping this link could break this node's routing invariant: it is the designated
 * link of its bucket (the one closest to us), or one of our NEIGHBOURS closest links. One link
 * per bucket is designated, not "the only one": with two links in a bucket and neither marked
 * needed, both peers could drop us at once and leave the bucket empty.
 */
export function neededByUs(table: RoutingTable, session: Session): boolean {
  const id = session.peer!.id;
  const bucket = table.bucketOf(id);
  let closerInBucket = 0;
  let closer = 0;
  for (const s of table.all()) {
    if (s === session || isLeaf(s)) continue; // leaves do not route: they cover nothing
    const other = s.peer!.id;
    if (compareDistance(other, id, table.self) >= 0) continue;
    closer++;
    if (table.bucketOf(other) === bucket) closerInBucket++;
  }
  return closerInBucket === 0 || closer < NEIGHBOURS;
}

/**
 * The links `neededByUs` calls needed, all in one pass: a sort instead of a scan of the table per
 * link. A server with a thousand leaves re-checks every link on each join and leave, and the
 * scans made that quadratic (16 % of its CPU in the capacity bench's profile).
 */
export function neededLinks(table: RoutingTable): Set<Session> {
  const self = table.self;
  const routers = [...table.all()].filter((s) => !isLeaf(s)).sort((a, b) => compareDistance(a.peer!.id, b.peer!.id, self));
  const needed = new Set<Session>();
  const firstInBucket = new Map<number, NodeId>();
  routers.forEach((s, rank) => {
    const bucket = table.bucketOf(s.peer!.id);
    if (!firstInBucket.has(bucket)) {
      firstInBucket.set(bucket, s.peer!.id);
      needed.add(s); // nothing closer in its bucket
    } else if (rank < NEIGHBOURS) needed.add(s);
  });
  // A leaf counts in no one's tally, but is itself needed when closer than those that cover it.
  const lastNeighbour = routers[NEIGHBOURS - 1]?.peer!.id;
  for (const s of table.all()) {
    if (!isLeaf(s)) continue;
    const id = s.peer!.id;
    const first = firstInBucket.get(table.bucketOf(id));
    const closerThan = (other: NodeId | undefined) => other === undefined || compareDistance(id, other, self) < 0;
    if (closerThan(first) || closerThan(lastNeighbour)) needed.add(s);
  }
  return needed;
}

/** True when a link to `id` (not yet linked) would be needed by our routing invariant. */
export function wouldBeNeeded(table: RoutingTable, id: NodeId): boolean {
  const bucket = table.bucketOf(id);
  let bucketEmpty = true;
  let closer = 0;
  for (const s of table.all()) {
    if (isLeaf(s)) continue;
    const other = s.peer!.id;
    if (table.bucketOf(other) === bucket) bucketEmpty = false;
    if (compareDistance(other, id, table.self) < 0) closer++;
  }
  return bucketEmpty || closer < NEIGHBOURS;
}

/**
 * The link to drop to make room, or undefined when none may go. Never a link our invariant
 * needs. Preferably a spare (neither side needs it), from our most crowded bucket. A link the
 * peer needs only when `mayHurtPeer`, and then the one in our shallowest bucket: a peer in our
 * bucket c needs us as its way into our side of bit c, and the shallower c, the more other
 * nodes it can pick there. A peer in our deepest bucket may have no other choice at all (a lone
 * node is needed by everyone in the region next to it), so it is never pushed out.
 */
export function pickEviction(table: RoutingTable, mayHurtPeer: boolean): Session | undefined {
  const counts = table.bucketCounts();
  let deepest = -1;
  for (const b of counts.keys()) deepest = Math.max(deepest, b);
  let best: Session | undefined;
  let bestScore = -Infinity;
  const needed = neededLinks(table);
  for (const s of table.all()) {
    if (needed.has(s)) continue;
    const bucket = table.bucketOf(s.peer!.id);
    let score: number;
    if (!s.peerNeedsUs) score = 1000 + (counts.get(bucket) ?? 0);
    else if (mayHurtPeer && bucket < deepest) score = 255 - bucket;
    else continue;
    if (score > bestScore) {
      best = s;
      bestScore = score;
    }
  }
  return best;
}

export interface DialContext {
  table: RoutingTable;
  memory: PeerMemory;
  budget: number;
  pending: Set<string>;
  /** Peers we should not retry yet (recent failure or refusal). */
  coolingDown: (id: string) => boolean;
  canDial: (rec: PeerRecord) => boolean;
  /**
   * How many spare links may be wished now. 0 while the node is settling (spares made then
   * would mostly be evicted again) and outside maintenance rounds: each spare a node makes
   * takes a slot on its peer that a needed link may later evict, so spares grow slowly.
   */
  spares: number;
  /**
   * Whether a node that dials only addresses (a listening server) can reach us: we listen
   * ourselves, or we are a leaf, which no route passes through. Default true (nothing owed).
   */
  addressable?: boolean;
  /**
   * Peers whose link closed as idle (idle-links.ts). They are not dialled, and they hold their
   * place as if still linked: their bucket counts as covered and they count among the closest
   * linked nodes, so no other node is dialled in their stead (it would go idle in turn).
   */
  resting?: (id: string) => boolean;
}

/** Peers worth dialling now, most important first: empty buckets, closest nodes, then spares. */
export function dialWishes(ctx: DialContext): { rec: PeerRecord; needed: boolean }[] {
  const { table, memory } = ctx;
  const self = table.self;
  const candidates: { rec: PeerRecord; id: NodeId; bucket: number }[] = [];
  const standby: PeerRecord[] = [];
  for (const rec of memory.all()) {
    if (ctx.resting?.(rec.id) && !table.has(rec.id)) {
      standby.push(rec);
      continue;
    }
    if (table.has(rec.id) || ctx.pending.has(rec.id) || ctx.coolingDown(rec.id) || !ctx.canDial(rec)) continue;
    const id = rec.idBytes;
    candidates.push({ rec, id, bucket: table.bucketOf(id) });
  }
  if (candidates.length === 0) return [];
  const counts = table.bucketCounts();
  for (const rec of standby) counts.set(table.bucketOf(rec.idBytes), (counts.get(table.bucketOf(rec.idBytes)) ?? 0) + 1);
  const wishes: { rec: PeerRecord; needed: boolean }[] = [];
  const chosen = new Set<string>();
  const want = (rec: PeerRecord, needed = true) => {
    if (!chosen.has(rec.id)) {
      chosen.add(rec.id);
      wishes.push({ rec, needed });
    }
  };
  const byPreference = (a: (typeof candidates)[number], b: (typeof candidates)[number]) =>
    a.rec.failures - b.rec.failures || compareDistance(a.id, b.id, self);

  // 1. One link in every bucket we know to be non-empty.
  const bestPerBucket = new Map<number, (typeof candidates)[number]>();
  for (const c of candidates) {
    const cur = bestPerBucket.get(c.bucket);
    if (!cur || byPreference(c, cur) < 0) bestPerBucket.set(c.bucket, c);
  }
  for (const [bucket, c] of [...bestPerBucket].sort((a, b) => b[0] - a[0])) {
    if (!counts.get(bucket)) want(c.rec);
  }
  // 1b. Links a listening peer needs and cannot make (see owedToListeners).
  for (const c of owedToListeners(ctx, candidates)) want(c.rec, false);
  // 2. The closest known nodes: the neighbour set.
  const linked = [...table.all()].filter((s) => !isLeaf(s)).map((s) => s.peer!.id);
  for (const rec of standby) linked.push(rec.idBytes);
  const closestLinked = linked.sort((a, b) => compareDistance(a, b, self))[NEIGHBOURS - 1];
  for (const c of [...candidates].sort((a, b) => compareDistance(a.id, b.id, self)).slice(0, NEIGHBOURS)) {
    if (!closestLinked || compareDistance(c.id, closestLinked, self) < 0) want(c.rec);
  }
  // 3. Spare links that halve a crowded bucket: a second link whose next bit differs.
  const spare = Math.min(ctx.spares, ctx.budget - RESERVE - table.size - ctx.pending.size - wishes.length);
  if (spare > 0) {
    const covered = new Set<string>();
    for (const s of table.all()) {
      const b = table.bucketOf(s.peer!.id);
      covered.add(`${b}/${bitAt(s.peer!.id, b + 1)}`);
    }
    for (const rec of standby) {
      const b = table.bucketOf(rec.idBytes);
      covered.add(`${b}/${bitAt(rec.idBytes, b + 1)}`);
    }
    const extras: (typeof candidates)[number][] = [];
    for (const c of candidates.sort(byPreference)) {
      const slot = `${c.bucket}/${bitAt(c.id, c.bucket + 1)}`;
      if (covered.has(slot) || chosen.has(c.rec.id)) continue;
      covered.add(slot);
      extras.push(c);
    }
    extras.sort((a, b) => a.bucket - b.bucket);
    for (const c of extras.slice(0, spare)) want(c.rec, false);
  }
  return wishes;
}

/**
 * A listening node that dials only addresses (a server: it has no WebRTC) cannot dial us when we
 * have no address (a browser). Its bucket toward us holds us and everyone in our buckets deeper
 * than the one it sits in; if we know nobody there with an address, nobody there may ever dial
 * it, its bucket stays empty, and it becomes a local minimum for ids near us (topics near us
 * then meet at two places; issue 13). So we dial it ourselves: it is needed by the peer, not by us.
 */
function owedToListeners<C extends { rec: PeerRecord; bucket: number }>(ctx: DialContext, candidates: C[]): C[] {
  if (ctx.addressable !== false) return [];
  const { table, memory } = ctx;
  // The deepest of our buckets holding a node with an address: a listener beyond it is owed.
  let deepestListening = -1;
  for (const s of table.all()) if (s.peer!.addrs.length > 0) deepestListening = Math.max(deepestListening, table.bucketOf(s.peer!.id));
  for (const rec of memory.all()) if (rec.addrs.length > 0) deepestListening = Math.max(deepestListening, table.bucketOf(rec.idBytes));
  return candidates.filter((c) => c.rec.addrs.length > 0 && !c.rec.caps.includes(WEBRTC_CAP) && c.bucket >= deepestListening);
}
