/**
 * The whole-network check of the routing invariant: every node has a link into every distance
 * bucket in which some live node exists. When it holds, greedy XOR routing delivers every
 * packet (docs/ROUTING.md gives the argument), so the simulator uses it to detect convergence.
 */

const BITS = 256;

function toBig(idHex: string): bigint {
  return BigInt('0x' + idHex);
}

export interface InvariantReport {
  nodes: number;
  /** Nodes missing a link into at least one non-empty bucket. */
  violations: number;
  /** Total (node, bucket) pairs missing. */
  missingBuckets: number;
}

/** `links` maps each live node id (hex) to the ids of its open links. */
export function checkBucketInvariant(links: Map<string, string[]>): InvariantReport {
  const sorted = [...links.keys()].map(toBig).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const countIn = (lo: bigint, hi: bigint) => lowerBound(sorted, hi + 1n) - lowerBound(sorted, lo);
  let violations = 0;
  let missingBuckets = 0;
  for (const [idHex, peers] of links) {
    const u = toBig(idHex);
    const have = new Set<number>();
    for (const p of peers) have.add(commonPrefix(u, toBig(p)));
    let missing = 0;
    for (let b = 0; b < BITS; b++) {
      const shift = BigInt(BITS - 1 - b);
      // Bucket b of u: ids sharing u's first b bits and differing at bit b.
      const lo = ((u >> shift) ^ 1n) << shift;
      const hi = lo + (1n << shift) - 1n;
      if (countIn(lo, hi) > 0 && !have.has(b)) missing++;
      // Stop once no other node shares u's first b+1 bits: deeper buckets are all empty.
      const sameLo = (u >> shift) << shift;
      if (countIn(sameLo, sameLo + (1n << shift) - 1n) <= 1) break;
    }
    if (missing > 0) violations++;
    missingBuckets += missing;
  }
  return { nodes: links.size, violations, missingBuckets };
}

function commonPrefix(a: bigint, b: bigint): number {
  const x = a ^ b;
  return x === 0n ? BITS : BITS - x.toString(2).length;
}

function lowerBound(arr: bigint[], v: bigint): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

