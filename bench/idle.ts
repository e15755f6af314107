/**
 * Figure: what a quiet mesh costs. For N browser nodes (one context and one idle app tab each,
 * joined through a server node in a child process): the CPU of all of Chromium's processes over
 * a window, against N blank contexts in the same browser measured the same way, and the
 * wake-ups per second in the tabs and SharedWorkers by source (counted by
 * bench/pages/wake-count.js). Twice per N: once the mesh formed (every node has its WebRTC
 * links: "linked"), and once the product's default idle time (idle-links.ts, 120 s) has run out
 * for every WebRTC link ("idle": what a user's idle tab costs a few minutes on; the headline
 * figure). A third set of N contexts holds as many idle RTCPeerConnections each as the linked
 * mesh's nodes had WebRTC links, and nothing else: the floor WebRTC itself sets. Then a server
 * with 1 000 idle Node clients: its CPU and memory per idle link, against the same server with
 * none.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import type { BrowserContext, Page, WebWorker } from 'puppeteer-core';
import type { BenchContext } from './run.js';
import { openPage, ROOT, round, sleep, waitFor } from './lib.js';
import { cpuMs, treeCpuByProcess } from './proc.js';
import { DEFAULT_IDLE_LINK_MS } from '../src/core/idle-links.js';

interface Counts {
  n: Record<string, number>;
  ms: Record<string, number>;
  since: number;
}

export const SIZES = [8, 16];

export async function idle(c: BenchContext): Promise<Record<string, unknown>> {
  const windowMs = c.quick ? 20_000 : 60_000;
  const out: Record<string, unknown> = { windowSeconds: windowMs / 1000 };
  const server = await child(['server', '64']);
  try {
    const url = (await server.next()).url as string;
    for (const n of SIZES) out[`nodes${n}`] = await browsers(c, n, url, server.proc.pid!, windowMs);
  } finally {
    server.kill();
  }
  out.idleCpuPctPerNode = (out[`nodes${SIZES[0]}`] as { idleCpuPctPerNode: number }).idleCpuPctPerNode;
  out.idleCpuPctPerNode16 = (out[`nodes${SIZES[1]}`] as { idleCpuPctPerNode: number }).idleCpuPctPerNode;
  out.linkedCpuPctPerNode = (out[`nodes${SIZES[0]}`] as { linkedCpuPctPerNode: number }).linkedCpuPctPerNode;
  out.linkedCpuPctPerNode16 = (out[`nodes${SIZES[1]}`] as { linkedCpuPctPerNode: number }).linkedCpuPctPerNode;
  // Fails soft: the browser figures above stand whatever happens to the server part.
  out.server1000 = await serverWithClients(c.quick ? 200 : 1000, windowMs).catch((err: unknown) => ({ error: (err as Error).message }));
  return out;
}

async function browsers(c: BenchContext, n: number, serverUrl: string, serverPid: number, windowMs: number): Promise<Record<string, unknown>> {
  const browserPid = c.browser.process()?.pid;
  if (!browserPid) throw new Error('the browser process id is unknown');
  // The baseline: n blank contexts, one blank tab each.
  const blankContexts: BrowserContext[] = [];
  for (let i = 0; i < n; i++) {
    const ctx = await c.context();
    blankContexts.push(ctx);
    await openPage(ctx, `${c.pages.origin}/blank.html`, c.log);
  }
  await sleep(3_000);
  const blank = await coresByKind(browserPid, windowMs);
  await Promise.all(blankContexts.map((x) => x.close()));
  await sleep(2_000);

  // The mesh: n idle app tabs, one per context, each context one node, with the product's
  // default idleLinkMs (the bench passes none).
  const pages: Page[] = [];
  const contexts: BrowserContext[] = [];
  for (let i = 0; i < n; i++) {
    const ctx = await c.context();
    contexts.push(ctx);
    const page = await openPage(ctx, `${c.pages.origin}/idle.html`, c.log);
    await page.evaluate((o) => (window as any).T.boot(o), { bootstrap: [serverUrl] });
    pages.push(page);
  }
  const joinedAt = Date.now();
  const watch = new LinkWatch(pages);
  // Maintenance backs off for a while after the last change: leave the mesh alone before measuring.
  const quietMs = c.quick ? 15_000 : 45_000;
  const workers = await workersOf(c, contexts);

  // 1. Linked: every node has its WebRTC links, and none has closed as idle yet (what an idle
  // mesh cost before idle links closed, measured in this run, under this run's load).
  const formedMs = await settle(watch, 'formed');
  await sleep(quietMs);
  const linked = await measureMesh(browserPid, serverPid, windowMs, pages, workers, watch, joinedAt);
  // 2. Idle: the default idle time has run out for every WebRTC link (what a user's idle tab
  // costs after a few minutes).
  const idleMs = await settle(watch, 'idle');
  await sleep(quietMs);
  const trimmed = await measureMesh(browserPid, serverPid, windowMs, pages, workers, watch, joinedAt);
  await Promise.all(contexts.map((x) => x.close()));
  await sleep(2_000);

  // The WebRTC floor: as many idle PeerConnections per context as the linked mesh's nodes had
  // WebRTC links (after the idle time, the nodes keep trimmed.webrtcLinksMean of them).
  const pcsPerContext = 2 * Math.max(1, Math.round((linked.webrtcLinksMean as number) / 2));
  for (let i = 0; i < n; i++) {
    const page = await openPage(await c.context(), `${c.pages.origin}/pcs.html`, c.log);
    await page.evaluate((k) => (window as any).pairs(k), pcsPerContext / 2);
  }
  await sleep(5_000);
  const floor = await coresByKind(browserPid, windowMs);

  const perNode = (x: { cores: number }) => round(((x.cores - blank.cores) / n) * 100, 2);
  const { cores: linkedCores, byKind: linkedByKind, ...linkedRest } = linked;
  const { cores: idleCores, byKind: idleByKind, ...idleRest } = trimmed;
  return {
    idleCpuPctPerNode: perNode(trimmed),
    // With no baseline subtracted: an upper bound that the blank baseline's noise cannot push below zero.
    idleCpuPctPerNodeUpperBound: round((trimmed.cores / n) * 100, 2),
    linkedCpuPctPerNode: perNode(linked),
    webrtcFloorPctPerNode: perNode(floor),
    pcsPerContext,
    idleCores: round(idleCores, 4),
    linkedCores: round(linkedCores, 4),
    blankCores: round(blank.cores, 4),
    floorCores: round(floor.cores, 4),
    coresByProcess: { idle: idleByKind, linked: linkedByKind, blank: blank.byKind, webrtcFloor: floor.byKind },
    loadAvg1: { blank: blank.loadAvg1, linked: linked.loadAvg1, idle: trimmed.loadAvg1, webrtcFloor: floor.loadAvg1 },
    formedSeconds: round(formedMs / 1000, 1),
    idleSettledSeconds: round(idleMs / 1000, 1),
    idle: idleRest,
    linked: linkedRest,
    // The figures of the idle state, at the top level as before.
    tabWakeupsPerSec: idleRest.tabWakeupsPerSec,
    workerWakeupsPerSec: idleRest.workerWakeupsPerSec,
    linksMean: idleRest.linksMean,
    webrtcLinksMean: idleRest.webrtcLinksMean,
  };
}

/**
 * One window over the mesh: the browser's cores, the server's, the wake-ups in tabs and
 * workers, the links, and whether any link came or went during the window (then the figure
 * is of a mesh in change, not an idle one).
 */
