/**
 * The node's X25519 key for end-to-end encryption, on disk beside its identity key: PKCS#8 in
 * PEM, readable by the owner only. Kept, not regenerated per start, so that peers which cached
 * it keep sealing to a key the node still has. Unlike the identity key, a damaged or missing
 * file costs nothing lasting (the node id does not depend on it): senders holding the old key
 * are told the new one on their next packet. So a file that cannot be parsed is an error all
 * the same, naming the file, rather than a silent replacement.
 */
import { readFile } from 'node:fs/promises';
import { MeshError } from '../core/errors.js';
import type { CryptoKeyPairLike } from '../core/webcrypto.js';
import { createFileAtomic } from './atomic-file.js';

const PEM_LABEL = 'PRIVATE KEY';
const KEY_MODE = 0o600;
const X25519 = { name: 'X25519' };

export async function loadOrCreateE2eKeys(path: string): Promise<CryptoKeyPairLike> {
  const existing = await readText(path);
  if (existing !== undefined) return parse(path, existing);
  // Extractable only long enough to be written: the pair the node uses is re-imported from the file.
  const pair = (await crypto.subtle.generateKey(X25519, true, ['deriveBits'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  try {
    await createFileAtomic(path, toPem(pkcs8), KEY_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return parse(path, (await readText(path)) ?? '');
    throw new MeshError('STORE_CORRUPT', `cannot create the encryption key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parse(path, toPem(pkcs8));
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MeshError('STORE_CORRUPT', `the encryption key file ${path} cannot be read (${(err as Error).message})`, { cause: err });
  }
}

/** The private key (non-extractable) and its public key, rebuilt from the PEM text. */
async function parse(path: string, text: string): Promise<CryptoKeyPairLike> {
  const m = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(text);
  const der = m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : undefined;
  try {
    if (!der || der.length === 0) throw new Error(`not a PEM "${PEM_LABEL}" block`);
    const s = crypto.subtle;
    // WebCrypto derives no public key from a private one: go through JWK, whose `x` is the public key.
    const jwk = await s.exportKey('jwk', await s.importKey('pkcs8', der, X25519, true, ['deriveBits']));
    if (!jwk.x) throw new Error('the key has no public part');
    const privateKey = await s.importKey('pkcs8', der, X25519, false, ['deriveBits']);
    const publicKey = await s.importKey('jwk', { kty: 'OKP', crv: 'X25519', x: jwk.x }, X25519, true, []);
    return { privateKey, publicKey };
  } catch (err) {
    throw new MeshError(
      'STORE_CORRUPT',
      `the encryption key file ${path} does not hold an X25519 PKCS#8 key (${(err as Error).message}). Move it away and a new one is made (peers learn it on their next packet).`,
      { cause: err },
    );
  }
}

function toPem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${PEM_LABEL}-----\n${lines.join('\n')}\n-----END ${PEM_LABEL}-----\n`;
}
