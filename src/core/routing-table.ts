/**
 * The routing table: the node's open links, indexed by peer id, and greedy XOR next-hop choice.
 * A packet only ever moves to a link strictly closer to its destination than this node, so
 * routes cannot loop; see docs/ROUTING.md for why they also always arrive.
 */
import { bytesEqual } from './bytes.js';
import { commonPrefixLength, compareDistance, type NodeId } from './id.js';
import type { Session } from './session.js';

/**
 * Capability of a node nobody can dial (a Node client without a port). Two leaves can never
 * link, so a leaf must not be a hop between others: leaves carry no transit, they send
 * everything through their closest non-leaf link, and they do not count toward the bucket
 * invariant of the nodes they link to.
 */
export const LEAF_CAP = 'leaf';

export function isLeaf(s: Session): boolean {
  return s.peer!.caps.includes(LEAF_CAP);
}

export class RoutingTable {
  private links = new Map<string, Session>();

  constructor(
    readonly self: NodeId,
    private readonly selfIsLeaf = false,
  ) {}

  get size(): number {
    return this.links.size;
  }

  get(id: string): Session | undefined {
    return this.links.get(id);
  }

  has(id: string): boolean {
    return this.links.has(id);
  }

  all(): IterableIterator<Session> {
    return this.links.values();
  }

  add(session: Session): void {
    this.links.set(session.peer!.idText, session);
  }

  remove(id: string, session?: Session): boolean {
    if (session && this.links.get(id) !== session) return false;
    return this.links.delete(id);
  }

  /**
   * The link closest to `dst`, if it is strictly closer than this node; else undefined.
   * `exclude` skips one peer (a lookup's source, which must not answer its own lookup);
   * `anyDistance` drops the strictness (the first hop of a lookup for our own id); a leaf
   * always drops it, since it forwards nothing and must hand its own packets to someone.
   */
  nextHop(dst: NodeId, exclude?: string, anyDistance = this.selfIsLeaf && !bytesEqual(dst, this.self)): Session | undefined {
    let best: Session | undefined;
    let bestId: NodeId | undefined = anyDistance ? undefined : this.self;
    for (const s of this.links.values()) {
      if (exclude !== undefined && s.peer!.idText === exclude) continue;
      const id = s.peer!.id;
      if (isLeaf(s) && !bytesEqual(id, dst)) continue; // a leaf takes only its own packets
      if (bestId === undefined || compareDistance(id, bestId, dst) < 0) {
        best = s;
        bestId = id;
      }
    }
    return best;
  }

  bucketOf(id: NodeId): number {
    return commonPrefixLength(this.self, id);
  }

  /** Number of links in each distance bucket, leaves left out (they do not route). */
  bucketCounts(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const s of this.links.values()) {
      if (isLeaf(s)) continue;
      const b = this.bucketOf(s.peer!.id);
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    return counts;
  }

  /** Links sorted by distance to `target`, closest first. */
  closest(target: NodeId, n: number): Session[] {
    return [...this.links.values()].sort((a, b) => compareDistance(a.peer!.id, b.peer!.id, target)).slice(0, n);
  }
}
