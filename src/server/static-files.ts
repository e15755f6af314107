/**
 * Serving files from a directory without letting a request out of it: the path is decoded
 * once, normalised, joined to the root and checked to still be inside it; hidden files
 * (dot-segments such as .git or .env) are never served.
 */
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, posix, resolve, sep } from 'node:path';
import { type CompressedFiles, compressible, MAX_COMPRESS_BYTES, MIN_COMPRESS_BYTES, pickEncoding } from './compressed-files.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.webmanifest': 'application/manifest+json',
};

export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file under `root` that `urlPath` (still percent-encoded) names, or a status code:
 * 400 for undecodable paths, 404 for anything outside the root or hidden.
 */
export function resolveInside(root: string, urlPath: string): string | 400 | 404 {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return 400;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return 400;
  const normal = posix.normalize(`/${decoded}`);
  if (normal.split('/').some((seg) => seg.startsWith('.') && seg !== '.well-known')) return 404;
  const base = resolve(root);
  const full = join(base, normal);
  if (full !== base && !full.startsWith(base + sep)) return 404;
  return full;
}

/** Answers GET/HEAD for `urlPath` from `root`. Resolves false when there is no such file (the caller sends 404). */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, root: string, urlPath: string, compressed?: CompressedFiles): Promise<boolean> {
  const found = resolveInside(root, urlPath);
  if (found === 404) return false;
  if (found === 400) {
    sendText(res, 400, 'bad request path');
    return true;
  }
  let file = found;
  let s = await stat(file).catch(() => undefined);
  if (s?.isDirectory()) {
    // Relative links in an index page resolve against the URL, so a directory needs its slash.
    if (!urlPath.endsWith('/')) {
      // Leading slashes collapsed: "//host/" would send the browser to another site.
      redirect(res, `/${urlPath.replace(/^\/+/, '')}/`);
      return true;
    }
    file = join(file, 'index.html');
    s = await stat(file).catch(() => undefined);
  }
  if (!s?.isFile()) return false;
  await sendFile(req, res, file, s, 'no-cache', compressed);
  return true;
}

/**
 * Sends a file with a validator, so "no-cache" costs a 304 rather than the whole file; with
 * `compressed`, in brotli or gzip to a client that accepts it (a representation of its own, with
 * its own ETag, and `Vary: Accept-Encoding` on every answer for the file so caches keep them apart).
 */
export async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, s: Stats, cacheControl: string, compressed?: CompressedFiles): Promise<void> {
  const type = contentType(file);
  const varies = compressed !== undefined && compressible(type) && s.size >= MIN_COMPRESS_BYTES && s.size <= MAX_COMPRESS_BYTES;
  const encoding = varies ? pickEncoding(req.headers['accept-encoding']) : undefined;
  const plainTag = `${s.size.toString(36)}-${Math.floor(s.mtimeMs).toString(36)}`;
  const etag = `"${plainTag}${encoding ? `-${encoding}` : ''}"`;
  const common: Record<string, string> = { ETag: etag, 'Cache-Control': cacheControl, 'X-Content-Type-Options': 'nosniff' };
  if (varies) common.Vary = 'Accept-Encoding';
  if (matchesTag(req.headers['if-none-match'], etag)) {
    res.writeHead(304, common);
    return void res.end();
  }
  const body = encoding && (await compressed!.get(file, plainTag, encoding));
  if (body) {
    res.writeHead(200, { ...common, 'Content-Type': type, 'Content-Encoding': encoding!, 'Content-Length': body.length });
    return void res.end(req.method === 'HEAD' ? undefined : body);
  }
  if (encoding) common.ETag = `"${plainTag}"`;
  res.writeHead(200, { ...common, 'Content-Type': type, 'Content-Length': s.size });
  if (req.method === 'HEAD') return void res.end();
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** If-None-Match names one tag or a list of them (or `*`); weak tags match by their value. */
function matchesTag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === etag || tag === '*';
  });
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(301, { Location: location, 'Content-Length': 0 });
  res.end();
}
