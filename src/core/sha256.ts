/**
 * SHA-256 (FIPS 180-4), synchronous, in a few lines instead of a library: ids and app ids are
 * hashed on hot paths where WebCrypto's digest would be a promise (id.ts), and the browser node
 * downloads every byte of its code (docs/BENCHMARKS.md, "bundleGzipBytes").
 */

const K = new Uint32Array(64);
const IV = new Uint32Array(8);
// The standard's constants: the first 32 bits of the fractional parts of the cube roots of the
// first 64 primes (K) and of the square roots of the first 8 (IV). Computed, not listed: each
// lies at least 0.005 of its last bit away from a rounding edge, so an error of a few ulps in
// Math.cbrt could not change one (and any wrong one fails every hash in test/core/sha256.test.ts).
for (let n = 2, i = 0; i < 64; n++) {
  let prime = true;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) prime = false;
  if (!prime) continue;
  if (i < 8) IV[i] = (Math.sqrt(n) % 1) * 2 ** 32;
  K[i++] = (Math.cbrt(n) % 1) * 2 ** 32;
}
/** The message schedule, reused by every call (nothing here is re-entered). */
const W = new Uint32Array(64);

const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));

export function sha256(data: Uint8Array): Uint8Array {
  // The message, a 1 bit, zeros, and its length in bits as 64 bits: a whole number of 64-byte blocks.
  const n = data.length;
  const m = new Uint8Array((n + 72) & ~63);
  m.set(data);
  m[n] = 0x80;
  const bitsHigh = Math.floor(n / 2 ** 29);
  const bitsLow = n * 8;
  for (let i = 1; i <= 4; i++) {
    m[m.length - i] = bitsLow >>> (8 * (i - 1));
    m[m.length - 4 - i] = bitsHigh >>> (8 * (i - 1));
  }
  const H = IV.slice();
  for (let block = 0; block < m.length; block += 64) {
    for (let i = 0, j = block; i < 16; i++, j += 4) W[i] = (m[j]! << 24) | (m[j + 1]! << 16) | (m[j + 2]! << 8) | m[j + 3]!;
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15]!;
      const y = W[i - 2]!;
      W[i] = (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) + (rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10)) + W[i - 7]! + W[i - 16]!;
    }
    let a = H[0]!, b = H[1]!, c = H[2]!, d = H[3]!, e = H[4]!, f = H[5]!, g = H[6]!, h = H[7]!;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    H[0] = H[0]! + a;
    H[1] = H[1]! + b;
    H[2] = H[2]! + c;
    H[3] = H[3]! + d;
    H[4] = H[4]! + e;
    H[5] = H[5]! + f;
    H[6] = H[6]! + g;
    H[7] = H[7]! + h;
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = H[i >> 2]! >>> (24 - 8 * (i & 3));
  return out;
}
