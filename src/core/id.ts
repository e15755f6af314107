/**
 * Node ids: 32 bytes, the SHA-256 of the node's Ed25519 public key. The one text form is
 * lowercase hex (64 characters), used in every API, log line and JSON document.
 */
import { sha256 } from '@noble/hashes/sha256';
import { fromHex, toHex } from './bytes.js';
import { MeshError } from './errors.js';

export const ID_BYTES = 32;
export const ID_BITS = ID_BYTES * 8;

/** A node id in its binary form. */
export type NodeId = Uint8Array;

// Hashing is synchronous on purpose: ids are derived on hot paths (every verified packet) and
// WebCrypto's digest is async with a per-call cost many times the hash itself.
export function idFromPublicKey(publicKey: Uint8Array): NodeId {
  return sha256(publicKey);
}

export function hashToId(data: Uint8Array): NodeId {
  return sha256(data);
}

export function idToText(id: NodeId): string {
  return toHex(id);
}

export function idFromText(text: string): NodeId {
  const bytes = typeof text === 'string' ? fromHex(text.toLowerCase()) : undefined;
  if (!bytes || bytes.length !== ID_BYTES) {
    throw MeshError.invalid(`not a node id: expected ${ID_BYTES * 2} hex characters, got ${JSON.stringify(text)}`);
  }
  return bytes;
}

export function isIdText(text: unknown): text is string {
  return typeof text === 'string' && text.length === ID_BYTES * 2 && /^[0-9a-f]+$/.test(text);
}

/** Short form for logs and UIs: never parse it back. */
export function shortId(id: NodeId | string): string {
  return (typeof id === 'string' ? id : toHex(id)).slice(0, 8);
}

/**
 * Compares the XOR distances d(a, target) and d(b, target) without allocating:
 * negative when a is closer, positive when b is closer, 0 when a equals b.
 */
export function compareDistance(a: NodeId, b: NodeId, target: NodeId): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const da = a[i]! ^ target[i]!;
    const db = b[i]! ^ target[i]!;
    if (da !== db) return da - db;
  }
  return 0;
}

/** Number of leading bits a and b share: the Kademlia bucket index of b as seen from a. */
export function commonPrefixLength(a: NodeId, b: NodeId): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return ID_BITS;
}

export function bitAt(id: NodeId, bit: number): number {
  return (id[bit >> 3]! >> (7 - (bit & 7))) & 1;
}

/** A random id in bucket `bucket` of `self`: shares exactly `bucket` leading bits with it. */
export function randomIdInBucket(self: NodeId, bucket: number, randomBytes: Uint8Array): NodeId {
  const out = randomBytes.slice(0, ID_BYTES);
  for (let bit = 0; bit <= bucket && bit < ID_BITS; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    const want = bit < bucket ? self[byte]! & mask : ~self[byte]! & mask;
    out[byte] = (out[byte]! & ~mask) | want;
  }
  return out;
}
