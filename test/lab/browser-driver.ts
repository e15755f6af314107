/**
 * Runs inside a lab namespace (`ip netns exec <home> node --import tsx browser-driver.ts <engine>`)
 * and drives one browser there for the test in the root namespace, over stdin/stdout in JSON
 * lines. Why a child process: Firefox's WebDriver BiDi socket listens on the namespace's own
 * loopback, which the root namespace cannot reach; a driver inside the namespace reaches both
 * engines the same way.
 *
 * In:  { id, op: 'open', url } | { id, op: 'eval', page, expr } | { id, op: 'close-page', page }
 *      | { id, op: 'close-tab', page } | { id, op: 'reopen', page } | { id, op: 'close' }
 * Out: { id, ok: true, value } | { id, ok: false, error } | { log: text }
 */
import { createInterface } from 'node:readline';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const engine = process.argv[2] as 'chromium' | 'firefox';
const origin = process.argv[3]!; // the plain-http server origin, treated as secure
const out = (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`);

async function launch(): Promise<Browser> {
  if (engine === 'chromium') {
    return puppeteer.launch({
      executablePath: '/usr/bin/chromium',
      pipe: true,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', `--unsafely-treat-insecure-origin-as-secure=${origin}`],
      protocolTimeout: 120_000,
    });
  }
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: '/usr/bin/firefox-esr',
    headless: true,
    protocolTimeout: 120_000,
    extraPrefsFirefox: {
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      'dom.securecontext.allowlist': new URL(origin).hostname,
    },
  });
}

const browserP = launch();
const pages: Page[] = [];
const urls: string[] = [];

async function load(page: Page, n: number, url: string): Promise<number> {
  pages[n] = page;
  page.on('console', (c) => out({ log: `[page ${n}] ${c.type()}: ${c.text()}` }));
  page.on('pageerror', (e) => out({ log: `[page ${n}] pageerror: ${(e as Error).message ?? String(e)}` }));
  await page.goto(url, { timeout: 60_000 });
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, { timeout: 60_000 });
  return n;
}

async function handle(m: { id: number; op: string; url?: string; page?: number; expr?: string }): Promise<unknown> {
  const browser = await browserP;
  if (m.op === 'open') {
    const context = await browser.createBrowserContext();
    return load(await context.newPage(), pages.length, m.url!);
  }
  // A warm restart: 'close-tab' closes the page but keeps its context (the storage that holds
  // the node's identity and peer memory); 'reopen' loads the same URL in a new tab of it.
  if (m.op === 'close-tab') {
    const old = pages[m.page!]!;
    urls[m.page!] = old.url();
    await old.close();
    return null;
  }
  if (m.op === 'reopen') {
    const context = pages[m.page!]!.browserContext(); // still the closed tab's context
    return load(await context.newPage(), m.page!, urls[m.page!]!);
  }
  if (m.op === 'eval') return pages[m.page!]!.evaluate(m.expr!);
  if (m.op === 'close-page') {
    await pages[m.page!]!.browserContext().close();
    return null;
  }
  if (m.op === 'close') {
    await browser.close();
    setTimeout(() => process.exit(0), 100);
    return null;
  }
  throw new Error(`unknown op ${m.op}`);
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line) as { id: number; op: string };
  handle(m).then(
    (value) => out({ id: m.id, ok: true, value: value ?? null }),
    (err: unknown) => out({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
browserP.catch((err: unknown) => out({ log: `launch failed: ${err instanceof Error ? err.message : String(err)}` }));
