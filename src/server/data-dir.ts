/**
 * A server's data dir: `identity.key` (its key, mode 0600), `e2e.key` (its X25519 key for
 * end-to-end encryption, mode 0600), `peers.json` (its peer memory) and `lock` (the pid of the
 * process using it). See docs/SERVER.md.
 */
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Identity } from '../core/identity.js';
import type { CryptoKeyPairLike } from '../core/webcrypto.js';
import { lockDir } from './dir-lock.js';
import { loadOrCreateE2eKeys } from './e2e-key-file.js';
import { loadOrCreateIdentity } from './identity-file.js';
import { JsonPeerStore } from './peer-file.js';

export interface DataDir {
  dir: string;
  identity: Identity;
  /** True when this start created the identity (a brand-new node). */
  created: boolean;
  /** The X25519 key pair for end-to-end encryption. */
  e2eKeys: CryptoKeyPairLike;
  peers: JsonPeerStore;
  /** Releases the lock; call after the last save. */
  release(): Promise<void>;
}

export async function openDataDir(dir: string, onWarning?: (message: string) => void, generate?: () => Promise<Identity>): Promise<DataDir> {
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true, mode: 0o700 });
  const release = await lockDir(join(abs, 'lock'));
  try {
    await removeStaleTemps(abs);
    const { identity, created } = await loadOrCreateIdentity(join(abs, 'identity.key'), generate);
    const e2eKeys = await loadOrCreateE2eKeys(join(abs, 'e2e.key'));
    return { dir: abs, identity, created, e2eKeys, peers: new JsonPeerStore(join(abs, 'peers.json'), onWarning), release };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * Temp files of atomic writes (atomic-file.ts) that a killed process left behind. We hold the
 * lock, so no other process is writing here: every one of them is stale. The files they were
 * meant to replace are intact, since a temp file only ever replaces its target by a rename.
 */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    // Another process may be trying the lock right now, through a temp file of its own: not ours to remove.
    if (name.startsWith('.lock.')) continue;
    if (/^\..+\.tmp-\d+-[0-9a-f]+$/.test(name)) await unlink(join(dir, name)).catch(() => undefined);
  }
}
