/**
 * Stream helpers for tests: deterministic content written in chunks, and a reader that hashes
 * what it reads, so two ends agree on SHA-256 without either holding the whole transfer.
 */
import { createHash } from 'node:crypto';

interface WritableLike {
  getWriter(): { write(chunk: Uint8Array): Promise<void>; close(): Promise<void>; releaseLock(): void; readonly ready: Promise<void> };
}
interface ReadableLike {
  getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }>; releaseLock(): void };
}

/** Chunk `i` of a deterministic byte sequence (a counter hashed), `size` bytes long. */
export function chunkOf(i: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let block = createHash('sha256').update(`chunk ${i}`).digest();
  for (let at = 0; at < size; at += block.length) {
    out.set(block.subarray(0, Math.min(block.length, size - at)), at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** Writes `total` bytes in chunks of `chunk` bytes, then closes; resolves with their SHA-256. */
export async function writeAll(writable: WritableLike, total: number, chunk = 64 * 1024, onWritten?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  const writer = writable.getWriter();
  let written = 0;
  // One pattern reused: hashing and writing 50 MB should cost the test little beside the transfer.
  const pattern = chunkOf(0, chunk);
  for (let i = 0; written < total; i++) {
    const size = Math.min(chunk, total - written);
    const piece = pattern.slice(0, size);
    piece[0] = i & 0xff; // every chunk differs, so a reordering changes the hash
    piece[size - 1] = (i >> 8) & 0xff;
    hash.update(piece);
    await writer.ready;
    await writer.write(piece);
    written += size;
    onWritten?.(written);
  }
  await writer.close();
  return hash.digest('hex');
}

/** Reads to the end; resolves with the byte count and SHA-256. */
export async function readAll(readable: ReadableLike, onRead?: (bytes: number) => void): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const reader = readable.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hash.update(value!);
    bytes += value!.length;
    onRead?.(bytes);
  }
  reader.releaseLock();
  return { bytes, sha256: hash.digest('hex') };
}

/** The settled error of `p` (or undefined when it resolves). */
export function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}
