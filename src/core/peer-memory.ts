/**
 * What a node remembers about other nodes: keys, dial addresses, when they were last seen and
 * how dialling them went. Bounded per distance bucket (like Kademlia's k-buckets) so a node's
 * memory stays small however large the mesh, and persisted through a PeerStore so a restarted
 * node finds its way back without the bootstrap it first used.
 */
import { fromHex, toHex } from './bytes.js';
import type { PeerInfo } from './codec.js';
import { commonPrefixLength, idFromPublicKey, type NodeId } from './id.js';

export interface PeerRecord {
  id: string;
  /** The id in binary form, kept beside the text to spare hot paths the parsing. */
  idBytes: NodeId;
  publicKey: Uint8Array;
  addrs: string[];
  caps: string[];
  /** Wall-clock ms when we last heard of or from it. */
  lastSeen: number;
  /** Wall-clock ms of the last successful link, 0 if never. */
  lastSuccess: number;
  successes: number;
  /** Failed dials since the last success. */
  failures: number;
  rttMs?: number;
}

/** Peer records as stored: plain JSON values only. */
export interface StoredPeer {
  publicKey: string;
  addrs: string[];
  caps: string[];
  lastSeen: number;
  lastSuccess: number;
  successes: number;
  failures: number;
  rttMs?: number;
}

/** Where a node keeps its peer memory between runs: IndexedDB, a JSON file, or nothing. */
export interface PeerStore {
  load(): Promise<StoredPeer[]>;
  save(peers: StoredPeer[]): Promise<void>;
}

export const PER_BUCKET = 8;

/**
 * Whether a remembered (not linked) peer may be named to others, in lookup answers and in
 * answers to Asks: only one that has not failed and that has an address the asker can check.
 * A peer without an address (a browser) is reached only through a live link of its own, and a
 * node that is not linked to it cannot tell whether it still exists: departed browsers handed
 * out to a newcomer filled its dial slots with WebRTC dials that could only time out (15 s
 * each), and its link to a live browser waited behind them (measured in the network lab).
 */
export function mayName(r: PeerRecord): boolean {
  return r.failures === 0 && r.addrs.length > 0;
}
/** Dial failures after which a record is forgotten. */
export const MAX_FAILURES = 3;

export class PeerMemory {
  private records = new Map<string, PeerRecord>();
  private buckets = new Map<number, Set<string>>();
  dirty = false;

  constructor(
    private readonly self: NodeId,
    private readonly isPinned: (id: string) => boolean = () => false,
  ) {}

  get size(): number {
    return this.records.size;
  }

  get(id: string): PeerRecord | undefined {
    return this.records.get(id);
  }

  all(): IterableIterator<PeerRecord> {
    return this.records.values();
  }

  /** The records in one distance bucket of ours. */
  inBucket(bucket: number): PeerRecord[] {
    return [...(this.buckets.get(bucket) ?? [])].map((id) => this.records.get(id)!);
  }

  /**
   * Learns of a peer (from a hello, a lookup reply or a referral). Returns the record if kept.
   * What others say of a peer may be partial, so an empty address or capability list from them
   * keeps what we knew; what the peer itself said in a proven handshake (`firsthand`) replaces
   * it, so a node that lost WebRTC is not dialled over WebRTC again.
   */
  learn(info: PeerInfo, now: number, firsthand = false): PeerRecord | undefined {
    const idBytes = idFromPublicKey(info.publicKey);
    const id = toHex(idBytes);
    if (idBytes.every((b, i) => b === this.self[i])) return undefined;
    let rec = this.records.get(id);
    if (rec) {
      rec.lastSeen = Math.max(rec.lastSeen, now);
      if (firsthand || info.addrs.length > 0) rec.addrs = info.addrs;
      if (firsthand || info.caps.length > 0) rec.caps = info.caps;
      this.dirty = true;
      return rec;
    }
    rec = { id, idBytes, publicKey: info.publicKey, addrs: info.addrs, caps: info.caps, lastSeen: now, lastSuccess: 0, successes: 0, failures: 0 };
    return this.insert(rec, idBytes);
  }

