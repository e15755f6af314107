// What a SharedWorker's script costs in CPU on the worker's thread (docs/BENCHMARKS.md, "Time to
// first message ... session 20"). Not part of the product, the tests or the bench: run it by hand
// after `npm run build`:
//   node --import tsx scripts/probes/worker-cpu.ts [rounds] [pages at once] [name=path.js ...]
//
// Like worker-start.ts, but it reads a Chromium trace instead of the clock: the thread time
// (`tdur`) of the worker thread's script compile (`v8.compile`), its top level (`v8.run`) and all
// its tasks, which the load of other processes on the machine hardly moves (the wall-clock times
// of worker-start.ts move by ±50 % at load 5-20). Variants: `tiny` (one line), `worker`
// (dist/browser/worker.js) and any other script given as name=path (e.g. a build of worker.ts
// with some modules left out), each started in fresh contexts, in a shuffled order each round.
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, percentile, ROOT } from '../../bench/lib.js';

const rounds = Number(process.argv[2] ?? 8);
const together = Number(process.argv[3] ?? 1);
const read = (path: string) => readFileSync(path, 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, '');
const last = '\nonconnect = function (e) { e.ports[0].postMessage(1); };\n';
// The bundle's own "use strict" would not be first: keep it strict by wrapping it, as worker-start.ts does.
const wrap = (code: string) => '(function () {\n' + code + '\n})();' + last;
const scripts: Record<string, string> = { tiny: last, worker: wrap(read(join(ROOT, 'dist', 'browser', 'worker.js'))) };
for (const arg of process.argv.slice(4)) {
  const [name, path] = arg.split('=');
  scripts[name!] = wrap(read(path!));
}
const page = `<!doctype html><script>
window.start = function (name) { return new Promise(function (resolve) {
  var w = new SharedWorker('/' + name + '.js?' + Math.random());
  w.onerror = function () { resolve(null); };
  w.port.onmessage = function (e) { resolve(e.data); };
}); };
</script>`;
const server = createServer((req, res) => {
  const body = scripts[(req.url ?? '/').slice(1).split('.js')[0]!];
  res.writeHead(200, { 'content-type': body === undefined ? 'text/html' : 'text/javascript' });
  res.end(body ?? page);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const tracePath = join(tmpdir(), `meshwork-worker-cpu-${process.pid}.json`);
const browser = await launchChromium();
try {
  const first = await (await browser.createBrowserContext()).newPage();
  await first.goto(`${origin}/`);
  // Not `disabled-by-default-v8.compile`: its event per preparsed function doubles the compile's time.
  await first.tracing.start({ path: tracePath, categories: ['v8', 'devtools.timeline', 'toplevel'] });
  for (let r = 0; r < rounds; r++) {
    for (const name of Object.keys(scripts).sort(() => Math.random() - 0.5)) {
      const ctxs = await Promise.all(Array.from({ length: together }, () => browser.createBrowserContext()));
      const pages = await Promise.all(ctxs.map(async (ctx) => { const p = await ctx.newPage(); await p.goto(`${origin}/`); return p; }));
      await Promise.all(pages.map((p) => p.evaluate((n: string) => (window as any).start(n), name)));
      await Promise.all(ctxs.map((c) => c.close()));
    }
  }
  await first.tracing.stop();
} finally {
  await browser.close();
  server.close();
}

type TraceEvent = { name: string; ph: string; pid: number; tid: number; tdur?: number; args?: { name?: string; data?: { url?: string } } };
const raw = JSON.parse(readFileSync(tracePath, 'utf8')) as { traceEvents: TraceEvent[] } | TraceEvent[];
rmSync(tracePath);
const events = Array.isArray(raw) ? raw : raw.traceEvents;
const workerThreads = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'SharedWorker thread').map((e) => `${e.pid}:${e.tid}`));
const perThread = new Map<string, { name?: string; ms: Record<string, number> }>();
for (const e of events) {
  const key = `${e.pid}:${e.tid}`;
  if (!workerThreads.has(key) || e.ph !== 'X') continue;
  const t = perThread.get(key) ?? { ms: {} };
  perThread.set(key, t);
  if (e.name === 'EvaluateScript') t.name = e.args?.data?.url?.split('/').pop()?.split('.js')[0];
  const col = e.name === 'ThreadControllerImpl::RunTask' ? 'tasks' : e.name === 'v8.compile' ? 'compile' : e.name === 'v8.run' ? 'run' : undefined;
  if (col) t.ms[col] = (t.ms[col] ?? 0) + (e.tdur ?? 0) / 1000;
}
console.log(`chromium, ${rounds} rounds x ${together} at once; thread CPU ms on the SharedWorker's thread, p25 / p50 / p75:`);
for (const name of Object.keys(scripts)) {
  const starts = [...perThread.values()].filter((t) => t.name === name);
  const cell = (col: string) => [0.25, 0.5, 0.75].map((q) => percentile(starts.map((t) => t.ms[col] ?? 0), q).toFixed(1)).join(' / ');
  console.log(`  ${name.padEnd(8)} ${(scripts[name]!.length / 1000).toFixed(0).padStart(4)} KB  compile ${cell('compile')}  top level ${cell('run')}  all tasks ${cell('tasks')}  (${starts.length} starts)`);
}
