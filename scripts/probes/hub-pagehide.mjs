// Measures whether a cross-site iframe (the hub) still hears a message its top page posts on a
// MessagePort at the page's pagehide, and in which order with the iframe's own pagehide
// (docs/BROWSER.md, "Requests to a tab that goes"). Not part of the product or the tests: run it
// by hand after a browser upgrade:  node scripts/probes/hub-pagehide.mjs [chromium|firefox] [runs]
//
// The top page at 127.0.0.1 embeds a frame at 127.0.0.2 (another site: an out-of-process frame
// where the engine isolates sites), hands it a port, and at its pagehide posts 'closing' on it.
// The frame notes each event (the message, its own pagehide) and sends what it noted so far
// with navigator.sendBeacon; the last beacon of a run tells the order (the top page's pagehide
// sends one too, saying whether it went into the back/forward cache). Each run ends the page one
// way: `close` (the tab closes: puppeteer's page.close()) or `navigate` (the top page goes to
// another site; it goes into the back/forward cache, unless NO_BFCACHE=1 turns that cache off).
import http from 'node:http';
import puppeteer from 'puppeteer-core';

const PAGES = {
  '/top.html': `<!doctype html><iframe id=f></iframe><script>
const q = new URLSearchParams(location.search);
const { port1, port2 } = new MessageChannel();
f.onload = () => { f.contentWindow.postMessage('port', new URL(q.get('frame')).origin, [port2]); };
addEventListener('pagehide', (e) => { port1.postMessage('closing'); navigator.sendBeacon('/log?run=top-' + new URL(q.get('frame')).searchParams.get('run'), JSON.stringify([e.persisted ? 'top pagehide (persisted)' : 'top pagehide'])); });
f.src = q.get('frame');
</script>`,
  '/frame.html': `<!doctype html><script>
const run = new URLSearchParams(location.search).get('run');
const events = [];
const note = (ev) => { events.push(ev); navigator.sendBeacon('/log?run=' + run, JSON.stringify(events)); };
addEventListener('message', (e) => { if (e.ports[0]) { e.ports[0].onmessage = () => note('message'); note('port'); } });
addEventListener('pagehide', (e) => note(e.persisted ? 'pagehide (persisted)' : 'pagehide'));
</script>`,
  '/away.html': '<!doctype html>away',
};

/** Per run, the longest list of events any beacon carried. */
const seen = new Map();
const server = (host) =>
  new Promise((res) => {
    const s = http.createServer((q, r) => {
      const url = new URL(q.url, 'http://x');
      if (url.pathname === '/log') {
        let body = '';
        q.on('data', (c) => (body += c));
        q.on('end', () => {
          const events = JSON.parse(body);
          const run = url.searchParams.get('run');
          if ((seen.get(run)?.length ?? 0) < events.length) seen.set(run, events);
          r.end();
        });
        return;
      }
      const page = PAGES[url.pathname];
      r.writeHead(page ? 200 : 404, { 'content-type': 'text/html' });
      r.end(page ?? '');
    });
    s.listen(0, host, () => res(s));
  });

const engine = process.argv[2] ?? 'chromium';
const runs = Number(process.argv[3] ?? 20);
const [topSrv, frameSrv, awaySrv] = await Promise.all([server('127.0.0.1'), server('127.0.0.2'), server('127.0.0.3')]);
const ff = engine === 'firefox';
const noCache = process.env.NO_BFCACHE === '1';
const browser = await puppeteer.launch(
  ff
    ? { browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true, extraPrefsFirefox: noCache ? { 'browser.sessionhistory.max_total_viewers': 0 } : {} }
    : { executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', ...(noCache ? ['--disable-features=BackForwardCache'] : [])] },
);
const tally = {};
for (let i = 0; i < runs; i++) {
  for (const how of ['close', 'navigate']) {
    const run = `${how}-${i}`;
    const frame = `http://127.0.0.2:${frameSrv.address().port}/frame.html?run=${run}`;
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${topSrv.address().port}/top.html?frame=${encodeURIComponent(frame)}`);
    // The frame has its port once its first beacon came.
    for (let t = 0; t < 100 && !seen.get(run); t++) await new Promise((r) => setTimeout(r, 50));
    if (how === 'close') await page.close();
    else await page.goto(`http://127.0.0.3:${awaySrv.address().port}/away.html`);
    // Its beacons: bounded wait for the one that names the frame's pagehide, then a little more for a late message.
    for (let t = 0; t < 60 && !seen.get(run)?.some((e) => e.startsWith('pagehide')); t++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    const order = [...(seen.get(`top-${run}`) ?? ['no top beacon']), ...(seen.get(run) ?? ['none']).filter((e) => e !== 'port')].join(' > ');
    tally[how] ??= {};
    tally[how][order] = (tally[how][order] ?? 0) + 1;
    if (how !== 'close') await page.close();
  }
}
console.log(JSON.stringify({ engine, version: await browser.version(), bfcache: !noCache, runs, tally }, null, 1));
await browser.close();
for (const s of [topSrv, frameSrv, awaySrv]) s.close();
