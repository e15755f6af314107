/**
 * The lab part's time to first message at 40 ms RTT per WAN (`labConnectVsPeerjsAt40ms`): the
 * first-message trial of bench/connect.ts ("on call"), through the lab's cone NATs and delay
 * lines instead of loopback. Both homes open the page in fresh browser contexts at once; once
 * both have loaded, the bench calls connect() (PeerJS: `new Peer()`) in each; then home 1 sends
 * home 2 one message (ours: a request through the server node, as bench/pages/mesh.html
 * `T.firstRequest`; PeerJS: connect to the other's id, then send, as bench/pages/peerjs.html). The
 * time runs from the start of both page loads to home 2 seeing the message.
 *
 * Why here as well as on loopback: on loopback the SharedWorker's start is most of connect(),
 * which PeerJS does not pay; on a real network round trips dominate. Our first message needs the
 * server link (key exchange, then the request: no WebRTC), PeerJS's a DataConnection opened
 * between the homes (signalling, ICE, DTLS, SCTP) through its PeerServer in the server namespace.
 *
 * The pages are the loopback bench's own (mesh.html, peerjs.html, timing.js), served by the lab's
 * `meshwork serve` from the same origin as the lab's test page (see `labStaticDir`), so that the
 * lab browsers treat them as a secure context and the mesh page joins through that server.
 */
import { copyFileSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from '../test/browser/harness.js';
import type { RemoteBrowser, RemotePage } from '../test/lab/remote-browser.js';
import { ORIGIN, waitFor } from '../test/lab/scenario.js';
import { errorText, percentile, ratio, round } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PAGES = join(ROOT, 'bench/pages');

/** A temporary static dir for the lab's server: the lab's test pages plus the bench's first-message pages and PeerJS's client. */
export function labStaticDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-lab-pages-'));
  cpSync(FIXTURES, dir, { recursive: true });
  for (const f of ['mesh.html', 'peerjs.html', 'timing.js']) copyFileSync(join(PAGES, f), join(dir, f));
  copyFileSync(join(ROOT, 'node_modules/peerjs/dist/peerjs.min.js'), join(dir, 'peerjs.js'));
  return dir;
}

type Booted = { id: string; connectMs: number; startedAt: number; doneAt: number };
/** ms from the start of both page loads: `ms` to the message at B; `fromCall` from the later connect() call to it. */
type Trial = { ms: number; fromCall: number; pageOpen: number; tabStart: number; pageLoad: number; connect: number; afterConnect: number };

const abs = () => performance.timeOrigin + performance.now();
let seq = 0;

/**
 * `trials` counted trials of each library, one uncounted warm-up of each first; the libraries
 * take turns going first. `peerOptions`: PeerJS's options (its PeerServer, the mesh's ICE servers).
 */
