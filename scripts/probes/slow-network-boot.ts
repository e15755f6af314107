// A first visit over a slow network, with the server node's files compressed and without
// (docs/BENCHMARKS.md, "The bundle over a slow network"). Not part of the product, the tests or
// the bench (the bench serves its pages itself, on loopback): run it by hand:
//   node --import tsx scripts/probes/slow-network-boot.ts [trials] [kbit/s] [rtt ms]
//
// Two server nodes on loopback serve bench/pages/mesh.html and the browser bundle, one with
// `compress: true` (the default), one with `compress: false`. Each is reached through a TCP proxy
// in this process that models one access link: everything the browser downloads shares one queue
// drained at `kbit/s`, and every chunk each way is held for half the round trip. Each trial
// opens the page in a fresh Chromium context (empty cache), calls connect() and waits for its first
// link, alternating the two servers; it prints the medians of the page load, connect() and the
// sum, and the bytes the proxy carried down per visit.
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { launchChromium, percentile, ROOT } from '../../bench/lib.js';
import { startNode, type ServerNode } from '../../src/server/index.js';

const trials = Number(process.argv[2] ?? 6);
const kbps = Number(process.argv[3] ?? 10_000);
const rttMs = Number(process.argv[4] ?? 40);
const bytesPerMs = (kbps * 1000) / 8 / 1000;

/** One shared downlink: a chunk leaves when the link is free and arrives half a round trip later. */
class Downlink {
  private busyUntil = 0;
  carried = 0;
  private readonly queues = new Map<Socket, { at: number; piece: Buffer }[]>();
  send(to: Socket, chunk: Buffer): void {
    const now = performance.now();
    let q = this.queues.get(to);
    if (!q) this.queues.set(to, (q = []));
    const idle = q.length === 0;
    // Pieces of 4 KB so one big chunk does not hold the link in one step.
    for (let at = 0; at < chunk.length; at += 4096) {
      const piece = chunk.subarray(at, at + 4096);
      this.busyUntil = Math.max(now, this.busyUntil) + piece.length / bytesPerMs;
      this.carried += piece.length;
      q.push({ at: this.busyUntil + rttMs / 2, piece });
    }
    if (idle) this.drain(to, q);
  }
  /** Writes each socket's pieces in order, each at its time: one timer per socket. */
  private drain(to: Socket, q: { at: number; piece: Buffer }[]): void {
    const now = performance.now();
    while (q.length > 0 && q[0]!.at <= now) {
      const { piece } = q.shift()!;
      if (!to.destroyed) to.write(piece);
    }
    if (q.length > 0) setTimeout(() => this.drain(to, q), q[0]!.at - now);
    else this.queues.delete(to);
  }
}

function proxy(targetPort: number, down: Downlink): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (c) => setTimeout(() => upstream.destroyed || upstream.write(c), rttMs / 2));
    upstream.on('data', (c) => down.send(client, c));
    const end = () => {
      // Let what is still queued for the client go before closing it.
      setTimeout(() => (client.end(), upstream.end()), rttMs + 50);
    };
    client.on('close', () => upstream.destroy());
    upstream.on('end', end);
    for (const s of [client, upstream]) {
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    server.on('close', () => sockets.forEach((s) => s.destroy()));
  }));
}

const pages = join(ROOT, 'bench', 'pages');
const variants: { name: string; node: ServerNode; down: Downlink; proxyPort: number; server: Server; rows: { load: number; connect: number; bytes: number }[] }[] = [];
for (const compress of [true, false]) {
  const node = await startNode({ port: 0, static: pages, compress });
  const port = Number(new URL(node.url!).port);
  const down = new Downlink();
  const p = await proxy(port, down);
  variants.push({ name: compress ? 'compressed' : 'plain', node, down, proxyPort: p.port, server: p.server, rows: [] });
}
const browser = await launchChromium();
try {
  for (let i = 0; i < trials * 2; i++) {
    const v = variants[(i + Math.floor(i / 2)) % 2]!;
    const ctx = await browser.createBrowserContext();
    const page = await ctx.newPage();
    const before = v.down.carried;
    const base = `http://127.0.0.1:${v.proxyPort}`;
    const t0 = performance.now();
    await page.goto(`${base}/mesh.html`, { timeout: 60_000 });
    await page.waitForFunction(() => (window as any).ready === true, { timeout: 60_000 });
    const load = performance.now() - t0;
    const r = await page.evaluate((ws: string) => (window as any).T.boot({ bootstrap: [ws], timeoutMs: 60_000 }), `ws://127.0.0.1:${v.proxyPort}/mesh`);
    v.rows.push({ load, connect: r.connectMs, bytes: v.down.carried - before });
    await ctx.close();
  }
} finally {
  await browser.close();
  for (const v of variants) {
    v.server.close();
    await v.node.stop();
  }
}
const med = (xs: number[]) => Math.round(percentile(xs, 0.5));
console.log(`${trials} visits each, ${kbps} kbit/s down, ${rttMs} ms round trip`);
for (const v of variants) {
  const rows = v.rows;
  console.log(`${v.name.padEnd(10)} page load ${med(rows.map((r) => r.load))} ms, connect() ${med(rows.map((r) => r.connect))} ms, both ${med(rows.map((r) => r.load + r.connect))} ms, down ${Math.round(med(rows.map((r) => r.bytes)) / 1024)} KB per visit`);
}
