// Measures what an app page that uses the hub (connect({ hub })) and its hub frame see when the
// page goes into the back/forward cache and is restored (docs/BROWSER.md, "The hub", "A page in
// the back/forward cache"). Not part of the product or the tests: run it by hand after a browser
// upgrade:  node --import tsx scripts/probes/hub-bfcache.ts [chromium|firefox] [runs]
//
// The real hub (127.0.0.2) and app pages (127.0.0.1): a page A2 keeps the node running; page A1
// goes to another site and comes back with goBack(). A1 and its hub frame note, with Date.now(),
// their pagehide / pageshow / freeze / resume, and a message A1 posts on a port of its own to
// the frame at its pagehide and at its pageshow (when does the frame get it?). Chromium's CDP
// says why a page was not cached; Firefox logs it (MOZ_LOG=PageCache:5,SHIPBFCache:5, in
// MOZ_LOG_FILE, default /tmp/hub-bfcache-mozlog*). NO_HUB=1: A1 and A2 are pages of the node's own
// origin instead (connect() without a hub), for comparison.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Frame, Page } from 'puppeteer-core';
import { buildBundles, launch, openTab, startServer, type Engine } from '../../test/browser/harness.js';

const engine = (process.argv[2] ?? 'chromium') as Engine;
const runs = Number(process.argv[3] ?? 3);
if (engine === 'firefox') {
  process.env.MOZ_LOG ??= 'PageCache:5,SHIPBFCache:5';
  process.env.MOZ_LOG_FILE ??= '/tmp/hub-bfcache-mozlog';
}
buildBundles();
const browser = await launch(engine);
const [hub, site, away] = await Promise.all([startServer({ host: '127.0.0.2', allowAppOrigins: ['*'] }), startServer(), startServer()]);
const origin = `http://127.0.0.1:${new URL(site.http).port}`;
const hubUrl = `${hub.http}meshwork/hub.html`;
const noHub = process.env.NO_HUB === '1';
const appUrl = noHub ? `${hub.http}app.html` : `${origin}/app.html`;
const options = noHub ? { app: 'probe', bootstrap: [hub.url] } : { hub: hubUrl, app: 'probe' };

const RECORD = `(() => {
  window.__ev = [];
  const note = (what) => window.__ev.push([Date.now(), what]);
  addEventListener('pagehide', (e) => note('pagehide' + (e.persisted ? ' persisted' : '')));
  addEventListener('pageshow', (e) => note('pageshow' + (e.persisted ? ' persisted' : '')));
  document.addEventListener('freeze', () => note('freeze'));
  document.addEventListener('resume', () => note('resume'));
  window.__note = note;
})()`;

async function hubFrame(page: Page): Promise<Frame> {
  for (let i = 0; i < 100; i++) {
    const f = page.frames().find((x) => x.url().startsWith(hubUrl));
    if (f) return f;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no hub frame');
}

async function probeFrame(page: Page): Promise<void> {
  const frame = await hubFrame(page);
  await frame.evaluate(RECORD);
  // A port of the probe's own from the page to the frame: the hub ignores the message; the probe's listener takes it.
  // The frame posts its whole list back on that port at each event: the page keeps the latest
  // (puppeteer may not find the frame again after a restore).
  await frame.evaluate(`addEventListener('message', (e) => {
    if (e.data !== 'probe-port') return;
    const port = e.ports[0];
    const note = window.__note;
    window.__note = (what) => { note(what); port.postMessage(window.__ev); };
    port.onmessage = (m) => window.__note('message: ' + m.data);
  })`);
  await page.evaluate(`(() => {
    const { port1, port2 } = new MessageChannel();
    mesh.hubFrame.contentWindow.postMessage('probe-port', ${JSON.stringify(new URL(hubUrl).origin)}, [port2]);
    port1.onmessage = (m) => (window.__frameEv = m.data);
    addEventListener('pagehide', () => port1.postMessage('page pagehide'));
    addEventListener('pageshow', (e) => e.persisted && port1.postMessage('page pageshow'));
  })()`);
}

/** Firefox's PageCache log lines that say why a page was not saved, once each. */
function firefoxReasons(): string[] {
  const file = process.env.MOZ_LOG_FILE!;
  const lines = readdirSync(dirname(file))
    .filter((f) => f.startsWith(basename(file)))
    .flatMap((f) => readFileSync(`${dirname(file)}/${f}`, 'utf8').split('\n'))
    .filter((l) => /PageCache Save of .* blocked/.test(l))
    .map((l) => l.replace(/^.*PageCache /, '').replace(/:\d+\//, ':<port>/'));
  return [...new Set(lines)];
}

const ctx = await browser.createBrowserContext();
const stay = await openTab(ctx, appUrl, 'A2');
await stay.evaluate((o) => (window as any).T.boot(o), options);
const results: unknown[] = [];
for (let i = 0; i < runs; i++) {
  const page = await openTab(ctx, appUrl, 'A1');
  const reasons: string[] = [];
  if (engine === 'chromium') {
    const cdp = await page.createCDPSession();
    await cdp.send('Page.enable');
    cdp.on('Page.backForwardCacheNotUsed', (e) => reasons.push(...e.notRestoredExplanations.map((x) => x.reason)));
  }
  await page.evaluate((o) => (window as any).T.boot(o), options);
  await page.evaluate(RECORD);
  if (!noHub) await probeFrame(page);
  await new Promise((r) => setTimeout(r, 300));
  await page.goto(`http://localhost:${new URL(away.http).port}/app.html`);
  await new Promise((r) => setTimeout(r, 1_000));
  await page.goBack();
  await new Promise((r) => setTimeout(r, 1_000));
  const restored = await page.evaluate(() => typeof (window as any).mesh === 'object');
  let after: unknown = 'not restored';
  if (restored) {
    after = await page.evaluate(() =>
      Promise.race([(window as any).mesh.status().then((s: any) => `status ok (tabs ${s.tabs})`, (e: any) => `status failed: ${e.code}`), new Promise((r) => setTimeout(() => r('status: no answer in 3 s'), 3_000))]),
    );
  }
  const pageEv: [number, string][] = restored ? await page.evaluate(() => (window as any).__ev) : [];
  const frameEv: [number, string][] = restored ? await page.evaluate(() => (window as any).__frameEv ?? []) : [];
  const all = [...pageEv.map(([t, e]) => [t, `page ${e}`] as const), ...frameEv.map(([t, e]) => [t, `frame ${e}`] as const)].sort((a, b) => a[0] - b[0]);
  const t0 = all[0]?.[0] ?? 0;
  if (engine === 'firefox') reasons.push(...firefoxReasons());
  results.push({ run: i, restored, reasons, order: all.map(([t, e]) => `+${t - t0} ${e}`), after });
  await page.close();
}
console.log(JSON.stringify({ engine, hub: !noHub, version: await browser.version(), results }, null, 1));
await browser.close();
await Promise.all([hub.stop(), site.stop(), away.stop()]);
