/**
 * The CBOR that Meshwork speaks (RFC 8949), written here instead of a general library: the
 * browser node downloads every byte of its codec (docs/BENCHMARKS.md, "bundleGzipBytes").
 *
 * `encodeCbor` writes numbers, text, byte strings, booleans, null and arrays of them, each with
 * the shortest head (a whole number within 2^53 as an integer, any other number as a 64-bit
 * float). `decodeCborStrict` reads one item and refuses, with a reason, anything but a
 * well-formed, definite-length, minimally encoded item: no tags, no undefined, no NaN or
 * infinities, no integers beyond 2^53, no simple values but false, true and null, no map with a
 * repeated key, no text that is not UTF-8, nothing after the item, no nesting deeper than any
 * Meshwork message needs, and no array or map that declares more items than bytes remain. What
 * it accepts reads exactly as cborg 6 read it with the options this project used (strict,
 * useMaps), behind the strict tokenizer it had; test/core/cbor.test.ts checks both directions
 * against cborg itself.
 */
import { MAX_CBOR_DEPTH } from './limits.js';

/** Thrown by the decoder, caught by decodeCbor (codec.ts): `reason` is what the drop is counted as. */
export class CborRefused extends Error {
  constructor(readonly reason: 'invalid-utf8' | 'too-deep' | 'malformed-cbor') {
    super(reason);
  }
}

// Declared here so core compiles without DOM types; every JavaScript runtime we target has them.
declare const TextEncoder: { new (): { encode(text: string): Uint8Array } };
declare const TextDecoder: { new (label: string, options: { fatal: boolean }): { decode(bytes: Uint8Array): string } };
const utf8Encoder = new TextEncoder();
/** Fatal, so bad bytes are refused rather than read as U+FFFD; like cborg's, it drops a leading BOM. */
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ------------------------------------------------------------------------------------ encoding

/** One buffer for every encode, grown as needed: the result is a copy of the part written. */
let out = new Uint8Array(2048);
let view = new DataView(out.buffer);
let at = 0;
/** A buffer grown past this is let go after the encode that needed it. */
const KEEP_BYTES = 256 * 1024;

function reserve(n: number): void {
  if (at + n <= out.length) return;
  const bigger = new Uint8Array(Math.max(out.length * 2, at + n));
  bigger.set(out.subarray(0, at));
  out = bigger;
  view = new DataView(out.buffer);
}

function head(major: number, n: number): void {
  reserve(9);
  const m = major << 5;
  if (n < 24) out[at++] = m | n;
  else if (n < 0x100) {
    out[at++] = m | 24;
    out[at++] = n;
  } else if (n < 0x10000) {
    out[at++] = m | 25;
    view.setUint16(at, n);
    at += 2;
  } else if (n < 0x100000000) {
    out[at++] = m | 26;
    view.setUint32(at, n);
    at += 4;
  } else {
    out[at++] = m | 27;
    view.setUint32(at, Math.floor(n / 0x100000000));
    view.setUint32(at + 4, n >>> 0);
    at += 8;
  }
}

function put(bytes: Uint8Array): void {
  reserve(bytes.length);
  out.set(bytes, at);
  at += bytes.length;
}

function write(v: unknown): void {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) head(v < 0 ? 1 : 0, v < 0 ? -1 - v : v);
    else {
      reserve(9);
      out[at++] = 0xfb;
      view.setFloat64(at, v);
      at += 8;
    }
  } else if (typeof v === 'string') {
    // Short ASCII text (labels, addresses, capabilities) is copied as is; the rest is encoded.
    let ascii = v.length <= 64;
    for (let i = 0; ascii && i < v.length; i++) ascii = v.charCodeAt(i) < 0x80;
    if (!ascii) {
      const bytes = utf8Encoder.encode(v);
      head(3, bytes.length);
      return put(bytes);
    }
    head(3, v.length);
    reserve(v.length);
    for (let i = 0; i < v.length; i++) out[at++] = v.charCodeAt(i);
  } else if (v instanceof Uint8Array) {
    head(2, v.length);
    put(v);
  } else if (Array.isArray(v)) {
    head(4, v.length);
    for (const x of v) write(x);
  } else if (typeof v === 'boolean' || v === null) {
    reserve(1);
    out[at++] = v === null ? 0xf6 : v ? 0xf5 : 0xf4;
  } else {
    throw new TypeError(`CBOR: cannot encode ${typeof v}`);
  }
}

