/**
 * Drives Debian's Chromium and Firefox ESR with puppeteer-core for the browser-node tests.
 * One browser process per engine; one browser context per mesh node. Every wait is bounded and
 * a failing test prints the console of every page it opened.
 */
import { execFileSync, execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { startNode, type ServerNode } from '../../src/server/index.js';
import type { StartNodeOptions } from '../../src/server/options.js';

export type Engine = 'chromium' | 'firefox';
export const ENGINES: Engine[] = (process.env.MESHWORK_ENGINES?.split(',') as Engine[] | undefined) ?? ['chromium', 'firefox'];

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url));
const BINARIES: Record<Engine, string> = { chromium: '/usr/bin/chromium', firefox: '/usr/bin/firefox-esr' };
const INSTALL = 'apt-get update && apt-get install -y chromium firefox-esr';

/** Installs the Debian browsers when missing and we may (root on Debian); otherwise says what to run. */
export function ensureBrowsers(engines: Engine[] = ENGINES): void {
  const missing = engines.filter((e) => !existsSync(BINARIES[e]));
  if (missing.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync('/etc/debian_version')) {
    throw new Error(`browser binaries missing (${missing.map((e) => BINARIES[e]).join(', ')}): run as root: ${INSTALL}`);
  }
  console.log(`# installing browsers: ${INSTALL}`);
  execSync(INSTALL, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

let built = false;
/** What the bundles are built from: the build scripts, every source file, the locked dependencies. */
const BUNDLE_INPUTS = ['scripts/build-browser.mjs', 'scripts/streams-build.mjs', 'package-lock.json', 'tsconfig.json', 'src', 'demo/src'];
/** Written beside the bundles by the build below; any other build of dist/browser deletes it. */
const BUNDLE_STAMP = `${ROOT}dist/browser/.bundles-stamp`;
const BUNDLE_OUTPUTS = ['client.js', 'worker.js', 'streams.js', 'hub.js', 'fast-path.js', 'tab-stream-plane.js', 'hub-link.js', 'leader.js'].map((f) => `${ROOT}dist/browser/${f}`).concat(`${ROOT}demo/app.js`);

/** A hash of the content of every bundle input (about 1.3 MB: milliseconds). */
function bundleInputsHash(): string {
  const h = createHash('sha256');
  const add = (rel: string): void => {
    const path = `${ROOT}${rel}`;
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) add(`${rel}/${name}`);
      return;
    }
    h.update(`${rel}\0`).update(readFileSync(path)).update('\0');
  };
  for (const rel of BUNDLE_INPUTS) add(rel);
  return h.digest('hex');
}

/**
 * Bundles dist/browser/*.js (and demo/app.js) from the current source, once per test process,
 * and not at all when the bundles there were built by this function from the same inputs (a
 * content hash in dist/browser/.bundles-stamp): the files of one `npm test` then build once, not
 * once each. Not the type declarations (no test here reads them), which took most of the
 * build's time in every file.
 */
export function buildBundles(): void {
  if (built) return;
  const inputs = bundleInputsHash();
  const stamp = existsSync(BUNDLE_STAMP) ? readFileSync(BUNDLE_STAMP, 'utf8') : '';
  if (stamp !== inputs || !BUNDLE_OUTPUTS.every((f) => existsSync(f))) {
    execFileSync(process.execPath, ['scripts/build-browser.mjs', '--no-types'], { cwd: ROOT, stdio: 'inherit' });
    writeFileSync(BUNDLE_STAMP, inputs);
  }
  built = true;
}

/**
 * `firefoxPrefs`: more Firefox preferences (the hub test auto-answers storage-access prompts);
 * `chromiumProfile`: a Chromium user data dir (the hub test's profile allows third-party cookies);
 * `chromiumArgs`: more command-line flags (the TLS test trusts its certificate with one).
 */
export async function launch(engine: Engine, o: { firefoxPrefs?: Record<string, unknown>; chromiumProfile?: string; chromiumArgs?: string[] } = {}): Promise<Browser> {
  if (engine === 'chromium') {
    return puppeteer.launch({
      executablePath: BINARIES.chromium,
      userDataDir: o.chromiumProfile,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', ...(o.chromiumArgs ?? [])],
      protocolTimeout: 60_000,
    });
  }
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: BINARIES.firefox,
    headless: true,
    protocolTimeout: 60_000,
    extraPrefsFirefox: {
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      ...o.firefoxPrefs,
    },
  });
}

/** Every console line of every page, tagged, so a failing test can show them. */
const logs: string[] = [];
export function log(line: string): void {
  logs.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
}

export function dumpLogs(): void {
  console.log(`# --- page consoles (${logs.length} lines) ---`);
  for (const l of logs.slice(-400)) console.log(`#   ${l}`);
}

/** Runs a test body; on failure prints the page consoles before rethrowing. */
export async function withLogs(fn: () => Promise<void>): Promise<void> {
  logs.length = 0;
  try {
    await fn();
  } catch (err) {
    dumpLogs();
    throw err;
  }
}

/**
 * A browser of `engine` and a server node for the tests of one suite: launched and started
 * before them, closed and stopped after them. Read the fields inside the tests, not before.
 */
export function browserAndServer(engine: Engine): { readonly browser: Browser; readonly server: ServerNode & { http: string } } {
  const suite = {} as { browser: Browser; server: ServerNode & { http: string } };
  before(async () => {
    suite.browser = await launch(engine);
    suite.server = await startServer();
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.stop();
  });
  return suite;
}