async function measureMesh(browserPid: number, serverPid: number, windowMs: number, pages: Page[], workers: WebWorker[], watch: LinkWatch, joinedAt: number) {
  const n = pages.length;
  // Read the links before the counters start: the bench's own status() calls are not the node's wake-ups.
  const shape0 = (await watch.poll()).shape;
  await Promise.all([...pages.map((p) => p.evaluate(() => (globalThis as any).__wake.reset())), ...workers.map((w) => w.evaluate(() => (globalThis as any).__wake.reset()))]);
  const serverCpu0 = cpuMs(serverPid);
  const mesh = await coresByKind(browserPid, windowMs);
  const serverCores = (cpuMs(serverPid) - serverCpu0) / windowMs;
  // Serialized when read: the status() calls below do not count.
  const tabCounts = await Promise.all(pages.map((p) => p.evaluate(() => (globalThis as any).__wake as Counts)));
  const workerCounts = await Promise.all(workers.map((w) => w.evaluate(() => (globalThis as any).__wake as Counts)));
  const { statuses, shape } = await watch.poll();
  const links = statuses.map((s: any) => s.links.length as number);
  const webrtc = statuses.map((s: any) => s.links.filter((l: any) => l.transport === 'webrtc').length as number);
  return {
    ...mesh,
    linksChangedDuringWindow: shape !== shape0,
    serverCores: round(serverCores, 4),
    measuredAfterJoinSeconds: round((Date.now() - joinedAt - windowMs) / 1000, 0),
    linksMean: round(links.reduce((a, b) => a + b, 0) / n, 1),
    webrtcLinksMean: round(webrtc.reduce((a, b) => a + b, 0) / n, 1),
    tabWakeupsPerSec: round(total(tabCounts) / n / (windowMs / 1000), 2),
    workerWakeupsPerSec: round(total(workerCounts) / n / (windowMs / 1000), 2),
    sources: sources(tabCounts, workerCounts, n, windowMs),
  };
}