  succeeded(id: string, now: number, rttMs?: number): void {
    const rec = this.records.get(id);
    if (!rec) return;
    rec.lastSuccess = now;
    rec.lastSeen = now;
    rec.successes++;
    rec.failures = 0;
    if (rttMs !== undefined) rec.rttMs = rttMs;
    this.dirty = true;
  }

  /** Counts a failed dial; forgets the record after MAX_FAILURES in a row. */
  failed(id: string): void {
    const rec = this.records.get(id);
    if (!rec) return;
    rec.failures++;
    this.dirty = true;
    if (rec.failures >= MAX_FAILURES && !this.isPinned(id)) this.forget(id);
  }

  forget(id: string): void {
    if (!this.records.delete(id)) return;
    for (const set of this.buckets.values()) set.delete(id);
    this.dirty = true;
  }

  private insert(rec: PeerRecord, idBytes: NodeId): PeerRecord | undefined {
    const b = commonPrefixLength(this.self, idBytes);
    let set = this.buckets.get(b);
    if (!set) this.buckets.set(b, (set = new Set()));
    if (set.size >= PER_BUCKET) {
      // Make room by forgetting the least proven record of this bucket, unless the new one is worse.
      let worst: PeerRecord | undefined;
      for (const id of set) {
        const r = this.records.get(id)!;
        if (this.isPinned(id)) continue;
        if (!worst || score(r) < score(worst)) worst = r;
      }
      if (!worst || score(worst) > score(rec)) return undefined;
      this.forget(worst.id);
    }
    set.add(rec.id);
    this.records.set(rec.id, rec);
    this.dirty = true;
    return rec;
  }

  /** The records to dial first after a restart: those that worked most recently. */
  mostRecentlyUseful(limit: number): PeerRecord[] {
    return [...this.records.values()]
      .filter((r) => r.successes > 0)
      .sort((a, b) => b.lastSuccess - a.lastSuccess)
      .slice(0, limit);
  }

  toStored(): StoredPeer[] {
    return [...this.records.values()].map((r) => ({
      publicKey: toHex(r.publicKey),
      addrs: r.addrs,
      caps: r.caps,
      lastSeen: r.lastSeen,
      lastSuccess: r.lastSuccess,
      successes: r.successes,
      failures: r.failures,
      ...(r.rttMs === undefined ? {} : { rttMs: r.rttMs }),
    }));
  }

  /** Restores stored records, skipping (and counting) any that do not validate. */
  restore(stored: unknown[]): { restored: number; skipped: number } {
    let restored = 0;
    let skipped = 0;
    for (const s of stored) {
      const rec = parseStored(s);
      if (!rec) {
        skipped++;
        continue;
      }
      const kept = this.learn({ publicKey: rec.publicKey, addrs: rec.addrs, caps: rec.caps }, rec.lastSeen);
      if (kept) {
        Object.assign(kept, { lastSuccess: rec.lastSuccess, successes: rec.successes, failures: rec.failures, rttMs: rec.rttMs });
        restored++;
      }
    }
    this.dirty = false;
    return { restored, skipped };
  }
}

function score(r: Pick<PeerRecord, 'successes' | 'failures' | 'lastSeen'>): number {
  return r.successes * 10 - r.failures * 20 + r.lastSeen / 1e12;
}

function parseStored(s: unknown): Omit<PeerRecord, 'id' | 'idBytes'> | undefined {
  if (typeof s !== 'object' || s === null) return undefined;
  const o = s as Record<string, unknown>;
  const publicKey = typeof o.publicKey === 'string' ? fromHex(o.publicKey) : undefined;
  if (!publicKey || publicKey.length !== 32) return undefined;
  const strings = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
  const addrs = strings(o.addrs);
  const caps = strings(o.caps);
  const lastSeen = num(o.lastSeen);
  const lastSuccess = num(o.lastSuccess);
  const successes = num(o.successes);
  const failures = num(o.failures);
  if (!addrs || !caps || lastSeen === undefined || lastSuccess === undefined || successes === undefined || failures === undefined) return undefined;
  return { publicKey, addrs, caps, lastSeen, lastSuccess, successes, failures, rttMs: num(o.rttMs) };
}
