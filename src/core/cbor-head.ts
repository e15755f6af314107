/**
 * Minimal definite CBOR heads, written as cborg writes them and read only in that one encoding,
 * byte by byte in a buffer the caller owns: the data plane's frames (sealed-frame.ts) and
 * payloads (payload-fast.ts) have one per field of every packet, so nothing here allocates.
 */

/** CBOR major types, as the data plane's frames and payloads use them. */
export const UINT = 0;
export const BYTES = 2;
export const TEXT = 3;
export const ARRAY = 4;
const TWO_32 = 0x100000000;

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
  if (n < TWO_32) {
    out[at] = m | 26;
    writeUint32(out, at + 1, n);
    return at + 5;
  }
  out[at] = m | 27;
  const hi = Math.floor(n / TWO_32);
  writeUint32(out, at + 1, hi);
  writeUint32(out, at + 5, n - hi * TWO_32);
  return at + 9;
}

function writeUint32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

/**
 * The read cursor, as module state rather than an object or a closure per frame: a reader sets it
 * (`seek`), then reads a whole frame or payload without calling out, so one position serves every
 * reader, and a round trip allocates nothing for it (in Firefox what a tab allocates per message
 * lengthens the way of its packets: docs/BENCHMARKS.md, "Firefox: what the tab allocates").
 */
let pos = 0;

/** Moves the read cursor to `at`. */
export function seek(at: number): void {
  pos = at;
}

/** Where the read cursor is. */
export function tell(): number {
  return pos;
}

/** The byte at the cursor (undefined past the end), the cursor moved past it. */
export function readByte(b: Uint8Array): number | undefined {
  return b[pos++];
}

/** The argument of a minimal head of `major` at the cursor (moved past it), or -1. */
export function readHead(b: Uint8Array, major: number): number {
  const first = b[pos];
  if (first === undefined || first >> 5 !== major) return -1;
  const info = first & 31;
  if (info < 24) {
    pos += 1;
    return info;
  }
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (size === 0 || pos + 1 + size > b.length) return -1;
  let n = 0;
  for (let i = 1; i <= size; i++) n = n * 256 + b[pos + i]!;
  // Minimal heads only (what the strict decoders require), and no integer past 2^53 - 1.
  if (n < (size === 1 ? 24 : size === 2 ? 0x100 : size === 4 ? 0x10000 : TWO_32) || n > Number.MAX_SAFE_INTEGER) return -1;
  pos += 1 + size;
  return n;
}

/** A byte string (of `length` bytes if given) at the cursor as a view into `b` (the cursor moved past it), or undefined. */
export function readBytes(b: Uint8Array, length?: number): Uint8Array | undefined {
  const n = readHead(b, BYTES);
  if (n < 0 || (length !== undefined && n !== length) || pos + n > b.length) return undefined;
  const view = b.subarray(pos, pos + n);
  pos += n;
  return view;
}