/**
 * The mesh's links as the bench sees them by polling status(): when each node's WebRTC link to
 * each peer was first seen, when any link last came or went, when every node first had one.
 */
class LinkWatch {
  changedAt = Date.now();
  formedAt = Infinity;
  private last = '';
  private readonly seen = new Map<string, number>();

  constructor(private readonly pages: Page[]) {}

  async poll(): Promise<{ statuses: any[]; shape: string }> {
    const statuses = await Promise.all(this.pages.map((p) => p.evaluate(() => (window as any).mesh.status())));
    const now = Date.now();
    const shape = statuses.map((s: any) => s.links.map((l: any) => l.id).sort().join(',')).join(';');
    if (shape !== this.last) {
      this.last = shape;
      this.changedAt = now;
    }
    const open = new Set<string>();
    statuses.forEach((s: any, i) => {
      for (const l of s.links) if (l.transport === 'webrtc') open.add(`${i}>${l.id}`);
    });
    for (const k of this.seen.keys()) if (!open.has(k)) this.seen.delete(k);
    for (const k of open) if (!this.seen.has(k)) this.seen.set(k, now);
    if (this.formedAt === Infinity && statuses.every((s: any) => s.links.some((l: any) => l.transport === 'webrtc'))) this.formedAt = now;
    return { statuses, shape };
  }

  /** How long the youngest open WebRTC link has been seen (Infinity: none open). */
  youngestWebrtcMs(): number {
    return Date.now() - Math.max(-Infinity, ...this.seen.values());
  }
}

/** A WebRTC link older than this has outlived its idle time: it closed, or its peer declined to. */
const OUTLIVED_MS = DEFAULT_IDLE_LINK_MS + 20_000;

/**
 * Waits until no node's links changed for 10 s and, for 'formed', every node has had a WebRTC
 * link; for 'idle', also every open WebRTC link has been up longer than the default idle time
 * (with 20 s to spare), so none is about to close as idle. Returns the wait, in ms.
 */
async function settle(watch: LinkWatch, until: 'formed' | 'idle'): Promise<number> {
  const t0 = Date.now();
  await waitFor(
    until === 'formed' ? 'the mesh to form' : 'idle WebRTC links to close',
    async () => {
      await watch.poll();
      const stable = Date.now() - watch.changedAt >= 10_000 && watch.formedAt !== Infinity;
      return stable && (until === 'formed' || (Date.now() - watch.formedAt >= OUTLIVED_MS && watch.youngestWebrtcMs() >= OUTLIVED_MS));
    },
    // Forming took up to ~60 s on a loaded machine; the idle wait is one idle time after the
    // youngest link, and a link that a closed one's place brought up gets its own.
    until === 'formed' ? 240_000 : 240_000 + 2 * OUTLIVED_MS,
    2_500,
  );
  return Date.now() - t0;
}

/** The SharedWorker of each context, to read its counters. */
async function workersOf(c: BenchContext, contexts: BrowserContext[]): Promise<WebWorker[]> {
  const out: WebWorker[] = [];
  for (const ctx of contexts) {
    const target = c.browser.targets().find((t) => t.type() === 'shared_worker' && t.browserContext() === ctx && t.url().endsWith('/idle-worker.js'));
    const worker = await target?.worker();
    if (!worker) throw new Error('no SharedWorker target for a context');
    out.push(worker);
  }
  return out;
}

/** CPU cores used over `ms`: CPU time read before and after, divided by the wall time. */
async function cores(read: () => number, ms: number): Promise<number> {
  const c0 = read();
  const t0 = Date.now();
  await sleep(ms);
  return (read() - c0) / (Date.now() - t0);
}

/**
 * Cores used by the browser's processes over `ms`, in all and by kind of process. Counted per
 * process: one that started meanwhile counts whole, one that ended meanwhile (a context closed
 * before) is left out rather than subtracted.
 */
async function coresByKind(browserPid: number, ms: number): Promise<{ cores: number; byKind: Record<string, number | null>; loadAvg1: [number | null, number | null] }> {
  const load0 = loadavg()[0];
  const a = treeCpuByProcess(browserPid);
  const t0 = Date.now();
  await sleep(ms);
  const b = treeCpuByProcess(browserPid);
  const wall = Date.now() - t0;
  const used: Record<string, number> = {};
  let sum = 0;
  for (const [pid, p] of b) {
    const d = p.cpuMs - (a.get(pid)?.cpuMs ?? 0);
    used[p.kind] = (used[p.kind] ?? 0) + d;
    sum += d;
  }
  const byKind: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(used)) byKind[k] = round(v / wall, 4);
  // The machine's 1-minute load average before and after: the figure is only as good as the quiet.
  return { cores: sum / wall, byKind, loadAvg1: [round(load0, 2), round(loadavg()[0], 2)] };
}

