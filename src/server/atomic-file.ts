/**
 * Crash-safe file replacement: write a temp file beside the target, fsync it, rename it over
 * the target, fsync the directory. A reader (or a restart after power loss) sees the old
 * content or the new, never a torn mix.
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `data` to a fresh temp file beside `path`, durably, and returns the temp file's path. */
async function writeTemp(path: string, data: string | Uint8Array, mode: number): Promise<string> {
  const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  return temp;
}

/** Replaces `path` with `data` atomically. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const temp = await writeTemp(path, data, mode);
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(path));
}

/**
 * Creates `path` with `data` atomically, failing with EEXIST if it already exists: a hard link
 * never replaces its target, so an existing file (say, an identity key) is never overwritten.
 */
export async function createFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const temp = await writeTemp(path, data, mode);
  try {
    await link(temp, path);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await syncDir(dirname(path));
}

/** Makes a rename in `dir` durable. Some platforms (Windows) cannot open a directory: skip there. */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort: the rename itself already happened.
  } finally {
    await handle?.close();
  }
}
