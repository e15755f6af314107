/**
 * How many nodes one server carries: `npm run bench -- --only=capacity`.
 *
 * One server (bench/capacity-server.ts, its own process) and lightweight clients in this
 * process: each a real Node API node (its own Ed25519 identity, handshake, signed packets,
 * keepalives and maintenance) that links to the server only, since Node clients
 * without a port are leaves and cannot link to each other. They join at a steady rate, and each
 * sends one request a second to a partner picked at random, so every request and every reply crosses
 * the server: the worst case for it, where browsers would carry much of it over WebRTC.
 * The clients run without end-to-end encryption: the server only forwards, so its work is
 * the same, and the clients' crypto would compete with it for this machine's two cores.
 * Every few seconds a window records N, request latency p50/p99 (a timeout counts as
 * the whole 5 s), the server's CPU and memory, and this process's event-loop delay (when that is
 * high, the clients, not the server, are the bottleneck). Writes docs/capacity.svg.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startNode, type ServerNode } from '../src/server/index.js';
import { percentile, ROOT, round, sleep } from './lib.js';
import type { BenchContext } from './run.js';

const PORT = 1;
const WINDOW_MS = 5_000;
const REQUEST_TIMEOUT_MS = 5_000;
/** Latency a request must stay under at p99 for N to count as carried. */
const P99_LIMIT_MS = 100;

interface Sample {
  at: number;
  cpu: { user: number; system: number };
  mem: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  links: number;
  connections: number;
  forwarded: number;
  dropped: Record<string, number>;
}

export interface CapacityWindow {
  n: number;
  serverLinks: number;
  requests: number;
  replies: number;
  failures: number;
  p50Ms: number | null;
  /** A failed request (timed out) counts as taking the whole timeout, 5 000 ms. */
  p99Ms: number | null;
  serverCpuPct: number | null;
  serverRssMB: number;
  serverHeapMB: number;
  forwardedPerSec: number;
  clientLoopDelayP99Ms: number | null;
  loadAvg1m: number;
}

class ServerProcess {
  private waiting: ((s: Sample) => void)[] = [];
  constructor(private readonly child: ChildProcess, readonly url: string) {
    child.on('message', (m: { sample?: Sample }) => m.sample && this.waiting.shift()?.(m.sample));
  }

