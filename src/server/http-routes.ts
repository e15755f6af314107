/**
 * The HTTP side of a server node, beside the WebSocket endpoint on the same port:
 *   GET /meshwork/status      the node's status as JSON
 *   GET /meshwork/hub.html    the hub page other origins embed to share this origin's browser node
 *   GET /meshwork/favicon.svg the site icon (also /favicon.ico when the static dir has none)
 *   GET /meshwork/<name>.js   the browser bundle (and .map) from dist/browser/, when built
 *   GET /...                  the static dir (`meshwork serve`: the demo), or the built-in page at /
 */
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { BUILTIN_PAGE } from './builtin-page.js';
import { CompressedFiles } from './compressed-files.js';
import { FAVICON_SVG } from './favicon.js';
import { sendHubPage } from './hub-page.js';
import { browserBundleDir } from './package-dir.js';
import { sendFile, sendText, serveStatic } from './static-files.js';

export interface RouteOptions {
  status: () => unknown;
  staticDir?: string;
  /** App origins allowed to use the hub besides the server's own; null: any. */
  appOrigins: string[] | null;
  /** Send files in brotli or gzip to browsers that accept it (default true). */
  compress?: boolean;
}

/** Bundle files are flat and plainly named: nothing else under /meshwork/ maps to the disk. */
const BUNDLE_FILE = /^\/meshwork\/([A-Za-z0-9_-][A-Za-z0-9_.-]*\.(?:js|mjs|map))$/;

export function createRequestHandler(o: RouteOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const compressed = o.compress === false ? undefined : new CompressedFiles();
  return (req, res) => {
    route(req, res, o, compressed).catch(() => {
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    });
  };
}

async function route(req: IncomingMessage, res: ServerResponse, o: RouteOptions, compressed: CompressedFiles | undefined): Promise<void> {
  // Split by hand: new URL() would read "//host/x" as another host.
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'only GET and HEAD are served here', { Allow: 'GET, HEAD' });
  if (path === '/mesh') return sendText(res, 426, 'this is the mesh WebSocket endpoint: connect with a WebSocket', { Upgrade: 'websocket' });
  if (path === '/meshwork/status') return sendStatus(res, o.status());
  if (path === '/meshwork/hub.html') return sendHubPage(res, o.appOrigins);
  if (path === '/meshwork/favicon.svg') return sendIcon(res);
  if (path.startsWith('/meshwork/')) return serveBundle(req, res, path, compressed);
  if (o.staticDir && (await serveStatic(req, res, o.staticDir, path, compressed))) return;
  if (path === '/favicon.ico') return sendIcon(res);
  if (!o.staticDir && (path === '/' || path === '/index.html')) return sendHtml(res, BUILTIN_PAGE);
  sendText(res, 404, 'not found');
}

function sendIcon(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Content-Length': Buffer.byteLength(FAVICON_SVG), 'Cache-Control': 'max-age=86400' });
  res.end(FAVICON_SVG);
}

function sendStatus(res: ServerResponse, status: unknown): void {
  const body = JSON.stringify(status);
  // Read-only and public: any page may show it.
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'Access-Control-Allow-Origin': '*',
  });
  res.end(body);
}

async function serveBundle(req: IncomingMessage, res: ServerResponse, path: string, compressed: CompressedFiles | undefined): Promise<void> {
  const name = BUNDLE_FILE.exec(path)?.[1];
  const file = name && join(browserBundleDir(), name);
  const s = file ? await stat(file).catch(() => undefined) : undefined;
  if (!file || !s?.isFile()) return sendText(res, 404, `not found${name ? ' (the browser bundle is not built: run npm run build)' : ''}`);
  // no-cache, not no-store: browsers revalidate, so a new bundle is picked up at once.
  await sendFile(req, res, file, s, 'no-cache', compressed);
}

function sendHtml(res: ServerResponse, html: string): void {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html), 'Cache-Control': 'no-cache' });
  res.end(html);
}
