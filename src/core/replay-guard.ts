/**
 * Replays beyond the dedupe window. The dedupe set remembers the last 8 192 packets a node
 * received, so a captured packet replayed after that many others would be accepted again. This
 * closes it with two rules, both on the packet id, which the source signs:
 *
 * 1. Packet ids are a per-source sequence: each node numbers its packets with
 *    max(last + 1, wall-clock ms x 1024), so they only grow, and they say roughly when they
 *    were made (a restarted node starts above where it stopped, as long as its clock did not
 *    go back).
 * 2. A receiver keeps, per source, a floor and the ids it accepted above it (at most RECENT):
 *    an id at or below the floor, or already accepted, is a replay. When RECENT ids are held,
 *    the smallest becomes the floor, so packets may arrive out of order by up to RECENT places.
 *    A source the receiver does not remember (a first contact, or one pushed out of the
 *    SOURCES table by newer ones) is accepted only if its id's time is within MAX_SKEW of the
 *    receiver's clock.
 *
 * 3. Lanes: the lowest LANE_BITS bits of an id name a lane, and each lane is a sequence of its
 *    own (rule 1, within the ids of that lane); the receiver keeps its window per (source,
 *    lane). A node numbers its own packets in lane 0; a tab that builds and seals packets
 *    itself for the links it hosts (the data plane in the host tab, docs/DATA-PLANE.md) is
 *    granted another lane by its node, so the two interleave without either's ids falling
 *    under the other's floor. A lane is no weaker than a source: a replay of a lane's packet
 *    meets that lane's window, and the id (lane included) is signed or in the AEAD's data.
 *
 * So a replay is refused while its source is remembered, whatever else arrived meanwhile (the
 * window is per source, not shared), and once forgotten, unless the packet is at most MAX_SKEW
 * old. The cost: nodes need clocks within MAX_SKEW of each other (5 minutes, the bound
 * Kerberos uses) to reach nodes that do not know them yet. Checked only after the packet's
 * signature, so a forger cannot raise another source's floor.
 */
import { BoundedMap } from './dedupe.js';

/** Packet ids per wall-clock millisecond (all lanes together) before a sender's numbering runs ahead of its clock. */
export const IDS_PER_MS = 1024;
/** Low bits of a packet id that name its lane (rule 3). IDS_PER_MS is a multiple of LANES. */
export const LANE_BITS = 3;
export const LANES = 1 << LANE_BITS;
/** The lane a node numbers its own packets in. */
export const NODE_LANE = 0;
/** Sources remembered at once (with all their lanes). */
export const SOURCES = 8192;
/** Ids remembered above a source's floor: how far out of order its packets may arrive. */
export const RECENT = 32;
/** Largest difference between a forgotten source's packet time and the receiver's clock. */
export const MAX_SKEW_MS = 5 * 60_000;

/** The id of the `n`th packet of `lane` made at wall-clock time `ms` (tests craft packets with it). */
export function packetIdAt(ms: number, n = 0, lane = NODE_LANE): number {
  return Math.max(0, Math.floor(ms)) * IDS_PER_MS + n * LANES + lane;
}

/** The lane a packet id belongs to (ids are safe integers, beyond 32 bits: no bit operators). */
export function laneOf(id: number): number {
  return id % LANES;
}

/** One lane's packet numbering: a node's own (lane 0), or a tab's granted lane. */
export class PacketSequence {
  private last = -1;
  constructor(
    private readonly wall: () => number,
    readonly lane = NODE_LANE,
  ) {
    if (!Number.isInteger(lane) || lane < 0 || lane >= LANES) throw new RangeError(`a lane is an integer from 0 to ${LANES - 1}`);
  }

  next(): number {
    const base = Math.max(this.last + 1, packetIdAt(this.wall()));
    // The first id at or above `base` in this lane.
    this.last = base + ((this.lane - laneOf(base) + LANES) % LANES);
    return this.last;
  }
}

/**
 * One (source, lane) window: the floor, and the ids accepted above it in ascending order. A plain
 * array of ids (doubles, stored unboxed) rather than a Set: packets mostly arrive in order, so
 * the common case is one comparison and a push, and one shift once the window is full, with no
 * allocation per packet; this runs on every packet the host tab's data plane takes.
 */
interface LaneWindow {
  floor: number;
  ids: number[];
}

/** The receiver's side. */
export class ReplayGuard {
  /** Per source, its lanes' windows (all lanes of a source count as one of the `sources` remembered). */
  private readonly sources: BoundedMap<string, (LaneWindow | undefined)[]>;
  /** The source refreshed last: it is already the newest entry, so it is not moved again. */
  private newest?: string;

  /** `sources` remembered, `recent` ids each above its floor (publications need a wider window: node.ts). */
  constructor(
    private readonly wall: () => number,
    sources = SOURCES,
    private readonly recent = RECENT,
  ) {
    this.sources = new BoundedMap<string, (LaneWindow | undefined)[]>(sources);
  }

  /** Records packet `id` of `src` (a verified packet); returns the reason to drop it, or undefined. The window is per (source, lane). */
  check(source: string, id: number): string | undefined {
    const lane = laneOf(id);
    let lanes = this.sources.get(source);
    const w = lanes?.[lane];
    if (!w) {
      const skew = Math.abs(id / IDS_PER_MS - this.wall());
      if (skew > MAX_SKEW_MS) return 'replay:clock-skew';
      lanes ??= [];
      lanes[lane] = { floor: -1, ids: [id] };
      this.touch(source, lanes);
      return undefined;
    }
    if (id <= w.floor) return 'replay:old';
    const ids = w.ids;
    const last = ids.length - 1;
    if (last < 0 || id > ids[last]!) ids.push(id);
    else {
      const at = firstNotBelow(ids, id);
      if (ids[at] === id) return 'replay';
      ids.splice(at, 0, id);
    }
    if (ids.length > this.recent) w.floor = ids.shift()!;
    this.touch(source, lanes!);
    return undefined;
  }

  /** The most recently heard sources are kept longest. */
  private touch(source: string, lanes: (LaneWindow | undefined)[]): void {
    if (source === this.newest) return;
    this.sources.set(source, lanes);
    this.newest = source;
  }
}

/** The index of the first of the ascending `ids` that is >= `id` (ids.length if none). */
function firstNotBelow(ids: number[], id: number): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