  static start(budget: number): Promise<ServerProcess> {
    const child = fork(join(ROOT, 'bench/capacity-server.ts'), [String(budget)], { execArgv: ['--import', 'tsx'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    process.once('exit', () => child.kill('SIGKILL'));
    return new Promise((resolve, reject) => {
      child.once('message', (m: { url: string }) => resolve(new ServerProcess(child, m.url)));
      child.once('exit', (code) => reject(new Error(`capacity server exited (${code}) before listening`)));
    });
  }

  sample(): Promise<Sample> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send('sample');
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send('stop');
    await Promise.race([exited, sleep(10_000)]);
    this.child.kill('SIGKILL');
  }
}

export async function capacity(c: BenchContext): Promise<Record<string, unknown>> {
  const target = Number(arg('--capacity-nodes') ?? (c.quick ? 400 : 5_000));
  const joinPerSec = Number(arg('--capacity-rate') ?? (c.quick ? 40 : 25));
  const server = await ServerProcess.start(target + 100);
  const clients: ServerNode[] = [];
  const timers: NodeJS.Timeout[] = [];
  const windows: CapacityWindow[] = [];
  let latencies: number[] = [];
  let failures = 0;
  let requests = 0;
  const refusals: Record<string, number> = {};
  const failReasons: Record<string, number> = {};
  let stopReason = '';
  let stopping = false;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const load0 = loadavg()[0]!;
  let last = await server.sample();

  /**
   * Each client asks one partner, picked at random when it joins (the first asks the second),
   * once a second from a random phase. A fixed partner keeps the clients' cost to one AES-GCM
   * seal and open per message after the first key exchange; a new partner every second would
   * make each request an X25519 exchange and signatures, and the clients, not the server,
   * would be what this bench measured. The server's work per request is the same either way.
   */
  const startRequests = (node: ServerNode) => {
    let partner: ServerNode | undefined;
    const tick = () => {
      partner ??= clients.length > 1 ? clients[Math.floor(Math.random() * (clients.length - 1))] : undefined;
      if (!partner || partner === node) return void (partner = undefined);
      requests++;
      const t0 = performance.now();
      node.request(partner.id, 'ping', { port: PORT, timeoutMs: REQUEST_TIMEOUT_MS }).then(
        () => latencies.push(performance.now() - t0),
        (err: { code?: string }) => {
          if (stopping) return; // requests cut short by the clients' own stop
          failures++;
          failReasons[err.code ?? 'error'] = (failReasons[err.code ?? 'error'] ?? 0) + 1;
        },
      );
    };
    timers.push(setTimeout(() => timers.push(setInterval(tick, 1_000)), Math.random() * 1_000));
  };

  const closeWindow = async (): Promise<CapacityWindow> => {
    const s = await server.sample();
    const wall = s.at - last.at;
    const cpu = s.cpu.user + s.cpu.system - last.cpu.user - last.cpu.system;
    const outcomes = [...latencies, ...Array<number>(failures).fill(REQUEST_TIMEOUT_MS)];
    const w: CapacityWindow = {
      n: clients.length,
      serverLinks: s.links,
      requests,
      replies: latencies.length,
      failures,
      p50Ms: round(percentile(outcomes, 0.5), 1),
      p99Ms: round(percentile(outcomes, 0.99), 1),
      serverCpuPct: round((cpu / 1000 / wall) * 100, 1),
      serverRssMB: round(s.mem.rss / 2 ** 20, 1)!,
      serverHeapMB: round((s.mem.heapUsed + s.mem.external) / 2 ** 20, 1)!,
      forwardedPerSec: round(((s.forwarded - last.forwarded) / wall) * 1000, 0)!,
      clientLoopDelayP99Ms: round(loop.percentile(99) / 1e6, 1),
      loadAvg1m: round(loadavg()[0]!, 1)!,
    };
    for (const [k, v] of Object.entries(s.dropped)) if (k.startsWith('handshake:')) refusals[k] = v;
    latencies = [];
    failures = 0;
    requests = 0;
    loop.reset();
    last = s;
    console.log(`#   N=${w.n} p50 ${w.p50Ms} ms p99 ${w.p99Ms} ms (${w.replies} replies, ${w.failures} failed), server CPU ${w.serverCpuPct}% RSS ${w.serverRssMB} MB, client loop p99 ${w.clientLoopDelayP99Ms} ms, load ${w.loadAvg1m} ${JSON.stringify(failReasons)}`);
    return w;
  };

  try {
    // Joins start on the clock (a steady arrival rate, whatever each takes), at most 64 in flight.
    const started = performance.now();
    let inFlight = 0;
    let launched = 0;
    let hot = 0;
    let nextWindow = started + WINDOW_MS;
    while (!stopReason) {
      const due = Math.min(target, Math.floor(((performance.now() - started) / 1000) * joinPerSec) + 1);
      while (launched < due && inFlight < 64) {
        launched++;
        inFlight++;
        joinClient(server.url).then(
          (node) => {
            clients.push(node);
            startRequests(node);
          },
          (err: Error) => {
            refusals[err.message] = (refusals[err.message] ?? 0) + 1;
            stopReason ||= `a client could not join: ${err.message}`;
          },
        ).finally(() => inFlight--);
      }
      if (performance.now() >= nextWindow) {
        nextWindow += WINDOW_MS;
        const w = await closeWindow();
        windows.push(w);
        // p99 is null while no request has finished yet: not a sign of overload.
        hot = w.p99Ms !== null && w.p99Ms > 20 * P99_LIMIT_MS ? hot + 1 : 0;
        if (hot >= 2) stopReason = `p99 above ${20 * P99_LIMIT_MS} ms for two windows: the machine holds no more`;
        else if (freemem() < totalmem() * 0.1) stopReason = 'less than a tenth of the memory free';
        else if (clients.length >= target) stopReason = `reached ${target} clients`;
      }
      await sleep(20);
    }
    // One more window at the final N, with nobody joining.
    while (inFlight > 0) await sleep(50);
    await sleep(WINDOW_MS);
    windows.push(await closeWindow());
  } finally {
    stopping = true;
    for (const t of timers) clearInterval(t);
    loop.disable();
    await Promise.all(clients.map((n) => n.stop().catch(() => undefined)));
    await server.stop();
  }

  const measured = windows.filter((w) => w.n > 0 && w.p99Ms !== null);
  const crossing = measured.find((w, i) => w.p99Ms! > P99_LIMIT_MS && (measured[i + 1]?.p99Ms ?? P99_LIMIT_MS + 1) > P99_LIMIT_MS);
  writeFileSync(join(ROOT, 'docs/capacity.svg'), plot(measured, crossing?.n));
  return {
    target,
    joinPerSec,
    reached: clients.length,
    stopReason,
    p99PassesLimitAtN: crossing?.n ?? null,
    p99LimitMs: P99_LIMIT_MS,
    serverRssPerLinkKB: slopeKB(measured, (w) => w.serverRssMB),
    serverHeapPerLinkKB: slopeKB(measured, (w) => w.serverHeapMB),
    refusals,
    failReasons,
    loadAvgBefore: round(load0, 1),
    windows: measured,
    svg: 'docs/capacity.svg',
  };
}

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** One client: a Node API node with no port, dialling the server; resolves once linked, rejects when refused. */
async function joinClient(url: string): Promise<ServerNode> {
  // Unencrypted: the server forwards opaque packets either way, and the clients' sealing would
  // only take CPU from the server on this shared machine (see the module comment).
  const node = await startNode({ peers: [url], dialTimeoutMs: 10_000, encryption: false });
  node.handle(PORT, (m) => m.data as string);
  let off = () => {};
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      node.linked(),
      new Promise<never>((_, reject) => {
        // A refusal shows as a counted drop of the bootstrap dial: the server's BUSY.
        const poll = setInterval(() => {
          if (node.status().counters.dropped['dial:BUSY']) reject(new Error('join refused: dial:BUSY (link budget full)'));
        }, 100);
        off = () => clearInterval(poll);
        timer = setTimeout(() => reject(new Error('no link within 15 s')), 15_000);
      }),
    ]);
  } catch (err) {
    await node.stop();
    throw err;
  } finally {
    off();
    clearTimeout(timer);
  }
  return node;
}

