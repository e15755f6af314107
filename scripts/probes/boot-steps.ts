// Where a first visit's connect() goes, step by step (docs/BENCHMARKS.md, "Time to first
// message"). Not part of the product, the tests or the bench: run it by hand, from each of two
// checkouts in turn to compare their bundles under the same load:
//   node --import tsx scripts/probes/boot-steps.ts [visits] [chromium|firefox]
//
// A server node on loopback serves bench/pages/mesh.html and this checkout's browser bundle. Each
// visit opens the page in two fresh contexts at once (as the bench's first-message trial does),
// calls connect() in both and reads status().boot; it prints, in ms after the tab's connect()
// began, the median of each step over both pages of every visit; then the median of the spans
// between the node's own steps (`host` -> `ready`: its whole start, after the engine has started
// the worker and run its script). BOOT_STEPS_JSON=1 also prints every sample, to pool runs.
// BOOT_STEPS_RTT_MS=80: the pages dial the server through a TCP relay on loopback that holds
// every chunk half that long each way, as a far server would (the page itself is served
// directly; the relay's own connect is instant, so a real network's TCP handshake is not in it).
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { launchChromium, launchFirefox, percentile, ROOT } from '../../bench/lib.js';
import { startNode } from '../../src/server/index.js';

const visits = Number(process.argv[2] ?? 8);
const engine = process.argv[3] ?? 'chromium';

const node = await startNode({ port: 0, static: join(ROOT, 'bench', 'pages') });
const origin = `http://127.0.0.1:${new URL(node.url!).port}`;
const rttMs = Number(process.env.BOOT_STEPS_RTT_MS ?? 0);
const relay = createServer((down: Socket) => {
  const up = connect(Number(new URL(node.url!).port), '127.0.0.1');
  // Nagle's wait for delayed ACKs would add its own stalls to the held chunks: no real network's.
  down.setNoDelay(true);
  up.setNoDelay(true);
  // Timers of one delay fire in the order they were set: each direction keeps its byte order.
  const later = (f: () => void) => setTimeout(f, rttMs / 2);
  for (const [from, to] of [[down, up], [up, down]] as const) {
    from.on('data', (d) => later(() => to.write(d)));
    from.on('end', () => later(() => to.end()));
    from.on('error', () => later(() => to.destroy()));
  }
});
await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
const wsUrl = rttMs > 0 ? `ws://127.0.0.1:${(relay.address() as { port: number }).port}/mesh` : node.url!;
const browser = engine === 'firefox' ? await launchFirefox() : await launchChromium();
const steps: Record<string, number[]> = {};
try {
  for (let i = 0; i < visits; i++) {
    const ctxs = [await browser.createBrowserContext(), await browser.createBrowserContext()];
    const boots = await Promise.all(ctxs.map(async (ctx) => {
      const page = await ctx.newPage();
      await page.goto(`${origin}/mesh.html`, { timeout: 30_000 });
      await page.waitForFunction(() => (window as any).ready === true, { timeout: 30_000 });
      await page.evaluate((ws: string) => (window as any).T.boot({ bootstrap: [ws] }), wsUrl);
      return page.evaluate(() => (window as any).mesh.status().then((s: any) => s.boot));
    }));
    for (const boot of boots) {
      const from = boot.tab.connect as number;
      const all: Record<string, number> = { ...boot.node, ...Object.fromEntries(Object.entries(boot.tab).map(([k, v]) => [`tab:${k}`, v as number])) };
      for (const [k, v] of Object.entries(all)) (steps[k] ??= []).push(v - from);
      // The node's own parts, each from the step before it: what a change to one of them moves.
      const n = { ...boot.node, ready: boot.tab.ready };
      for (const [a, z] of [['host', 'hello'], ['hello', 'keys'], ['keys', 'started'], ['started', 'link'], ['ws-open', 'link'], ['host', 'ready']]) {
        if (n[a] !== undefined && n[z] !== undefined) (steps[`${a}->${z}`] ??= []).push(n[z] - n[a]);
      }
    }
    await Promise.all(ctxs.map((c) => c.close()));
  }
} finally {
  await browser.close();
  relay.close();
  await node.stop();
}
const rows = Object.entries(steps).map(([k, xs]) => [k, Math.round(percentile(xs, 0.5))] as const).sort((a, b) => a[1] - b[1]);
const line = (spans: boolean) => rows.filter(([k]) => k.includes('->') === spans).map(([k, v]) => `${k} ${v}`).join(', ');
console.log(`${engine}, ${visits} visits x 2 fresh contexts${rttMs ? `, server ${rttMs} ms away` : ''}: ${line(false)}\n  intervals, p50: ${line(true)}`);
if (process.env.BOOT_STEPS_JSON) console.log(JSON.stringify(steps)); // every sample, to pool runs
