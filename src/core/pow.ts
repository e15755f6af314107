/**
 * Optional proof of work on identities, against cheap Sybils. A node's id is the hash of its
 * key, so nobody picks an id; with `powBits` = b a mesh also asks that SHA-256 of a label and
 * the key start with b zero bits. Making an admissible key costs about 2^b key generations
 * (once per identity, kept for good); checking one costs a single hash, in the hello, before
 * any signature is checked. The id itself stays uniform over the id space: the work is in a
 * separate hash, so routing buckets are unaffected. See docs/SECURITY.md for figures.
 */
import { sha256 } from '@noble/hashes/sha256';
import { concatBytes, utf8 } from './bytes.js';
import { MeshError } from './errors.js';
import { Identity } from './identity.js';

const POW_LABEL = utf8('meshwork/1 identity work');
/** More than this is days of key generation per identity: surely a mistake. */
export const MAX_POW_BITS = 32;

/** Leading zero bits of the key's work hash. */
export function workBits(publicKey: Uint8Array): number {
  const h = sha256(concatBytes(POW_LABEL, publicKey));
  let bits = 0;
  for (const byte of h) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

export function hasWork(publicKey: Uint8Array, bits: number): boolean {
  return bits <= 0 || workBits(publicKey) >= bits;
}

export function checkPowBits(bits: number): number {
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_POW_BITS) throw MeshError.invalid(`powBits must be a whole number from 0 to ${MAX_POW_BITS}`);
  return bits;
}

/**
 * Generates identities until one carries `bits` of work. `generate` is Identity.generate by
 * default (a browser passes `{ extractable: false }` through it).
 */
export async function generateWithWork(bits: number, generate: () => Promise<Identity> = () => Identity.generate()): Promise<Identity> {
  checkPowBits(bits);
  for (;;) {
    const identity = await generate();
    if (hasWork(identity.publicKey, bits)) return identity;
  }
}
