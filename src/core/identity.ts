/**
 * A node's identity: an Ed25519 key pair held through WebCrypto, so the same code runs in
 * Node 20, in browsers and in workers. In browsers the private key can stay non-extractable
 * and be stored as a CryptoKey in IndexedDB; in Node it is kept as PKCS#8 in the data dir.
 */
import { bytesEqual, concatBytes, toHex } from './bytes.js';
import { MeshError } from './errors.js';
import { idFromPublicKey, type NodeId } from './id.js';
import { subtle, type CryptoKeyLike, type CryptoKeyPairLike } from './webcrypto.js';

const ED25519 = { name: 'Ed25519' };
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
// PKCS#8 wrapping of a bare 32-byte Ed25519 seed (RFC 8410): the fixed header, then the seed.
const PKCS8_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export class Identity {
  private constructor(
    readonly id: NodeId,
    readonly publicKey: Uint8Array,
    readonly privateKey: CryptoKeyLike,
  ) {}

  /** A fresh identity. `extractable: false` keeps the private key inside the runtime. */
  static async generate(options: { extractable?: boolean } = {}): Promise<Identity> {
    const pair = await subtle().generateKey(ED25519, options.extractable ?? true, ['sign', 'verify']);
    return Identity.fromKeyPair(pair);
  }

  /** Rebuilds an identity from a stored key pair (for example one read back from IndexedDB). */
  static async fromKeyPair(pair: CryptoKeyPairLike): Promise<Identity> {
    const publicKey = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
    return new Identity(idFromPublicKey(publicKey), publicKey, pair.privateKey);
  }

  /** Deterministic identity from a 32-byte seed: used by the simulator and by tests. */
  static async fromSeed(seed: Uint8Array): Promise<Identity> {
    if (seed.length !== 32) throw MeshError.invalid('an Ed25519 seed is 32 bytes');
    return Identity.fromPkcs8(concatBytes(PKCS8_PREFIX, seed));
  }

  static async fromPkcs8(pkcs8: Uint8Array): Promise<Identity> {
    const s = subtle();
    const privateKey = await s.importKey('pkcs8', pkcs8, ED25519, true, ['sign']);
    const jwk = await s.exportKey('jwk', privateKey);
    if (!jwk.x) throw new MeshError('STORE_CORRUPT', 'the stored private key has no public part');
    const publicKey = base64UrlDecode(jwk.x);
    return new Identity(idFromPublicKey(publicKey), publicKey, privateKey);
  }

  async exportPkcs8(): Promise<Uint8Array> {
    return new Uint8Array(await subtle().exportKey('pkcs8', this.privateKey));
  }

  get idText(): string {
    return toHex(this.id);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await subtle().sign(ED25519, this.privateKey, data));
  }
}

/** Imported public keys, kept because importKey costs as much as a hash on every packet. */
const keyCache = new Map<string, Promise<CryptoKeyLike>>();
// Large enough for every key a big server or a 10 000-node simulation meets often.
const KEY_CACHE_MAX = 32_768;

function importPublicKey(publicKey: Uint8Array): Promise<CryptoKeyLike> {
  const k = toHex(publicKey);
  let key = keyCache.get(k);
  if (!key) {
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
    key = subtle().importKey('raw', publicKey, ED25519, true, ['verify']);
    keyCache.set(k, key);
  }
  return key;
}

/** Starts importing `publicKey` for a verification to come, so that it waits for the verification alone. */
export function prepareVerify(publicKey: Uint8Array): void {
  if (publicKey.length === PUBLIC_KEY_BYTES) importPublicKey(publicKey).catch(() => undefined);
}

/** True when `signature` is `publicKey`'s signature of `data`; false for any malformed input. */
export async function verifySignature(publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return await subtle().verify(ED25519, await importPublicKey(publicKey), signature, data);
  } catch {
    return false;
  }
}

/** True when `publicKey` hashes to `id`: the only way a key may claim an id. */
export function keyMatchesId(publicKey: Uint8Array, id: NodeId): boolean {
  return publicKey.length === PUBLIC_KEY_BYTES && bytesEqual(idFromPublicKey(publicKey), id);
}

function base64UrlDecode(text: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const ch of text.replace(/=+$/, '')) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new MeshError('STORE_CORRUPT', 'malformed base64url in key');
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((buffer >> bits) & 0xff);
    }
  }
  return new Uint8Array(out);
}
