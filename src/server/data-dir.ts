/**
 * A server's data dir: `identity.key` (its key, mode 0600), `peers.json` (its peer memory)
 * and `lock` (the pid of the process using it). See docs/SERVER.md.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Identity } from '../core/identity.js';
import { lockDir } from './dir-lock.js';
import { loadOrCreateIdentity } from './identity-file.js';
import { JsonPeerStore } from './peer-file.js';

export interface DataDir {
  dir: string;
  identity: Identity;
  /** True when this start created the identity (a brand-new node). */
  created: boolean;
  peers: JsonPeerStore;
  /** Releases the lock; call after the last save. */
  release(): Promise<void>;
}

export async function openDataDir(dir: string, onWarning?: (message: string) => void, generate?: () => Promise<Identity>): Promise<DataDir> {
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true, mode: 0o700 });
  const release = await lockDir(join(abs, 'lock'));
  try {
    const { identity, created } = await loadOrCreateIdentity(join(abs, 'identity.key'), generate);
    return { dir: abs, identity, created, peers: new JsonPeerStore(join(abs, 'peers.json'), onWarning), release };
  } catch (err) {
    await release();
    throw err;
  }
}
