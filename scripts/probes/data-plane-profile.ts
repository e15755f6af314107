// What our script costs per message on the data plane's hot path (docs/DATA-PLANE.md), from a
// CPU profile of both tabs. Not part of the product or the tests: run it by hand after a change
// to the hot path:  node --import tsx scripts/probes/data-plane-profile.ts [tput|rtt|both|stream] [rounds]
//
// It opens two mesh pages in two contexts of one Chromium, as bench/latency.ts does (readable
// bundles: build-browser.mjs --no-minify), links them, warms up, then for each phase records a
// CDP CPU profile (50 us sampling) of the sending tab A and the receiving tab B while A runs
// `T.tput` (16 KiB datagrams, the bench's window), `T.rtt` (64-byte requests) or, with `stream`,
// `T.streamSend` (one 8 MiB stream in 256 KiB writes, as bench/streams.ts), and prints each
// tab's self time per message: our code (the bundles under /meshwork/) by function, the
// browser's native calls (RTCDataChannel.send and the like), the garbage collector, idle. The
// raw DataChannel pair (bench/pages/raw.html `R.tput`, `R.rtt`) is profiled in each round too,
// for what the browser itself spends per message.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CDPSession, Page } from 'puppeteer-core';
import { launchChromium, openPage, ROOT, startPageServer, waitFor } from '../../bench/lib.js';
import { startNode } from '../../src/server/index.js';

const phase = process.argv[2] ?? 'both';
const rounds = Number(process.argv[3] ?? 3);
const SIZE = 16 * 1024;
const TPUT_N = 1200;
const RTT_N = 1500;

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

async function profiled<T>(sessions: CDPSession[], run: () => Promise<T>): Promise<{ result: T; profiles: Profile[] }> {
  for (const s of sessions) {
    await s.send('Profiler.enable');
    await s.send('Profiler.setSamplingInterval', { interval: 50 });
    await s.send('Profiler.start');
  }
  const result = await run();
  const profiles: Profile[] = [];
  for (const s of sessions) profiles.push(((await s.send('Profiler.stop')) as unknown as { profile: Profile }).profile);
  return { result, profiles };
}

/** Self time in us by function, grouped: ours (/meshwork/), the page's, native, gc, idle, program. */
function selfTimes(p: Profile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!)!;
    const dt = p.timeDeltas[i + 1] ?? 0;
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url.split('/').pop() ?? '';
    // A native call is named with its caller (RTCDataChannel.send from ours or the page's).
    const caller = url ? undefined : parent.get(n.id)?.callFrame;
    const from = caller?.url ? ` <- ${caller.functionName || '(anon)'} ${caller.url.split('/').pop()}:${caller.lineNumber + 1}` : '';
    const name = url.includes('/meshwork/') ? `ours ${functionName || '(anon)'} ${file}:${lineNumber + 1}` : url ? `page ${functionName || '(anon)'} ${file}:${lineNumber + 1}` : `native ${functionName}${from}`;
    out.set(name, (out.get(name) ?? 0) + dt);
  }
  return out;
}

function report(label: string, p: Profile, messages: number): void {
  const t = selfTimes(p);
  const total = [...t.values()].reduce((a, b) => a + b, 0);
  const sum = (prefix: string) => [...t].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
  const per = (us: number) => (us / messages).toFixed(1);
  const native = (n: string) => [...t].filter(([k]) => k === `native ${n}` || k.startsWith(`native ${n} <- `)).reduce((a, [, v]) => a + v, 0);
  console.log(`\n## ${label}: ${messages} messages, ${(total / 1000).toFixed(0)} ms profiled`);
  console.log(`per message, us: ours ${per(sum('ours '))}, page ${per(sum('page '))}, gc ${per(native('(garbage collector)'))}, ` +
    `idle ${per(native('(idle)'))}, program ${per(native('(program)'))}, other native ${per(sum('native ') - native('(garbage collector)') - native('(idle)') - native('(program)'))}`);
  const top = [...t].filter(([k]) => !k.startsWith('native (idle)') && !k.startsWith('native (program)')).sort((a, b) => b[1] - a[1]).slice(0, 25);
  for (const [k, v] of top) console.log(`  ${per(v).padStart(7)}  ${k}`);
}

