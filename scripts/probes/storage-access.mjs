// Measures what the Storage Access API really does for a third-party iframe's SharedWorker,
// IndexedDB and Web Locks in Debian's headless Chromium and Firefox ESR (docs/BROWSER.md,
// "Storage access: measured"). Not part of the product or the tests: run it by hand after a
// browser upgrade:  node scripts/probes/storage-access.mjs [chromium|firefox]
//
// Three sites on loopback: the "hub" page at 127.0.0.2 is embedded in top pages at 127.0.0.1 and
// localhost, and also opened top-level. Each SharedWorker instance draws a random tag when it
// starts, and stores one in IndexedDB the first time: the same tag means the same worker / the
// same database.
import http from 'node:http';
import https from 'node:https';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import puppeteer from 'puppeteer-core';

const PAGES = {
  '/top.html': `<!doctype html><iframe id=f style="width:300px;height:200px" allow="storage-access"></iframe>
<script>f.src = new URLSearchParams(location.search).get('hub');</script>`,
  '/hub.html': `<!doctype html><button id=b style="width:280px;height:180px">go</button><script>
const WORKER_OPTS = JSON.parse(new URLSearchParams(location.search).get('opts') || '{}');
const ask = (w) => new Promise((res) => { w.onerror = (e) => res('worker error: ' + (e.message || e.type)); w.port.onmessage = (e) => res(e.data); w.port.postMessage('hi'); setTimeout(() => res('no answer'), 3000); });
window.r = {};
const tag = Math.random().toString(36).slice(2, 8);
navigator.locks.request('plain-' + tag, () => new Promise(() => {}));
(async () => {
  r.top = document.referrer; r.hasBefore = await document.hasStorageAccess?.();
  r.permission = await navigator.permissions.query({ name: 'storage-access' }).then((s) => s.state, (e) => 'query failed: ' + e.message);
  // WORKER_OPTS: SharedWorker options for every worker the page makes (e.g. sameSiteCookies).
  r.partitioned = await ask(new SharedWorker('w.js', WORKER_OPTS));
  r.loaded = true;
})();
window.go = async (types) => {
  try {
    if (window.PLAIN_FIRST) { await document.requestStorageAccess(); r.plainFirst = await document.hasStorageAccess(); }
    const h = await Promise.race([types ? document.requestStorageAccess(types) : document.requestStorageAccess(), new Promise((_, j) => setTimeout(() => j(new Error('no answer in 5 s')), 5000))]);
    r.saa = 'granted'; r.handle = h ? Object.keys(Object.getPrototypeOf(h)).concat(Object.keys(h)).join(',') : String(h);
    if (window.STOP === 'grant') { r.done = true; return; }
    if (h?.locks) h.locks.request('handle-' + tag, () => new Promise(() => {}));
    if (window.STOP === 'locks') { r.done = true; return; }
    r.after = await ask(h?.SharedWorker ? h.SharedWorker('w.js', WORKER_OPTS) : new SharedWorker('w.js', WORKER_OPTS)); // a method of the handle, not a constructor
    r.afterPlainCtor = await ask(new SharedWorker('w.js'));
  } catch (e) { r.saa = 'refused: ' + e.name + ' ' + e.message; }
  r.hasAfter = await document.hasStorageAccess?.();
  r.done = true;
};
b.onclick = () => { const t = JSON.parse(b.dataset.types || 'null'); go(t ?? undefined); };
</script>`,
  '/w.js': `const inst = Math.random().toString(36).slice(2, 8);
const db = new Promise((res) => { const q = indexedDB.open('probe', 1); q.onupgradeneeded = () => q.result.createObjectStore('s'); q.onsuccess = () => res(q.result); });
const stored = db.then((d) => new Promise((res) => { const s = d.transaction('s', 'readwrite').objectStore('s'); const g = s.get('k');
  g.onsuccess = () => { if (g.result) res(g.result); else { s.put(inst, 'k'); res(inst); } }; }));
onconnect = (e) => { const p = e.ports[0]; p.onmessage = async () => {
  const within = (pr) => Promise.race([pr, new Promise((r) => setTimeout(() => r('stuck'), 1000))]).catch((e) => 'failed: ' + e.message);
  const locks = await within(navigator.locks.query().then((q) => q.held.map((l) => l.name).sort().join(' ')));
  p.postMessage({ worker: inst, idb: await within(stored), locks }); }; };`,
};

const server = (host) =>
  new Promise((res) => {
    // TLS=<dir with key.pem, cert.pem>: serve https (a self-signed cert the browsers are told to accept).
    const tls = process.env.TLS;
    const make = tls ? (h) => https.createServer({ key: readFileSync(tls + '/key.pem'), cert: readFileSync(tls + '/cert.pem') }, h) : (h) => http.createServer(h);
    const s = make((q, r) => {
      const body = PAGES[q.url.split('?')[0]];
      r.writeHead(body ? 200 : 404, { 'content-type': q.url.includes('.js') ? 'text/javascript' : 'text/html' });
      r.end(body ?? '');
    });
    s.listen(0, host, () => res(s));
  });

const engine = process.argv[2] ?? 'chromium';
const variants = process.argv[3]?.split(',') ?? ['none', 'granted', 'granted-no-gesture', 'no-types'];
const hubSrv = await server('127.0.0.2');
const topSrv = await server('127.0.0.1');
const scheme = process.env.TLS ? 'https' : 'http';
const hub = `${scheme}://127.0.0.2:${hubSrv.address().port}/hub.html${process.env.WORKER_OPTS ? `?opts=${encodeURIComponent(process.env.WORKER_OPTS)}` : ''}`;
const tops = [`${scheme}://127.0.0.1:${topSrv.address().port}`, `${scheme}://localhost:${topSrv.address().port}`];

