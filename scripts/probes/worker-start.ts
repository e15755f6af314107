// What a SharedWorker's start costs by its script (docs/BENCHMARKS.md, "Time to first message
// ... session 19"). Not part of the product, the tests or the bench: run it by hand after
// `npm run build`:
//   node --import tsx scripts/probes/worker-start.ts [rounds] [pages at once]
//
// A plain HTTP server on loopback serves one page and three worker scripts, each starting with a
// line that notes the time and ending with one that answers the page: `tiny` (nothing between),
// `bytes` (a comment as long as dist/browser/worker.js: the fetch and the scan of its bytes, no
// code), and `worker` (dist/browser/worker.js itself, whose node host then starts). In each round
// every script is started once in fresh contexts (several at once: the bench's first-message
// trial opens two browsers together), a fresh URL each time. It prints the medians, ms after
// `new SharedWorker()`: the worker's time origin, its script's first line, its last line, and
// the page hearing the answer.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { launchChromium, percentile, ROOT } from '../../bench/lib.js';

const rounds = Number(process.argv[2] ?? 8);
const together = Number(process.argv[3] ?? 2);
const built = readFileSync(join(ROOT, 'dist', 'browser', 'worker.js'), 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, '');
const first = 'globalThis.__t0 = performance.timeOrigin + performance.now();\n';
const last = '\nglobalThis.__t1 = performance.timeOrigin + performance.now();\n' +
  'onconnect = function (e) { e.ports[0].postMessage([performance.timeOrigin, __t0, __t1]); };\n';
const scripts: Record<string, string> = {
  tiny: first + last,
  bytes: first + '/*' + 'x'.repeat(built.length) + '*/' + last,
  // The bundle's own "use strict" would no longer be first: keep the script strict by wrapping it.
  worker: first + '(function () {\n' + built + '\n})();' + last,
};
const page = `<!doctype html><script>
window.start = function (name) { return new Promise(function (resolve) {
  var t = performance.timeOrigin + performance.now();
  var w = new SharedWorker('/' + name + '.js?' + Math.random());
  w.onerror = function () { resolve(null); };
  w.port.onmessage = function (e) { resolve([e.data[0] - t, e.data[1] - t, e.data[2] - t, performance.timeOrigin + performance.now() - t]); };
}); };
</script>`;
const server = createServer((req, res) => {
  const name = (req.url ?? '/').slice(1).split('.js')[0]!;
  const body = scripts[name];
  res.writeHead(200, { 'content-type': body === undefined ? 'text/html' : 'text/javascript' });
  res.end(body ?? page);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const browser = await launchChromium();
const out: Record<string, number[][]> = {};
try {
  for (let r = 0; r < rounds; r++) {
    for (const name of Object.keys(scripts)) {
      const ctxs = await Promise.all(Array.from({ length: together }, () => browser.createBrowserContext()));
      const pages = await Promise.all(ctxs.map(async (ctx) => { const p = await ctx.newPage(); await p.goto(`${origin}/`); return p; }));
      const times = await Promise.all(pages.map((p) => p.evaluate((n: string) => (window as any).start(n), name)));
      for (const t of times) if (t) (out[name] ??= []).push(t);
      await Promise.all(ctxs.map((c) => c.close()));
    }
  }
} finally {
  await browser.close();
  server.close();
}
console.log(`chromium, ${rounds} rounds x ${together} fresh contexts at once; worker.js ${built.length} bytes; p50 ms after new SharedWorker():`);
for (const [name, ts] of Object.entries(out)) {
  const col = (k: number) => percentile(ts.map((t) => t[k]!), 0.5).toFixed(0).padStart(4);
  console.log(`  ${name.padEnd(7)} origin ${col(0)}  first line ${col(1)}  last line ${col(2)}  page hears ${col(3)}  (${ts.length} starts)`);
}