export async function firstMessageAt40ms(browsers: [RemoteBrowser, RemoteBrowser], trials: number, peerOptions: Record<string, unknown>, log: string[]): Promise<Record<string, unknown>> {
  const failedTries: string[] = [];
  // Where our connect() spends its time on this network: each step of status().boot, in ms after
  // the tab's connect() began (both pages of every counted trial), as bench/connect.ts reports it.
  const bootSteps: Record<string, number[]> = {};
  const noteBoot = (boot: { node: Record<string, number>; tab?: Record<string, number> } | undefined) => {
    const from = boot?.tab?.connect;
    if (!boot || from === undefined) return;
    const steps: Record<string, number> = { ...boot.node, ...Object.fromEntries(Object.entries(boot.tab ?? {}).map(([k, v]) => [`tab:${k}`, v])) };
    for (const [k, v] of Object.entries(steps)) (bootSteps[k] ??= []).push(v - from);
  };
  const openBoth = async (path: string): Promise<{ t0: number; pa: RemotePage; pb: RemotePage }> => {
    const t0 = abs();
    const [pa, pb] = await Promise.all(browsers.map((b) => b.open(`${ORIGIN}/${path}`)));
    return { t0, pa: pa!, pb: pb! };
  };
  const closeBoth = (pa: RemotePage, pb: RemotePage) => Promise.all([pa.close(), pb.close()]);
  // Page open split (page A): until the page's time origin (a browser context and tab made, through
  // the driver in the namespace: no network) and from there to DOMContentLoaded (the page's own
  // fetches over the WAN, and its scripts); the rest is the driver's wait for `ready` and its call.
  const split = async (pa: RemotePage, t0: number) => {
    const nav = await pa.eval(() => ({ origin: performance.timeOrigin, dcl: (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined)?.domContentLoadedEventEnd ?? NaN }));
    return { tabStart: nav.origin - t0, pageLoad: nav.dcl };
  };

  async function oursOnce(record: boolean): Promise<Trial> {
    const { t0, pa, pb } = await openBoth('mesh.html');
    try {
      const [a, b] = (await Promise.all([pa, pb].map((p) => p.eval((o) => (window as any).T.boot(o), {})))) as [Booted, Booted];
      const token = `first:${++seq}`;
      const r = await pa.eval((to: string, t: string) => (window as any).T.firstRequest(to, t, 20), b.id, token);
      failedTries.push(...(r as { errors: string[] }).errors);
      const at = await pb.eval((t: string) => (window as any).T.rx.seen[t] as number, token);
      if (record) for (const p of [pa, pb]) noteBoot(await p.eval(() => (window as any).mesh.status().then((s: any) => s.boot)).catch(() => undefined));
      return { ms: at - t0, fromCall: at - Math.max(a.startedAt, b.startedAt), pageOpen: a.startedAt - t0, ...(await split(pa, t0)), connect: a.connectMs, afterConnect: at - Math.max(a.doneAt, b.doneAt) };
    } finally {
      await closeBoth(pa, pb);
    }
  }

  async function peerjsOnce(): Promise<Trial> {
    const { t0, pa, pb } = await openBoth('peerjs.html');
    try {
      const [a, b] = (await Promise.all([pa, pb].map((p) => p.eval((o) => (window as any).P.boot(o), peerOptions)))) as [Booted, Booted];
      const token = `first:${++seq}`;
      await pa.eval((to: string, t: string) => (window as any).P.send(to, t), b.id, token);
      // The time is the page's own (absNow when the message arrived): polling only reads it.
      const at = await waitFor('the PeerJS message', () => pb.eval((t: string) => (window as any).P.seen[t] as number | undefined, token), 30_000, 20);
      return { ms: at - t0, fromCall: at - Math.max(a.startedAt, b.startedAt), pageOpen: a.startedAt - t0, ...(await split(pa, t0)), connect: a.connectMs, afterConnect: at - Math.max(a.doneAt, b.doneAt) };
    } finally {
      await Promise.all([pa.eval(() => (window as any).peer?.destroy()).catch(() => undefined), pb.eval(() => (window as any).peer?.destroy()).catch(() => undefined)]);
      await closeBoth(pa, pb);
    }
  }

  const ours: Trial[] = [];
  const peerjs: Trial[] = [];
  const peerErrors: string[] = [];
  const runPeerjs = async (record: boolean) => {
    try {
      const p = await peerjsOnce();
      if (record) peerjs.push(p);
      log.push(`first message at 40 ms${record ? '' : ' (warm-up)'}: PeerJS ${Math.round(p.ms)} ms, ${Math.round(p.fromCall)} from the call`);
    } catch (err) {
      peerErrors.push(errorText(err));
    }
  };
  const runOurs = async (record: boolean) => {
    const o = await oursOnce(record);
    if (record) ours.push(o);
    log.push(`first message at 40 ms${record ? '' : ' (warm-up)'}: ours ${Math.round(o.ms)} ms, ${Math.round(o.fromCall)} from the call`);
  };
  // One uncounted trial of each first (a browser's first pages are slow, bench/connect.ts), then
  // the libraries take turns going first, so a slow stretch of the machine falls on both alike.
  await runOurs(false);
  await runPeerjs(false);
  for (let i = 0; i < trials; i++) {
    if (i % 2 === 0) {
      await runOurs(true);
      await runPeerjs(true);
    } else {
      await runPeerjs(true);
      await runOurs(true);
    }
  }
  const med = (xs: number[]) => percentile(xs, 0.5);
  const medPhases = (xs: Trial[]) =>
    xs.length === 0
      ? null
      : {
          pageOpenMs: round(med(xs.map((x) => x.pageOpen)), 1),
          // Of which: a context and tab made (until the page's time origin), then the page's own load (to DOMContentLoaded).
          tabStartMs: round(med(xs.map((x) => x.tabStart)), 1),
          pageLoadMs: round(med(xs.map((x) => x.pageLoad)), 1),
          connectMs: round(med(xs.map((x) => x.connect)), 1),
          firstMessageAfterBothConnectedMs: round(med(xs.map((x) => x.afterConnect)), 1),
        };
  return {
    oneWayDelayPerWanMs: 20,
    trials,
    oursFirstMessageMs: round(med(ours.map((x) => x.ms)), 1),
    oursTrialsMs: ours.map((x) => round(x.ms, 1)),
    peerjsFirstMessageMs: peerjs.length ? round(med(peerjs.map((x) => x.ms)), 1) : null,
    peerjsTrialsMs: peerjs.map((x) => round(x.ms, 1)),
    peerjsError: peerErrors[0] ?? null,
    connectVsPeerjs: peerjs.length ? ratio(med(ours.map((x) => x.ms)), med(peerjs.map((x) => x.ms))) : null,
    // From the later of the two connect() (new Peer()) calls to the message at B: the same trial
    // without the page loads, which on this loaded 2-core machine are mostly a browser context's start.
    oursFromCallMs: round(med(ours.map((x) => x.fromCall)), 1),
    peerjsFromCallMs: peerjs.length ? round(med(peerjs.map((x) => x.fromCall)), 1) : null,
    fromCallVsPeerjs: peerjs.length ? ratio(med(ours.map((x) => x.fromCall)), med(peerjs.map((x) => x.fromCall))) : null,
    phasesMedian: { ours: medPhases(ours), peerjs: medPhases(peerjs) },
    // Median ms after connect() began, both pages of the counted trials, sorted by time.
    bootStepsMedianMs: Object.fromEntries(
      Object.entries(bootSteps)
        .map(([k, xs]) => [k, round(med(xs), 1)] as const)
        .sort((x, y) => (x[1] ?? 0) - (y[1] ?? 0)),
    ),
    oursFailedFirstTries: failedTries.length,
    oursFailedFirstTryErrors: [...new Set(failedTries)].slice(0, 3),
  };
}
