/**
 * One node per data dir: two processes sharing a key would both claim the same node id and
 * overwrite each other's peer memory. A `lock` file holds the owner's pid; a lock whose process
 * is gone (a crash) is taken over.
 */
import { readFile, unlink } from 'node:fs/promises';
import { MeshError } from '../core/errors.js';
import { createFileAtomic, writeFileAtomic } from './atomic-file.js';

/** Data dirs locked by this process (a pid check cannot tell two nodes of one process apart). */
const heldHere = new Set<string>();

export async function lockDir(lockPath: string): Promise<() => Promise<void>> {
  if (heldHere.has(lockPath)) throw inUse(lockPath, process.pid);
  const mine = `${process.pid}\n`;
  try {
    await createFileAtomic(lockPath, mine);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) throw inUse(lockPath, owner);
    await writeFileAtomic(lockPath, mine); // stale: its process is gone
  }
  heldHere.add(lockPath);
  return async () => {
    heldHere.delete(lockPath);
    const owner = await readFile(lockPath, 'utf8').catch(() => '');
    if (owner === mine) await unlink(lockPath).catch(() => undefined);
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function inUse(lockPath: string, pid: number): MeshError {
  return new MeshError('STORE_LOCKED', `the data dir is in use by process ${pid} (lock file ${lockPath}); stop that node first, or delete the lock file if that process is not a meshwork node`);
}
