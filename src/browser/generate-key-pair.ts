/**
 * `crypto.subtle.generateKey` for Ed25519 and X25519, tried again when the engine fails now and
 * then. WebKitGTK 2.50 rejects about one Ed25519 or X25519 generation in 130 to 270 with a bare
 * `OperationError` (measured here: 3 in 800 Ed25519, 6 in 800 X25519; signing and deriveBits
 * with the keys it does make never failed in 3 000 and 1 500 tries). The failure comes with the
 * random key drawn, not with the state of the engine: a second draw succeeds. Without a retry a
 * WebKit node failed to start on about one first visit in fifteen (identity and encryption keys
 * are each generated twice there, see key-store.ts), and an X25519 failure left a node running
 * without encryption.
 */

/** Draws after the first: eight failures in a row at 1 in 130 each is about 1 in 10^17. */
export const KEY_GENERATION_TRIES = 8;

export async function generateKeyPair(
  name: 'Ed25519' | 'X25519',
  extractable: boolean,
  usages: KeyUsage[],
  onRetry: (err: unknown) => void = () => undefined,
): Promise<CryptoKeyPair> {
  for (let tried = 1; ; tried++) {
    try {
      return (await crypto.subtle.generateKey({ name }, extractable, usages)) as CryptoKeyPair;
    } catch (err) {
      // Anything else (NotSupportedError where the engine lacks the curve) is an answer, not bad luck.
      if ((err as { name?: string } | undefined)?.name !== 'OperationError' || tried >= KEY_GENERATION_TRIES) throw err;
      onRetry(err);
    }
  }
}
