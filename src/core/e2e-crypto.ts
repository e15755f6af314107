/**
 * The cryptography of end-to-end encryption, through WebCrypto only (Node 20, Chromium,
 * Firefox): an X25519 key pair per node, one AES-GCM-256 key per pair of nodes derived with
 * HKDF-SHA-256 from their X25519 shared secret, and sealing with a random 96-bit nonce.
 *
 * The slice of SubtleCrypto used here is typed locally, like webcrypto.ts does for signing, so
 * `core/` still compiles without DOM or Node type libraries.
 */
import { encode } from 'cborg';
import { concatBytes, toHex, utf8 } from './bytes.js';
import type { CryptoKeyLike, CryptoKeyPairLike } from './webcrypto.js';

interface E2eSubtle {
  generateKey(alg: { name: string }, extractable: boolean, usages: string[]): Promise<CryptoKeyPairLike>;
  importKey(format: 'raw', data: Uint8Array, alg: { name: string }, extractable: boolean, usages: string[]): Promise<CryptoKeyLike>;
  exportKey(format: 'raw', key: CryptoKeyLike): Promise<ArrayBuffer>;
  deriveBits(alg: { name: 'X25519'; public: CryptoKeyLike }, key: CryptoKeyLike, length: number): Promise<ArrayBuffer>;
  deriveKey(
    alg: { name: 'HKDF'; hash: string; salt: Uint8Array; info: Uint8Array },
    key: CryptoKeyLike,
    derived: { name: 'AES-GCM'; length: number },
    extractable: boolean,
    usages: string[],
  ): Promise<CryptoKeyLike>;
  encrypt(alg: { name: 'AES-GCM'; iv: Uint8Array; additionalData: Uint8Array }, key: CryptoKeyLike, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(alg: { name: 'AES-GCM'; iv: Uint8Array; additionalData: Uint8Array }, key: CryptoKeyLike, data: Uint8Array): Promise<ArrayBuffer>;
}

interface CryptoGlobal {
  subtle: E2eSubtle;
  getRandomValues<T extends Uint8Array>(a: T): T;
}
const g = globalThis as unknown as { crypto: CryptoGlobal };

const X25519 = { name: 'X25519' };
export const E2E_KEY_BYTES = 32;
export const NONCE_BYTES = 12;
/** AES-GCM's authentication tag, appended to every ciphertext. */
export const TAG_BYTES = 16;
const HKDF_INFO = utf8('meshwork/1 e2e aes-256-gcm');

/**
 * A fresh X25519 key pair. The private key is non-extractable unless asked otherwise: browsers
 * store it as a CryptoKey in IndexedDB, so it never exists as bytes in script.
 */
export function generateE2eKeys(extractable = false): Promise<CryptoKeyPairLike> {
  return g.crypto.subtle.generateKey(X25519, extractable, ['deriveBits']);
}

export async function exportE2ePublicKey(pair: CryptoKeyPairLike): Promise<Uint8Array> {
  return new Uint8Array(await g.crypto.subtle.exportKey('raw', pair.publicKey));
}

/**
 * The AES-GCM key two nodes share. Both ends compute the same key: the salt and info list both
 * node ids and both X25519 keys in a fixed order, so the key belongs to exactly this pair of
 * identities and this pair of X25519 keys.
 */
export async function derivePairKey(
  mine: { id: Uint8Array; keys: CryptoKeyPairLike; publicKey: Uint8Array },
  theirs: { id: Uint8Array; publicKey: Uint8Array },
): Promise<CryptoKeyLike> {
  const s = g.crypto.subtle;
  const peerKey = await s.importKey('raw', theirs.publicKey, X25519, true, []);
  const shared = new Uint8Array(await s.deriveBits({ name: 'X25519', public: peerKey }, mine.keys.privateKey, 256));
  // An all-zero secret means a low-order public key: refuse it rather than derive a known key.
  if (shared.every((b) => b === 0)) throw new Error('X25519 produced an all-zero shared secret');
  const first = toHex(mine.id) < toHex(theirs.id);
  const [a, b] = first ? [mine, theirs] : [theirs, mine];
  const hkdf = await s.importKey('raw', shared, { name: 'HKDF' }, false, ['deriveKey']);
  return s.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: concatBytes(a.id, b.id), info: concatBytes(HKDF_INFO, a.publicKey, b.publicKey) },
    hkdf,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** Encrypts with a fresh random nonce; returns the nonce and the ciphertext (tag included). */
export async function seal(key: CryptoKeyLike, plaintext: Uint8Array, aad: Uint8Array): Promise<{ nonce: Uint8Array; ciphertext: Uint8Array }> {
  // From the platform's CSPRNG, never from the node's injected Random: the simulator's seeded
  // generator is predictable, and a repeated nonce under one key breaks AES-GCM.
  const nonce = g.crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const ciphertext = new Uint8Array(await g.crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, key, plaintext));
  return { nonce, ciphertext };
}

/** The plaintext, or undefined when the ciphertext, nonce or associated data were altered. */
export async function open(key: CryptoKeyLike, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await g.crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, key, ciphertext));
  } catch {
    return undefined;
  }
}

const AAD_LABEL = 'meshwork/1 e2e';

/**
 * What the AEAD authenticates besides the plaintext: every packet field a relay must not change
 * (both node ids, the packet id and the kind; only the hop limit is left out) and both X25519
 * keys. The app namespace id and the port travel inside the plaintext, so they are hidden and
 * authenticated too. Shared by the node (e2e.ts) and a host tab's data plane (fast-path.ts).
 */
export function associatedData(src: Uint8Array, dst: Uint8Array, kind: number, id: number, senderKey: Uint8Array, recipientKey: Uint8Array): Uint8Array {
  return encode([AAD_LABEL, src, dst, id, kind, senderKey, recipientKey]);
}
