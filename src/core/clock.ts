/**
 * Time and randomness reach the core only through these interfaces, so the simulator can run
 * the very same code under a virtual clock with seeded randomness.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic within one run. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

export interface Random {
  bytes(n: number): Uint8Array;
  /** Uniform in [0, 1). */
  float(): number;
}

interface TimerGlobals {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  performance?: { now(): number };
  crypto: { getRandomValues<T extends Uint8Array | Uint32Array>(array: T): T };
}
const g = globalThis as unknown as TimerGlobals;

/** Real time, using the timers every JavaScript runtime has. */
export const systemClock: Clock = {
  now: () => (g.performance ? g.performance.now() : Date.now()),
  setTimeout(fn, ms) {
    const handle = g.setTimeout(fn, ms);
    // In Node a pending maintenance timer must not keep the process alive on its own.
    (handle as { unref?: () => void }).unref?.();
    return { cancel: () => g.clearTimeout(handle) };
  },
};

export const systemRandom: Random = {
  bytes(n) {
    return g.crypto.getRandomValues(new Uint8Array(n));
  },
  float() {
    const b = g.crypto.getRandomValues(new Uint32Array(2));
    return (b[0]! * 2 ** 21 + (b[1]! >>> 11)) / 2 ** 53;
  },
};

/** A small, fast, seedable generator (xoshiro128**) for deterministic simulation. */
export class SeededRandom implements Random {
  private s = new Uint32Array(4);

  constructor(seed: number | string) {
    let h = 2166136261 >>> 0;
    const text = String(seed);
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
    for (let i = 0; i < 4; i++) {
      h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
      h = Math.imul(h ^ (h >>> 13), 3266489909) >>> 0;
      h = (h ^ (h >>> 16)) >>> 0;
      this.s[i] = h || 0x9e3779b9;
    }
  }

  private next(): number {
    const s = this.s;
    let s0 = s[0]!;
    let s1 = s[1]!;
    let s2 = s[2]!;
    let s3 = s[3]!;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    return result;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let v = this.next();
      for (let j = 0; j < 4 && i + j < n; j++, v >>>= 8) out[i + j] = v & 0xff;
    }
    return out;
  }

  float(): number {
    return (this.next() * 2 ** 21 + (this.next() >>> 11)) / 2 ** 53;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
