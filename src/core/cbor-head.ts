/**
 * Minimal definite CBOR heads, written as cborg writes them, byte by byte into a buffer the caller
 * owns: the data plane's frame writer (sealed-frame.ts) and payload writer (payload-fast.ts) write
 * one per field of every packet, so nothing here allocates.
 */

/** Bytes of a CBOR head for `n` (minimal, as cborg writes it). */
export function headBytes(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

/** Writes a minimal CBOR head of `major` for `n` (a safe integer >= 0) at `at`; where it ends. */
export function writeHead(out: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) {
    out[at] = m | n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = m | 24;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = m | 25;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  // Byte by byte: a DataView here was an allocation per packet id (ids are past 2^32).
  if (n < 0x100000000) {
    out[at] = m | 26;
    writeUint32(out, at + 1, n);
    return at + 5;
  }
  out[at] = m | 27;
  const hi = Math.floor(n / 0x100000000);
  writeUint32(out, at + 1, hi);
  writeUint32(out, at + 5, n - hi * 0x100000000);
  return at + 9;
}

function writeUint32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}
