/**
 * Files sent compressed to browsers that accept it. The browser bundle is mostly script that
 * compresses to a third (worker.js: about 150 KB as built, 47 KB in brotli), and every first
 * visit downloads it before the node can start: over a real network those bytes are most of
 * the wait (docs/BENCHMARKS.md, "The bundle over a slow network"). Each file is compressed once,
 * on its first request, and kept while its validator holds, within a byte budget; brotli at a
 * middle quality costs about 20 ms for worker.js, so no request waits long for the first copy.
 */
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

export type Encoding = 'br' | 'gzip';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** Below this, the saving is smaller than the headers that announce it. */
export const MIN_COMPRESS_BYTES = 1024;
/** Above this, a file is sent as it is rather than held compressed in memory. */
export const MAX_COMPRESS_BYTES = 8 * 1024 * 1024;
/** Default budget for compressed copies held at once. */
export const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
/** Brotli quality 6: within 8 % of the best (11) on the bundle, at a fifteenth of its time. */
const BROTLI_QUALITY = 6;

/** Content types worth compressing: text, script, JSON, SVG and WebAssembly; images and fonts are compressed already. */
export function compressible(contentType: string): boolean {
  return /^(?:text\/|image\/svg\+xml|application\/(?:json|javascript|manifest\+json|wasm))/.test(contentType);
}

/**
 * The encoding to answer an Accept-Encoding header with, or undefined for the bytes as they are:
 * brotli where it weighs at least as much as gzip, else gzip; `q=0` refuses one, and `*` stands
 * for any not named (RFC 9110, section 12.5.3).
 */
export function pickEncoding(accept: string | undefined): Encoding | undefined {
  if (!accept) return undefined;
  const weights = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (!name) continue;
    let q = 1;
    for (const p of params) {
      if (!p.startsWith('q=')) continue;
      // A weight that does not parse refuses the coding rather than weighing it fully.
      const m = /^q=([01](?:\.[0-9]{0,3})?)$/.exec(p);
      q = m ? Number(m[1]) : 0;
    }
    weights.set(name, Number.isFinite(q) ? Math.min(q, 1) : 0);
  }
  const weight = (e: string) => weights.get(e) ?? weights.get('*') ?? 0;
  const br = weight('br');
  const gz = weight('gzip');
  if (br > 0 && br >= gz) return 'br';
  if (gz > 0) return 'gzip';
  return undefined;
}

interface Entry {
  validator: string;
  bytes: Promise<Buffer>;
  size: number;
}

/**
 * Compressed copies of files, keyed by path and encoding, each valid for one validator (the
 * file's ETag, made from its size and mtime): a changed file is compressed again. The least
 * recently sent copies go first once `maxBytes` is passed. Requests that come while a copy is
 * being made share it.
 */
export class CompressedFiles {
  private readonly entries = new Map<string, Entry>();
  private held = 0;

  constructor(private readonly maxBytes = DEFAULT_CACHE_BYTES) {}

  /** The file's bytes in `encoding`, or undefined when they cannot be had (the caller sends it as it is). */
  async get(file: string, validator: string, encoding: Encoding): Promise<Buffer | undefined> {
    const key = `${encoding}:${file}`;
    let entry = this.entries.get(key);
    if (entry && entry.validator !== validator) {
      this.drop(key, entry);
      entry = undefined;
    }
    if (entry) {
      // Map order is the eviction order: move it to the back.
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      entry = { validator, bytes: compressFile(file, encoding), size: 0 };
      this.entries.set(key, entry);
      const made = entry;
      made.bytes.then(
        (b) => {
          if (this.entries.get(key) !== made) return;
          made.size = b.length;
          this.held += b.length;
          this.evict();
        },
        () => {
          if (this.entries.get(key) === made) this.entries.delete(key);
        },
      );
    }
    return entry.bytes.catch(() => undefined);
  }

  /** Bytes of compressed copies held now. */
  get heldBytes(): number {
    return this.held;
  }

  private drop(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.held -= entry.size;
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.held <= this.maxBytes) return;
      if (entry.size > 0) this.drop(key, entry);
    }
  }
}

async function compressFile(file: string, encoding: Encoding): Promise<Buffer> {
  const raw = await readFile(file);
  // zlib's async calls run on libuv's thread pool: the event loop keeps serving meanwhile.
  if (encoding === 'gzip') return gzipAsync(raw);
  return brotli(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
}