export async function startServer(options: StartNodeOptions = {}): Promise<ServerNode & { http: string }> {
  const node = await startNode({ port: 0, host: '127.0.0.1', static: FIXTURES, tuning: { maintainMs: 5_000 }, ...options });
  if (!node.url) throw new Error('server has no url');
  const http = node.url.replace(/^ws/, 'http').replace(/\/mesh$/, '/');
  return Object.assign(node, { http });
}

/**
 * Counts the requests for /meshwork/streams.js (the streams part a browser node loads on first
 * use, src/browser/lazy-stream-service.ts) that `server` answers from now on: a SharedWorker
 * fetches it where no page can see the fetch, so it is counted at the server.
 */
export function watchStreamsFetches(server: ServerNode): { count(): number; agents(): string[]; stop(): void } {
  // The ServerNode's http.Server (private): a second 'request' listener only looks, never answers.
  const http = (server as unknown as { parts: { server: Server } }).parts.server;
  const agents: string[] = [];
  const seen = (req: IncomingMessage) => {
    if (new URL(req.url ?? '/', 'http://x').pathname === '/meshwork/streams.js') agents.push(req.headers['user-agent'] ?? '');
  };
  http.on('request', seen);
  return { count: () => agents.length, agents: () => [...agents], stop: () => void http.off('request', seen) };
}

/** Opens a tab in `context` at `url` and waits for the test page's module to load. */
export async function openTab(context: BrowserContext, url: string, name: string, setup?: (page: Page) => Promise<void>): Promise<Page> {
  const page = await context.newPage();
  await setup?.(page);
  page.on('console', (m) => log(`[${name}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log(`[${name}] pageerror: ${(e as Error).message ?? String(e)}`));
  await page.goto(url, { timeout: 20_000 });
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, { timeout: 20_000 });
  return page;
}

/**
 * Makes a page report itself visible whatever tab is in front, as a window of its own would be:
 * the node places new links on visible tabs first, and headless background tabs are hidden.
 */
export async function alwaysVisible(page: Page): Promise<void> {
  await page.evaluateOnNewDocument(visibilityOverride('visible'));
}

/**
 * Page-level emulation of a page's visibility (CDP has no command for it), as source text: a
 * function would be serialised with the test runner's transpiler helpers, which the page lacks.
 */
export function visibilityOverride(state: 'visible' | 'hidden'): string {
  return `Object.defineProperty(Document.prototype, 'visibilityState', { get() { return '${state}'; } });
Object.defineProperty(Document.prototype, 'hidden', { get() { return ${state === 'hidden'}; } });`;
}

export interface Booted {
  page: Page;
  id: string;
  host: string;
}

/** `setup` runs on the new page before it loads (to install scripts that must run first). */
export async function bootTab(context: BrowserContext, url: string, name: string, options: Record<string, unknown> = {}, setup?: (page: Page) => Promise<void>): Promise<Booted> {
  const page = await openTab(context, url, name, setup);
  const r = await page.evaluate((o) => (window as any).T.boot(o), options);
  log(`[${name}] booted ${String(r.id).slice(0, 12)} on ${r.host}`);
  return { page, id: r.id as string, host: r.host as string };
}

export interface PageStatus {
  id: string;
  /** When the node host was made (Date.now() in the worker). */
  startedAt: number;
  host: string;
  tabs: number;
  links: { id: string; transport: string; rttMs: number | null }[];
  knownPeers: number;
  rehomed?: number;
  hostedBy?: Record<string, number>;
  keyStorage?: string;
  parkedTabs?: number;
  webrtc?: boolean;
  counters?: { dropped: Record<string, number> };
  work?: { bits: number; tried: number; expected: number; done: boolean; ms: number };
  /** The node's end-to-end counters (core/e2e-types.ts E2eStatus); those the tests read. */
  e2e?: { keyCards: number; cardsGiven: number; keyRequests: number };
  /** When each step of the start happened (absolute ms; protocol.ts BrowserStatus.boot). */
  boot?: { node: Record<string, number>; tab?: Record<string, number> };
}

export function status(page: Page): Promise<PageStatus> {
  return page.evaluate(() => (window as any).mesh.status());
}

/** Polls `check` until it returns a truthy value; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false | null>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `page`'s node has a webrtc link to each of `ids`. */
export async function waitForRtcLinks(page: Page, ids: string[], what: string, timeoutMs = 30_000): Promise<PageStatus> {
  let lastSeen: PageStatus | undefined;
  return waitFor(
    what,
    async () => {
      const s = await status(page);
      lastSeen = s;
      return ids.every((id) => s.links.some((l) => l.id === id && l.transport === 'webrtc')) ? s : undefined;
    },
    timeoutMs,
  ).catch((err: Error) => {
    log(`last status: ${JSON.stringify(lastSeen)}`);
    throw err;
  });
}

/** Sends `data` from `from` to node `to` and waits until `toPage` has it. */
export async function deliver(from: Page, toPage: Page, to: string, data: string, timeoutMs = 10_000): Promise<void> {
  const fromId: string = await from.evaluate(() => (window as any).mesh.id);
  // Sent again every second until it arrives: a fresh node may not have its routes yet.
  let lastSend = 0;
  await waitFor(
    `"${data}" at ${to.slice(0, 12)}`,
    async () => {
      if (Date.now() - lastSend > 1_000) {
        lastSend = Date.now();
        await from.evaluate((t, d) => (window as any).mesh.send(t, d, { port: 7 }), to, data).catch((e: Error) => log(`send "${data}": ${e.message}`));
      }
      return toPage.evaluate((d, f) => (window as any).T.inbox.some((m: any) => m.data === d && m.from === f && m.port === 7), data, fromId);
    },
    timeoutMs,
    100,
  );
}
