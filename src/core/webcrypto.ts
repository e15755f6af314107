/**
 * The slice of WebCrypto the core uses, typed here so that `core/` compiles without DOM or
 * Node type libraries. Node 20 and every current browser provide `globalThis.crypto.subtle`.
 */
export interface CryptoKeyLike {
  readonly type: string;
  readonly extractable: boolean;
}

export interface CryptoKeyPairLike {
  publicKey: CryptoKeyLike;
  privateKey: CryptoKeyLike;
}

export interface SubtleLike {
  generateKey(alg: { name: string }, extractable: boolean, usages: string[]): Promise<CryptoKeyPairLike>;
  importKey(format: string, data: Uint8Array | object, alg: { name: string }, extractable: boolean, usages: string[]): Promise<CryptoKeyLike>;
  exportKey(format: 'raw' | 'pkcs8', key: CryptoKeyLike): Promise<ArrayBuffer>;
  exportKey(format: 'jwk', key: CryptoKeyLike): Promise<{ x?: string; d?: string }>;
  sign(alg: string | { name: string }, key: CryptoKeyLike, data: Uint8Array): Promise<ArrayBuffer>;
  verify(alg: string | { name: string }, key: CryptoKeyLike, signature: Uint8Array, data: Uint8Array): Promise<boolean>;
}

export function subtle(): SubtleLike {
  const c = (globalThis as unknown as { crypto?: { subtle?: SubtleLike } }).crypto;
  if (!c?.subtle) throw new Error('WebCrypto (globalThis.crypto.subtle) is not available in this runtime');
  return c.subtle;
}