for (const variant of variants) {
  const ff = engine === 'firefox';
  const prefs = { 'media.peerconnection.ice.loopback': true };
  if (ff && variant.startsWith('prompt-allow')) Object.assign(prefs, { 'dom.storage_access.prompt.testing': true, 'dom.storage_access.prompt.testing.allow': true });
  const browser = await puppeteer.launch(
    ff
      ? { browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true, acceptInsecureCerts: true, extraPrefsFirefox: prefs }
      : { executablePath: '/usr/bin/chromium', headless: true, ...(process.env.ALLOW_3PC ? { userDataDir: profileAllowing3pc() } : {}), acceptInsecureCerts: true, dumpio: !!process.env.DUMPIO, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', ...(process.env.CHROME_ARGS?.split(' ') ?? []), ...(variant === 'flag-unpartitioned' ? ['--disable-features=ThirdPartyStoragePartitioning'] : [])] },
  );
  // The default context is the profile; createBrowserContext() makes an off-the-record one.
  const ctx = process.env.CTX === 'default' ? browser.defaultBrowserContext() : await browser.createBrowserContext();
  const out = { engine, variant, version: await browser.version() };
  try {
    if (variant.startsWith('granted')) {
      for (const top of tops) {
        if (ff) {
          await browser.connection.send('permissions.setPermission', { descriptor: { name: 'storage-access' }, state: 'granted', origin: new URL(hub).origin, embeddedOrigin: top, userContext: ctx.id ?? 'default' })
            .catch((e) => (out.grantError = 'hub-as-origin: ' + e.message));
          await browser.connection.send('permissions.setPermission', { descriptor: { name: 'storage-access' }, state: 'granted', origin: top, embeddedOrigin: new URL(hub).origin, userContext: ctx.id ?? 'default' })
            .catch((e) => (out.grantError2 = 'top-as-origin: ' + e.message));
        } else {
          const cdp = await browser.target().createCDPSession();
          await cdp.send('Browser.setPermission', { permission: { name: 'storage-access' }, setting: 'granted', origin: top, embeddedOrigin: new URL(hub).origin, ...(ctx.id ? { browserContextId: ctx.id } : {}) });
        }
      }
    }
    const first = await ctx.newPage();
    await first.goto(hub);
    await first.waitForFunction(() => window.r?.loaded, { timeout: 10000 });
    out.firstParty = (await first.evaluate(() => r)).partitioned;
    // Chromium asks for a prior top-level interaction with the embedded site: give it one.
    if (process.env.INTERACT) await first.click('#b');
    for (const top of tops) {
      const page = await ctx.newPage();
      if (process.env.COOKIES) {
        const cdp = await page.createCDPSession();
        await cdp.send('Network.enable');
        await cdp.send('Network.setCookieControls', { enableThirdPartyCookieRestriction: process.env.COOKIES === 'block', disableThirdPartyCookieMetadata: false, disableThirdPartyCookieHeuristics: false });
      }
      await page.goto(`${top}/top.html?hub=${encodeURIComponent(hub)}`);
      await page.waitForSelector('iframe');
      let frame;
      for (let i = 0; i < 50; i++) {
        frame = page.frames().find((f) => f.url().startsWith(hub) && !f.detached);
        if (frame && (await frame.evaluate(() => window.r?.loaded).catch(() => false))) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const types = process.env.TYPES ? JSON.parse(process.env.TYPES) : variant.endsWith('no-types') ? null : { SharedWorker: true, indexedDB: true, locks: true };
      await frame.evaluate((t) => (document.getElementById('b').dataset.types = JSON.stringify(t)), types);
      if (process.env.PLAIN_FIRST) await frame.evaluate(() => (window.PLAIN_FIRST = true));
      if (process.env.STOP) await frame.evaluate((s) => (window.STOP = s), process.env.STOP);
      if (process.env.DEBUG) console.error('frame', frame?.url(), await frame.evaluate(() => JSON.stringify(r)));
      if (variant.endsWith('no-gesture')) await frame.evaluate((t) => void window.go(t ?? undefined), types);
      else await frame.click('#b');
      if (process.env.DEBUG) console.error('clicked');
      await frame.waitForFunction(() => window.r?.done, { timeout: 10000 }).catch(() => undefined);
      out[new URL(top).hostname] = await frame.evaluate(() => r).catch((e) => 'read failed: ' + e.message);
      if (process.env.RELOAD) {
        // After a grant, does a new document of the hub in the same embedding start unpartitioned?
        await frame.evaluate(() => location.reload());
        await new Promise((res) => setTimeout(res, 1500));
        const again = page.frames().find((f) => f.url().startsWith(hub));
        await again.waitForFunction(() => window.r?.loaded, { timeout: 10000 }).catch(() => undefined);
        out[new URL(top).hostname + ' reloaded'] = await again.evaluate(() => r).catch((e) => 'read failed: ' + e.message);
      }
    }
  } catch (e) {
    out.error = e.message;
  }
  console.log(JSON.stringify(out, null, 1));
  await browser.close();
}
hubSrv.close();
topSrv.close();

/** A Chromium profile whose user allowed third-party cookies (Settings > Privacy > Third-party cookies). */
function profileAllowing3pc() {
  const dir = mkdtempSync(`${tmpdir()}/sa-probe-`);
  mkdirSync(`${dir}/Default`);
  writeFileSync(`${dir}/Default/Preferences`, JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }));
  return dir;
}