/** Least-squares slope of `y` (MB) against server links, in KB per link. */
function slopeKB(ws: CapacityWindow[], y: (w: CapacityWindow) => number): number | null {
  const pts = ws.filter((w) => w.serverLinks > 0).map((w) => [w.serverLinks, y(w)] as const);
  if (pts.length < 3) return null;
  const mx = pts.reduce((a, p) => a + p[0], 0) / pts.length;
  const my = pts.reduce((a, p) => a + p[1], 0) / pts.length;
  const sxy = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return sxx === 0 ? null : round((sxy / sxx) * 1024, 1);
}

/** Latency p50/p99 (log scale, left) and server CPU % (right) against N, with the 100 ms line. */
function plot(ws: CapacityWindow[], crossing: number | undefined): string {
  const W = 640, H = 360, L = 60, R = 170, T = 40, B = 48;
  const nMax = Math.max(100, ...ws.map((w) => w.n));
  const yLo = 0, yHi = 4; // log10 ms: 1 ms .. 10 s
  const px = (n: number) => (L + (n / nMax) * (W - L - R)).toFixed(1);
  const py = (ms: number) => (H - B - ((Math.min(yHi, Math.max(yLo, Math.log10(Math.max(ms, 1)))) - yLo) / (yHi - yLo)) * (H - T - B)).toFixed(1);
  const pc = (pct: number) => (H - B - (Math.min(200, pct) / 200) * (H - T - B)).toFixed(1);
  const p: string[] = [];
  p.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  p.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  p.push(`<text x="${L}" y="20" font-size="14" font-weight="bold">One server: request latency and CPU against N clients (1 request/s each)</text>`);
  for (const ms of [1, 10, 100, 1000, 10000]) {
    p.push(`<line x1="${L}" y1="${py(ms)}" x2="${W - R}" y2="${py(ms)}" stroke="${ms === 100 ? '#d62728' : '#eee'}"${ms === 100 ? ' stroke-dasharray="5,4"' : ''}/>`);
    p.push(`<text x="${L - 6}" y="${Number(py(ms)) + 4}" text-anchor="end">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const n = Math.round((nMax * i) / 5);
    p.push(`<text x="${px(n)}" y="${H - B + 16}" text-anchor="middle">${n}</text>`);
  }
  for (const pct of [0, 50, 100, 150, 200]) p.push(`<text x="${W - R + 6}" y="${Number(pc(pct)) + 4}" fill="#2ca02c">${pct}%</text>`);
  p.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${H - B}" x2="${L}" y2="${T}" stroke="#333"/>`);
  p.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">N (clients linked to the server)</text>`);
  const series = [
    { name: 'latency p50', color: '#1f77b4', pts: ws.map((w) => [w.n, w.p50Ms ?? 1e4] as const), y: py },
    { name: 'latency p99', color: '#ff7f0e', pts: ws.map((w) => [w.n, w.p99Ms ?? 1e4] as const), y: py },
    { name: 'server CPU % (right)', color: '#2ca02c', pts: ws.map((w) => [w.n, w.serverCpuPct ?? 0] as const), y: pc },
  ];
  series.forEach((s, i) => {
    p.push(`<path d="${s.pts.map((q, k) => `${k ? 'L' : 'M'}${px(q[0])},${s.y(q[1])}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    const ly = T + 10 + i * 18;
    p.push(`<line x1="${W - R + 50}" y1="${ly}" x2="${W - R + 70}" y2="${ly}" stroke="${s.color}" stroke-width="2"/><text x="${W - R + 74}" y="${ly + 4}">${s.name}</text>`);
  });
  p.push(`<text x="${W - R + 50}" y="${T + 74}" fill="#d62728">p99 limit 100 ms</text>`);
  if (crossing !== undefined) {
    p.push(`<line x1="${px(crossing)}" y1="${T}" x2="${px(crossing)}" y2="${H - B}" stroke="#d62728"/>`);
    p.push(`<text x="${W - R + 50}" y="${T + 92}" fill="#d62728">p99 passes it at N=${crossing}</text>`);
  }
  p.push('</svg>');
  return p.join('\n') + '\n';
}
