/**
 * Shared pieces of `npm run bench`: one Chromium, a small HTTP server for the bench pages (sent
 * with COOP+COEP so pages are cross-origin isolated and performance.now() is fine-grained), a
 * Meshwork server node as bootstrap, percentiles and time limits.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const PAGES = join(ROOT, 'bench/pages');
export const CHROMIUM = '/usr/bin/chromium';
export const FIREFOX = '/usr/bin/firefox-esr';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

export function round(x: number | null | undefined, digits = 3): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return round(a / b);
}

/**
 * The median, over rounds, of `a[r] / b[r]`: two paths measured in the same round, one after the
 * other. Beside a figure taken as best round over best round, which rests on the one quiet
 * stretch each path happened to get: on this machine rounds of one path differ 2-4x.
 */
export function medianRoundRatio(a: number[], b: number[]): number | null {
  const n = Math.min(a.length, b.length);
  const rs: number[] = [];
  for (let r = 0; r < n; r++) if (b[r]! > 0 && Number.isFinite(a[r]!)) rs.push(a[r]! / b[r]!);
  return rs.length ? round(percentile(rs, 0.5)) : null;
}

/** Rejects after `ms` with a message naming `what`. */
export function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms))),
  ]);
}

export async function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    protocolTimeout: 60_000,
  });
}

/** Debian's firefox-esr, headless, with host candidates on loopback allowed (as the browser tests launch it). */
export async function launchFirefox(): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    protocolTimeout: 60_000,
    extraPrefsFirefox: {
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
    },
  });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
};

/**
 * Serves `routes` (URL path -> file) and bench/pages/*, every response cross-origin isolated.
 * `extra` may add or replace routes later (e.g. a bundle built mid-run).
 */
export interface PageServer {
  origin: string;
  /** The directory the browser bundles are served from. */
  bundles: string;
  routes: Map<string, string>;
  close(): Promise<void>;
}

/**
 * `bundles`: the directory holding the browser bundles (client.js, worker.js, chunks).
 * `isolated` (default true): pages cross-origin isolated (COOP + COEP), for the microsecond
 * timers of the round-trip parts; false serves them as most app pages are (the connect part).
 */
export async function startPageServer(bundles: string, { isolated = true }: { isolated?: boolean } = {}): Promise<PageServer> {
  const routes = new Map<string, string>([
    ['/meshwork/client.js', join(bundles, 'client.js')],
    ['/meshwork/worker.js', join(bundles, 'worker.js')],
  ]);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    // The browser bundle is split into entries and shared chunks: any flat /meshwork/*.js is a file of `bundles`.
    const chunk = /^\/meshwork\/([A-Za-z0-9_-]+\.js)$/.exec(path)?.[1];
    const file =
      routes.get(path) ??
      (chunk ? join(bundles, chunk) : undefined) ??
      (/^\/[a-z0-9-]+\.(html|js)$/.test(path) ? join(PAGES, path.slice(1)) : undefined);
    if (!file) return void res.writeHead(404).end('not found');
    readFile(file).then(
      (body) => {
        res.writeHead(200, {
          'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
          'Cache-Control': 'no-store',
          ...(isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' } : {}),
        });
        res.end(body);
      },
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    bundles,
    routes,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** Opens `url` in `context` and waits for the page's `window.ready`. */
export async function openPage(context: BrowserContext, url: string, logTo?: string[]): Promise<Page> {
  const page = await context.newPage();
  if (logTo) {
    page.on('console', (m) => logTo.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logTo.push(`pageerror: ${(e as Error).message}`));
    page.on('response', (r) => void (r.status() >= 400 && logTo.push(`http ${r.status()}: ${r.url()}`)));
  }
  await page.goto(url, { timeout: 20_000 });
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, { timeout: 20_000 });
  return page;
}

/** Polls `check` until truthy or `ms` pass. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false>, ms = 20_000, every = 100): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`);
    await sleep(every);
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

/**
 * PeerJS's own signalling server (npm `peer`) on a free local port, and its client bundle
 * served at /peerjs.js; `options` is what a page passes to `new Peer()` (no STUN: loopback only).
 */
export async function startPeerServer(pages: PageServer): Promise<{ options: Record<string, unknown>; stop: () => void }> {
  const { PeerServer } = await import('peer');
  const { createServer: createNetServer } = await import('node:net');
  const port = await new Promise<number>((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const server = await new Promise<import('node:http').Server>((resolve) => {
    PeerServer({ port, host: '127.0.0.1', path: '/p' }, (s) => resolve(s as import('node:http').Server));
  });
  pages.routes.set('/peerjs.js', join(ROOT, 'node_modules/peerjs/dist/peerjs.min.js'));
  return { options: { host: '127.0.0.1', port, path: '/p', secure: false, debug: 0, config: { iceServers: [] } }, stop: () => server.close() };
}

