/**
 * The routing table: the node's open links, indexed by peer id, and greedy XOR next-hop choice.
 * A packet only ever moves to a link strictly closer to its destination than this node, so
 * routes cannot loop; see docs/ROUTING.md for why they also always arrive.
 */
import { commonPrefixLength, compareDistance, type NodeId } from './id.js';
import type { Session } from './session.js';

export class RoutingTable {
  private links = new Map<string, Session>();

  constructor(readonly self: NodeId) {}

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
   * `anyDistance` drops the strictness (the first hop of a lookup for our own id).
   */
  nextHop(dst: NodeId, exclude?: string, anyDistance = false): Session | undefined {
    let best: Session | undefined;
    let bestId: NodeId | undefined = anyDistance ? undefined : this.self;
    for (const s of this.links.values()) {
      if (exclude !== undefined && s.peer!.idText === exclude) continue;
      const id = s.peer!.id;
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

  /** Number of links in each distance bucket. */
  bucketCounts(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const s of this.links.values()) {
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
