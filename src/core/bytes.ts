/** Small byte helpers shared by the codec, ids and crypto. */

const HEX_CODES = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const h = i.toString(16).padStart(2, '0');
  HEX_CODES[2 * i] = h.charCodeAt(0);
  HEX_CODES[2 * i + 1] = h.charCodeAt(1);
}
// Declared here so core compiles without DOM types; every JavaScript runtime we target has them.
declare const TextEncoder: { new (): { encode(text: string): Uint8Array } };
declare const TextDecoder: { new (): { decode(bytes: Uint8Array): string } };
const asciiDecoder = new TextDecoder();
const scratch = new Uint8Array(128);

/**
 * Lowercase hex, decoded natively from ASCII codes. As fast as appending two characters at a
 * time, but flat: appending makes a rope of one piece per byte, which costs memory on every id
 * a node keeps.
 */
export function toHex(bytes: Uint8Array): string {
  const codes = bytes.length * 2 <= scratch.length ? scratch.subarray(0, bytes.length * 2) : new Uint8Array(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]! * 2;
    codes[2 * i] = HEX_CODES[b]!;
    codes[2 * i + 1] = HEX_CODES[b + 1]!;
  }
  return asciiDecoder.decode(codes);
}

export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const encoder = new TextEncoder();
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
