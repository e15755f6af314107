/**
 * Flood control: token buckets per link (frames and bytes, checked before a frame is even
 * decoded) and per source id (routed packets, whichever link brings them). A frame over either
 * budget is dropped and counted (`rate:link`, `rate:link-bytes`, `rate:source`), never queued:
 * queuing would turn a flood into memory. The per-source table is bounded; a source pushed out
 * of it starts again with a full bucket, so rotating through forged source ids buys an
 * attacker nothing the per-link budget does not already cap.
 */
import { BoundedMap } from './dedupe.js';
import { MeshError } from './errors.js';

export interface RateLimits {
  /** Frames per second one link may send us, sustained. Default 20 000. */
  linkFramesPerSec: number;
  /** Frames one link may send in a burst above the sustained rate. Default 40 000. */
  linkBurstFrames: number;
  /** Bytes per second one link may send us, sustained. Default 64 MiB. */
  linkBytesPerSec: number;
  /** Bytes one link may send in a burst. Default 128 MiB. */
  linkBurstBytes: number;
  /** Routed packets per second from one source id, over all links. Default 5 000. */
  sourcePacketsPerSec: number;
  /** Packets one source may send in a burst. Default 10 000. */
  sourceBurstPackets: number;
  /** Source ids whose buckets are remembered at once. Default 4 096. */
  trackedSources: number;
}

/**
 * Far above what one honest peer sends: a server-to-server link carries the transit of many
 * nodes, and one browser's bulk transfer or request loop reaches a few thousand packets a
 * second (the first defaults, 200 packets/s per source, stalled the benchmark's request loop).
 * They stop a peer that floods as fast as it can; tighter limits suit meshes with known traffic.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  linkFramesPerSec: 20_000,
  linkBurstFrames: 40_000,
  linkBytesPerSec: 64 * 2 ** 20,
  linkBurstBytes: 128 * 2 ** 20,
  sourcePacketsPerSec: 5_000,
  sourceBurstPackets: 10_000,
  trackedSources: 4_096,
};

/** A token bucket: `rate` tokens a second, at most `burst` saved up. Starts full. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Takes `n` tokens if there are that many; false (and takes none) otherwise. */
  take(now: number, n = 1): boolean {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
      this.at = now;
    }
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/** Checks limits in order; returns the reason a frame is over its budget, or undefined. */
export class FloodGuard {
  readonly limits: RateLimits;
  private readonly links = new WeakMap<object, { frames: TokenBucket; bytes: TokenBucket }>();
  private readonly sources: BoundedMap<string, TokenBucket>;

  constructor(limits: Partial<RateLimits> = {}) {
    this.limits = { ...DEFAULT_RATE_LIMITS, ...limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!(typeof v === 'number' && v > 0)) throw MeshError.invalid(`rate limit ${k} must be a positive number (Infinity disables it)`);
    }
    this.sources = new BoundedMap(this.limits.trackedSources);
  }

  /** A frame of `size` bytes from the link identified by `link`. */
  frame(link: object, size: number, now: number): 'rate:link' | 'rate:link-bytes' | undefined {
    let b = this.links.get(link);
    if (!b) {
      const l = this.limits;
      b = { frames: new TokenBucket(l.linkFramesPerSec, l.linkBurstFrames, now), bytes: new TokenBucket(l.linkBytesPerSec, l.linkBurstBytes, now) };
      this.links.set(link, b);
    }
    if (!b.frames.take(now)) return 'rate:link';
    if (!b.bytes.take(now, size)) return 'rate:link-bytes';
    return undefined;
  }

  /** A routed packet claiming to come from `source` (hex id). */
  packet(source: string, now: number): 'rate:source' | undefined {
    let b = this.sources.get(source);
    if (!b) {
      b = new TokenBucket(this.limits.sourcePacketsPerSec, this.limits.sourceBurstPackets, now);
      this.sources.set(source, b);
    }
    return b.take(now) ? undefined : 'rate:source';
  }
}