async function main(): Promise<void> {
  const bundles = mkdtempSync(join(tmpdir(), 'meshwork-probe-'));
  execFileSync(process.execPath, ['scripts/build-browser.mjs', `--outdir=${bundles}`, '--no-minify'], { cwd: ROOT, stdio: 'inherit' });
  const browser = await launchChromium();
  const pages = await startPageServer(bundles);
  const server = await startNode({ port: 0, host: '127.0.0.1', tuning: { maintainMs: 5_000 } });
  try {
    const [ma, mb] = (await Promise.all([0, 1].map(async () => openPage(await browser.createBrowserContext(), `${pages.origin}/mesh.html`)))) as [Page, Page];
    const boot = (p: Page) => p.evaluate((o) => (window as any).T.boot(o), { bootstrap: [server.url] });
    await boot(ma);
    const b = await boot(mb);
    await waitFor('a WebRTC link', async () => {
      const s = await ma.evaluate(() => (window as any).mesh.status());
      return s.links.some((l: any) => l.id === b.id && l.transport === 'webrtc');
    }, 30_000, 100);
    await ma.evaluate((to) => (window as any).T.rtt(to, 300), b.id);
    await ma.evaluate((to, s) => (window as any).T.tput(to, 400, s, 64, 5000), b.id, SIZE);
    const [ra, rb] = (await Promise.all([0, 1].map(async () => openPage(await browser.createBrowserContext(), `${pages.origin}/raw.html`)))) as [Page, Page];
    const offer = await ra.evaluate(() => (window as any).R.offer());
    const answer = await rb.evaluate((o) => (window as any).R.answer(o), offer);
    await ra.evaluate((a) => (window as any).R.accept(a), answer);
    await ra.evaluate(() => (window as any).R.rtt(300));
    await ra.evaluate((s) => (window as any).R.tput(400, s), SIZE);
    const rawSessions = [await ra.createCDPSession(), await rb.createCDPSession()];
    const sessions = [await ma.createCDPSession(), await mb.createCDPSession()];
    if (phase === 'stream') await mb.evaluate(() => (window as any).T.streamServe(20));
    for (let r = 0; r < rounds; r++) {
      if (phase === 'stream') {
        const total = 8 << 20;
        const { result, profiles } = await profiled(sessions, () => ma.evaluate((to, n) => (window as any).T.streamSend(to, 20, n, 256 << 10), b.id, total));
        const segments = Math.ceil(total / (60 * 1024));
        console.log(`\n# stream round ${r}: ${((total / (result.end - result.start)) * 1e-3).toFixed(2)} MB/s (until acknowledged), ${segments} data segments`);
        report('stream A (writes)', profiles[0]!, segments);
        report('stream B (reads)', profiles[1]!, segments);
        continue;
      }
      if (phase !== 'rtt') {
        const { result, profiles } = await profiled(sessions, () => ma.evaluate((to, n, s) => (window as any).T.tput(to, n, s, 64, 5000), b.id, TPUT_N, SIZE));
        const mbps = ((TPUT_N * SIZE) / (result.end - result.start)) * 1e-3;
        console.log(`\n# tput round ${r}: ${mbps.toFixed(2)} MB/s, ack ${result.ack}, errors ${result.errors}`);
        report('tput A (sends)', profiles[0]!, TPUT_N);
        report('tput B (receives)', profiles[1]!, TPUT_N);
        const raw = await profiled(rawSessions, () => ra.evaluate((n, s) => (window as any).R.tput(n, s), TPUT_N, SIZE));
        console.log(`\n# raw tput round ${r}: ${(((TPUT_N * SIZE) / (raw.result.end - raw.result.start)) * 1e-3).toFixed(2)} MB/s`);
        report('raw tput A (sends)', raw.profiles[0]!, TPUT_N);
        report('raw tput B (receives)', raw.profiles[1]!, TPUT_N);
      }
      if (phase !== 'tput') {
        const { result, profiles } = await profiled(sessions, () => ma.evaluate((to, n) => (window as any).T.rtt(to, n), b.id, RTT_N));
        const sorted = [...(result as number[])].sort((x, y) => x - y);
        console.log(`\n# rtt round ${r}: p50 ${sorted[sorted.length >> 1]!.toFixed(3)} ms`);
        report('rtt A (requests)', profiles[0]!, RTT_N);
        report('rtt B (answers)', profiles[1]!, RTT_N);
        const raw = await profiled(rawSessions, () => ra.evaluate((n) => (window as any).R.rtt(n), RTT_N));
        const rs = [...(raw.result as number[])].sort((x, y) => x - y);
        console.log(`\n# raw rtt round ${r}: p50 ${rs[rs.length >> 1]!.toFixed(3)} ms`);
        report('raw rtt A', raw.profiles[0]!, RTT_N);
        report('raw rtt B', raw.profiles[1]!, RTT_N);
      }
    }
    console.log('\nstatus A', JSON.stringify((await ma.evaluate(() => (window as any).mesh.status())).fastPath));
  } finally {
    await browser.close().catch(() => undefined);
    await pages.close().catch(() => undefined);
    await server.stop().catch(() => undefined);
    rmSync(bundles, { recursive: true, force: true });
  }
}

await main();
