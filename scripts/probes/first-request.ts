// The first request after connect(), from one fresh browser to another (docs/BENCHMARKS.md,
// "Time to first message ... session 19"). Not part of the product, the tests or the bench: run
// it by hand, from each of two checkouts in turn to compare them under the same load:
//   node --import tsx scripts/probes/first-request.ts [visits] [chromium|firefox]
// NO_RTC=1 hides RTCPeerConnection from the pages, so neither node dials a WebRTC link.
// LATENCY_MS=n puts a TCP relay between the pages' nodes and the server node that holds every
// chunk n ms each way, as a mobile link would (the pages themselves load directly).
//
// A server node on loopback serves bench/pages/mesh.html and this checkout's bundle. Each visit
// opens the page in two fresh contexts at once, calls connect() in both, then page A requests
// page B on port 1 (B's echo handler) at once. It prints the medians, ms: `both->send` (the later
// connect() to the request, the driver's part), `send->seen` (the request to its arrival in B's
// handler), `send->answer` (to the answer in A), `key cards` (A's key request answered by the
// server with B's key card, key-cards.ts: 1 when it was), and the samples as JSON.
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { launchChromium, launchFirefox, percentile, ROOT } from '../../bench/lib.js';
import { startNode } from '../../src/server/index.js';

const visits = Number(process.argv[2] ?? 8);
const engine = process.argv[3] ?? 'chromium';

const node = await startNode({ port: 0, static: join(ROOT, 'bench', 'pages') });
const origin = `http://127.0.0.1:${new URL(node.url!).port}`;
const latencyMs = Number(process.env.LATENCY_MS ?? 0);
const relay = latencyMs > 0 ? await slowRelay(Number(new URL(node.url!).port), latencyMs) : undefined;
const bootstrap = relay ? node.url!.replace(/:\d+/, `:${relay.port}`) : node.url!;
const browser = engine === 'firefox' ? await launchFirefox() : await launchChromium();
const spans: Record<string, number[]> = {};
const add = (k: string, v: number) => (spans[k] ??= []).push(v);
try {
  for (let i = 0; i < visits; i++) {
    const ctxs = [await browser.createBrowserContext(), await browser.createBrowserContext()];
    const pages = await Promise.all(ctxs.map(async (ctx) => {
      const page = await ctx.newPage();
      if (process.env.NO_RTC) await page.evaluateOnNewDocument(() => { (window as any).RTCPeerConnection = undefined; });
      await page.goto(`${origin}/mesh.html`, { timeout: 30_000 });
      await page.waitForFunction(() => (window as any).ready === true, { timeout: 30_000 });
      return page;
    }));
    const [a, b] = await Promise.all(pages.map((page) => page.evaluate((ws: string) => (window as any).T.boot({ bootstrap: [ws] }), bootstrap)));
    const token = `first:${i}`;
    const r = await pages[0]!.evaluate(async (to: string, t: string) => {
      const sentAt = performance.timeOrigin + performance.now();
      const x = await (window as any).T.firstRequest(to, t, 20);
      return { sentAt, at: x.at as number, errors: x.errors.length as number };
    }, b.id, token);
    const seen: number = await pages[1]!.evaluate((t: string) => (window as any).T.rx.seen[t], token);
    add('both->send', r.sentAt - Math.max(a.doneAt, b.doneAt));
    add('send->seen', seen - r.sentAt);
    add('send->answer', r.at - r.sentAt);
    add('failed tries', r.errors);
    // After the timing: A's key requests that a forwarder answered with B's key card (key-cards.ts; absent before it).
    add('key cards', await pages[0]!.evaluate(async () => ((await (window as any).mesh.status()).e2e.keyCards ?? 0) as number));
    await Promise.all(ctxs.map((c) => c.close()));
  }
} finally {
  await browser.close();
  relay?.close();
  await node.stop();
}
const med = Object.entries(spans).map(([k, xs]) => `${k} ${Math.round(percentile(xs, 0.5))}`).join(', ');
console.log(`${engine}, ${visits} visits x 2 fresh contexts${process.env.NO_RTC ? ', no RTCPeerConnection' : ''}${latencyMs ? `, ${latencyMs} ms each way to the server` : ''}, p50: ${med}`);
console.log(JSON.stringify(spans));

/** A TCP relay to `port` on loopback that delivers every chunk `delayMs` after it came, in order, each way. */
async function slowRelay(port: number, delayMs: number): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<Socket>();
  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs));
    from.on('close', () => setTimeout(() => to.destroy(), delayMs));
    from.on('error', () => undefined);
  };
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    sockets.add(client).add(upstream);
    // As the server's own sockets (ws sets it): else Nagle holds small frames for the ack, ~40 ms.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, close: () => (server.close(), sockets.forEach((s) => s.destroy())) };
}