/** `value` as CBOR, after the byte `lead` if given (a frame's version byte). */
export function encodeCbor(value: unknown, lead?: number): Uint8Array {
  at = 0;
  if (lead !== undefined) out[at++] = lead;
  write(value);
  const bytes = out.slice(0, at);
  if (out.length > KEEP_BYTES) {
    out = new Uint8Array(2048);
    view = new DataView(out.buffer);
  }
  return bytes;
}

// ------------------------------------------------------------------------------------ decoding

const EMPTY = new Uint8Array(0);
let data: Uint8Array = EMPTY;
let pos = 0;

function malformed(): never {
  throw new CborRefused('malformed-cbor');
}

/** The argument of a head whose first byte had these low bits: minimal encodings only, at most 2^53 - 1. */
function argument(info: number): number {
  if (info < 24) return info;
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (size === 0 || pos + size > data.length) malformed();
  let n = 0;
  for (let i = 0; i < size; i++) n = n * 256 + data[pos++]!;
  // A value that fits a shorter head must use it (1 byte: from 24; 2: from 2^8; 4: from 2^16; 8: from 2^32).
  if (n < (size === 1 ? 24 : 2 ** (size * 4)) || n > Number.MAX_SAFE_INTEGER) malformed();
  return n;
}

function half(h: number): number {
  const exp = (h >> 10) & 31;
  const mant = h & 1023;
  const v = exp === 0 ? mant * 2 ** -24 : exp === 31 ? NaN : (mant + 1024) * 2 ** (exp - 25);
  return h & 0x8000 ? -v : v;
}

/** One item at `depth` non-empty arrays and maps deep. */
function item(depth: number): unknown {
  if (pos >= data.length) malformed();
  const first = data[pos++]!;
  const major = first >> 5;
  const info = first & 31;
  if (major === 7) {
    if (info >= 20 && info <= 22) return info === 22 ? null : info === 21;
    const size = info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    // Undefined, the other simple values, the break code (of indefinite lengths, refused) and reserved codes.
    if (size === 0 || pos + size > data.length) malformed();
    const v = size === 2 ? half((data[pos]! << 8) | data[pos + 1]!) : size === 4 ? view32(pos) : view64(pos);
    pos += size;
    if (!Number.isFinite(v)) malformed();
    return v;
  }
  if (major === 6) malformed(); // tags: none is used
  const n = argument(info);
  switch (major) {
    case 0:
      return n;
    case 1:
      if (n === Number.MAX_SAFE_INTEGER) malformed(); // -2^53: beyond the safe range
      return -1 - n;
    case 2:
    case 3: {
      if (n > data.length - pos) malformed();
      const start = pos;
      pos += n;
      return major === 2 ? data.slice(start, pos) : text(start, pos);
    }
    default: {
      // Every item takes at least one byte: a declared length beyond the rest of the input is a lie.
      if ((major === 5 ? 2 * n : n) > data.length - pos) malformed();
      if (n > 0 && depth >= MAX_CBOR_DEPTH) throw new CborRefused('too-deep');
      if (major === 4) {
        const list: unknown[] = [];
        for (let i = 0; i < n; i++) list.push(item(depth + 1));
        return list;
      }
      const map = new Map<unknown, unknown>();
      for (let i = 0; i < n; i++) {
        const key = item(depth + 1);
        if (map.has(key)) malformed();
        map.set(key, item(depth + 1));
      }
      return map;
    }
  }
}

function view32(p: number): number {
  return new DataView(data.buffer, data.byteOffset + p, 4).getFloat32(0);
}
function view64(p: number): number {
  return new DataView(data.buffer, data.byteOffset + p, 8).getFloat64(0);
}

function text(start: number, end: number): string {
  if (end - start < 32) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = data[i]!;
      if (c > 0x7f) return utf8(start, end);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8(start, end);
}

function utf8(start: number, end: number): string {
  try {
    return utf8Decoder.decode(data.subarray(start, end));
  } catch {
    throw new CborRefused('invalid-utf8');
  }
}

/**
 * The one CBOR item in `bytes`, or a thrown CborRefused. Byte strings in the result are copies,
 * never views into `bytes`.
 */
export function decodeCborStrict(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) malformed();
  // A Node Buffer's slice would be a view: read it as a plain Uint8Array, as cborg did.
  data = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = 0;
  try {
    const value = item(0);
    if (pos !== data.length) malformed();
    return value;
  } finally {
    data = EMPTY; // not kept alive by the decoder
  }
}