function total(counts: Counts[]): number {
  return counts.reduce((a, c) => a + Object.values(c.n).reduce((x, y) => x + y, 0), 0);
}

/** Wake-ups per second per node, and ms of JS per second per node, by source, tab and worker apart. */
function sources(tabs: Counts[], workers: Counts[], n: number, windowMs: number): Record<string, unknown>[] {
  const rows = new Map<string, { tab: number; worker: number; tabMs: number; workerMs: number }>();
  const add = (list: Counts[], where: 'tab' | 'worker') => {
    for (const c of list) {
      for (const [k, v] of Object.entries(c.n)) rowOf(k)[where] += v;
      for (const [k, v] of Object.entries(c.ms)) rowOf(k)[where === 'tab' ? 'tabMs' : 'workerMs'] += v;
    }
  };
  const rowOf = (k: string) => {
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { tab: 0, worker: 0, tabMs: 0, workerMs: 0 }));
    return r;
  };
  add(tabs, 'tab');
  add(workers, 'worker');
  const s = windowMs / 1000;
  return [...rows.entries()]
    .map(([source, r]) => ({
      source,
      tabPerSec: round(r.tab / n / s, 3),
      workerPerSec: round(r.worker / n / s, 3),
      jsMsPerSec: round((r.tabMs + r.workerMs) / n / s, 3),
    }))
    .sort((a, b) => b.tabPerSec! + b.workerPerSec! - (a.tabPerSec! + a.workerPerSec!));
}

/** A server node in a child process with `clients` idle Node clients in another: CPU and memory per link. */
export async function serverWithClients(clients: number, windowMs: number): Promise<Record<string, unknown>> {
  const server = await child(['server', String(clients + 100)]);
  let crowd: Child | undefined;
  try {
    const { url } = await server.next();
    const pid = server.proc.pid!;
    await sleep(3_000);
    const mem0 = await server.memory();
    const alone = await cores(() => cpuMs(pid), Math.min(windowMs, 20_000));
    crowd = await child(['clients', url as string, String(clients)]);
    const t0 = Date.now();
    for (let linked = 0; linked < clients; ) {
      linked = (await crowd.next(240_000)).linked as number;
      if (Date.now() - t0 > 120_000) throw new Error(`only ${linked} of ${clients} clients linked after 120 s`);
    }
    const joinSeconds = (Date.now() - t0) / 1000;
    await sleep(30_000); // the clients' maintenance backs off after their join
    const busy = await cores(() => cpuMs(pid), windowMs);
    const mem1 = await server.memory();
    return {
      clients,
      joinSeconds: round(joinSeconds, 1),
      serverCpuPctAlone: round(alone * 100, 3),
      serverCpuPct: round(busy * 100, 3),
      serverCpuPctPer1000Links: round(((busy - alone) * 100 * 1000) / clients, 3),
      serverRssMB: round(mem1.rss / 2 ** 20, 1),
      // After a garbage collection in the server, before and after the clients joined.
      rssKBPerLink: round((mem1.rss - mem0.rss) / 1024 / clients, 1),
      heapKBPerLink: round((mem1.heapUsed - mem0.heapUsed) / 1024 / clients, 1),
      externalKBPerLink: round((mem1.external - mem0.external) / 1024 / clients, 1),
    };
  } finally {
    crowd?.kill();
    server.kill();
  }
}

interface Child {
  proc: ChildProcess;
  next(ms?: number): Promise<Record<string, unknown>>;
  /** Collects garbage in the child and reads its memory (bytes). */
  memory(): Promise<{ rss: number; heapUsed: number; external: number }>;
  kill(): void;
}

/** Starts bench/idle-child.ts; `next` reads its next JSON line. */
async function child(args: string[]): Promise<Child> {
  const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/idle-child.ts', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const c: Child = {
    proc,
    async memory() {
      proc.stdin!.write('gc\n');
      return (await c.next()) as unknown as { rss: number; heapUsed: number; external: number };
    },
    async next(ms = 60_000) {
      let t: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        lines.next(),
        new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`idle-child ${args[0]}: no output in ${ms} ms`)), ms))),
      ]).finally(() => clearTimeout(t));
      if (r.done) throw new Error(`idle-child ${args[0]} exited`);
      return JSON.parse(r.value) as Record<string, unknown>;
    },
    kill: () => void proc.kill('SIGKILL'),
  };
  return c;
}
