/**
 * Figure 2: time to first message. Two browsers (fresh contexts) open the page at once; as soon
 * as the second has an id the first sends it a message; the time runs from the start of both
 * page loads to the message's arrival in the second page. Each trial runs twice per library:
 * "on call", where the driver calls connect() (PeerJS: `new Peer()`) once both pages have
 * loaded (`connectVsPeerjs`), and "at load", where each page starts it as its module runs, as
 * an app page does (`connectAtLoadVsPeerjs`); the driver's round trips between a page's load and
 * its call are then not in the wait. And ours only, "preloaded": the page calls preload() as its
 * module runs and the driver calls connect() on call (`connectPreloadedVsPeerjs`, against PeerJS
 * on call: PeerJS has nothing to start before its connection). These pages are served as most app
 * pages are, not cross-origin isolated: in Chromium isolation (COOP + COEP, which the round-trip
 * parts use for their timers) adds about 220 ms to a SharedWorker's start (docs/BENCHMARKS.md,
 * "Time to first message"), so the on-call trial runs once more on isolated pages, both libraries
 * (`connectIsolatedVsPeerjs`). Meshwork (joined through its server
 * node) against PeerJS (its `peer` server on localhost, same pages server, no STUN servers for
 * either: this machine has only loopback). Then cold against warm: a fresh browser opening the
 * page against the same profile reopening it after its node stopped (identity and peer memory
 * in IndexedDB), both sending to an already running browser. One trial of each library on call
 * runs first and is not counted (a fresh browser's first pages are slow); within each mode the
 * two libraries take turns going first.
 */
import type { Page } from 'puppeteer-core';
import type { BenchContext } from './run.js';
import { errorText, openPage, percentile, ratio, round, sleep, startPageServer, startPeerServer, waitFor } from './lib.js';

const abs = () => performance.timeOrigin + performance.now();
const medSteps = (steps: Record<string, number[]>) =>
  Object.fromEntries(
    Object.entries(steps)
      .map(([k, xs]) => [k, round(percentile(xs, 0.5), 1)] as const)
      .sort((a, b) => (a[1] ?? 0) - (b[1] ?? 0)),
  );
let seq = 0;

export async function connectFigure(c: BenchContext): Promise<Record<string, unknown>> {
  const trials = c.quick ? 2 : 5;
  const failedTries: string[] = [];
  type Phases = { pageOpen: number; connect: number; afterConnect: number };
  type Mode = 'onCall' | 'atLoad' | 'preloaded' | 'isolated';
  const phases: Record<Mode, { ours: Phases[]; peerjs: Phases[] }> = { onCall: { ours: [], peerjs: [] }, atLoad: { ours: [], peerjs: [] }, preloaded: { ours: [], peerjs: [] }, isolated: { ours: [], peerjs: [] } };
  const medPhases = (xs: Phases[]) => xs.length === 0 ? null : {
    pageOpenMs: round(percentile(xs.map((x) => x.pageOpen), 0.5), 1),
    connectMs: round(percentile(xs.map((x) => x.connect), 0.5), 1),
    firstMessageAfterBothConnectedMs: round(percentile(xs.map((x) => x.afterConnect), 0.5), 1),
  };
  // Where connect() spends its time: each step of status().boot, in ms after the tab's connect()
  // began (both pages of every trial), and the first message's arrival after the later `ready`.
  const bootStepsOf: Record<Mode, Record<string, number[]>> = { onCall: {}, atLoad: {}, preloaded: {}, isolated: {} };
  const noteBoot = (bootSteps: Record<string, number[]>, boot: { node: Record<string, number>; tab?: Record<string, number> } | undefined) => {
    const from = boot?.tab?.connect;
    if (!boot || from === undefined) return;
    const steps: Record<string, number> = { ...boot.node, ...Object.fromEntries(Object.entries(boot.tab ?? {}).map(([k, v]) => [`tab:${k}`, v])) };
    for (const [k, v] of Object.entries(steps)) (bootSteps[k] ??= []).push(v - from);
  };
  // As most app pages are served (see above); `c.pages` serves the same files cross-origin isolated.
  const plain = await startPageServer(c.pages.bundles, { isolated: false });
  const originOf = (mode: Mode) => (mode === 'isolated' ? c.pages.origin : plain.origin);
  const meshUrl = `${plain.origin}/mesh.html`;
  const bootMesh = (p: Page) => p.evaluate((o) => (window as any).T.boot(o), { bootstrap: [c.meshUrl] });

  const openPageTimed = (ctx: import('puppeteer-core').BrowserContext, url: string) => openPage(ctx, url, c.log);

  const meshAtLoadUrl = `${meshUrl}?connect=${encodeURIComponent(JSON.stringify({ bootstrap: [c.meshUrl] }))}`;

  async function oursOnce(mode: Mode, record = true): Promise<{ ms: number; connectMs: number[] }> {
    const [ca, cb] = [await c.context(), await c.context()];
    const t0 = abs();
    const url = mode === 'atLoad' ? meshAtLoadUrl : mode === 'preloaded' ? `${meshUrl}?preload` : `${originOf(mode)}/mesh.html`;
    const [pa, pb] = await Promise.all([openPageTimed(ca, url), openPageTimed(cb, url)]);
    const [a, b] = await Promise.all([bootMesh(pa), bootMesh(pb)]);
    const token = `first:${++seq}`;
    const r = await pa.evaluate((to: string, t: string) => (window as any).T.firstRequest(to, t, 20), b.id, token);
    const at: number = await pb.evaluate((t: string) => (window as any).T.rx.seen[t], token);
    if (record) for (const p of [pa, pb]) noteBoot(bootStepsOf[mode], await p.evaluate(() => (window as any).mesh.status().then((s: any) => s.boot)).catch(() => undefined));
    await Promise.all([ca.close(), cb.close()]);
    failedTries.push(...r.errors);
    if (record) phases[mode].ours.push({ pageOpen: a.startedAt - t0, connect: a.connectMs, afterConnect: at - Math.max(a.doneAt, b.doneAt) });
    return { ms: at - t0, connectMs: [a.connectMs, b.connectMs] };
  }

  // PeerJS: its client from npm, its server from npm on a free local port.
  let peerjs: { ms: number[]; connectMs: number[] } | { error: string } | undefined;
  let stopPeer: (() => void) | undefined;
  let peerOptions: Record<string, unknown> = {};
  try {
    const server = await startPeerServer(plain);
    c.pages.routes.set('/peerjs.js', plain.routes.get('/peerjs.js')!);
    stopPeer = server.stop;
    peerOptions = server.options;
    peerjs = { ms: [], connectMs: [] };
  } catch (err) {
    peerjs = { error: `PeerJS server could not start: ${errorText(err)}` };
  }
  async function peerjsOnce(mode: Mode, record = true): Promise<{ ms: number; connectMs: number[] }> {
    const [ca, cb] = [await c.context(), await c.context()];
    const t0 = abs();
    const url = `${originOf(mode)}/peerjs.html${mode === 'atLoad' ? `?peer=${encodeURIComponent(JSON.stringify(peerOptions))}` : ''}`;
    const [pa, pb] = await Promise.all([openPageTimed(ca, url), openPageTimed(cb, url)]);
    const bootPeer = (p: Page) => p.evaluate((o) => (window as any).P.boot(o), peerOptions);
    const [a, b] = await Promise.all([bootPeer(pa), bootPeer(pb)]);
    const token = `first:${++seq}`;
    await pa.evaluate((to: string, t: string) => (window as any).P.send(to, t), b.id, token);
    const at = await waitFor('the PeerJS message', () => pb.evaluate((t: string) => (window as any).P.seen[t] as number | undefined, token), 10_000, 10);
    await Promise.all([ca.close(), cb.close()]);
    if (record) phases[mode].peerjs.push({ pageOpen: a.startedAt - t0, connect: a.connectMs, afterConnect: at - Math.max(a.doneAt, b.doneAt) });
    return { ms: at - t0, connectMs: [a.connectMs, b.connectMs] };
  }

  // The floor under `connect()` on call: a SharedWorker whose script only echoes, started in two
  // fresh contexts at once on the same page as our on-call trial, timed from `new SharedWorker()`
  // to its first answer. A node that lives in a SharedWorker cannot be up sooner than this.
  const workerStart: number[] = [];
  async function echoWorkerOnce(): Promise<void> {
    const [ca, cb] = [await c.context(), await c.context()];
    const [pa, pb] = await Promise.all([openPageTimed(ca, meshUrl), openPageTimed(cb, meshUrl)]);
    const start = (p: Page) => p.evaluate(() => new Promise<number>((resolve) => {
      const t0 = performance.now();
      const w = new SharedWorker('/echo-worker.js');
      w.port.onmessage = () => resolve(performance.now() - t0);
      w.port.postMessage(0);
    }));
    workerStart.push(...(await Promise.all([start(pa), start(pb)])));
    await Promise.all([ca.close(), cb.close()]);
  }

  const ours: number[] = [];
  const oursConnect: number[] = [];
  const peerErrors: string[] = [];
  const atLoad = { ours: [] as number[], peerjs: [] as number[] };
  const isolated = { ours: [] as number[], peerjs: [] as number[] };
  const preloaded: number[] = [];
  const peerjsReady = () => peerjs !== undefined && !('error' in peerjs);
  // One trial of each library first, not counted: the first pages a fresh browser opens took up
  // to three times as long as the rest (3 598 ms against 1 202-1 725 ms for ours on call, the very
  // first pages of a run), and that trial was always ours.
  await oursOnce('onCall', false);
  if (peerjsReady()) await peerjsOnce('onCall', false).catch((err: unknown) => peerErrors.push(errorText(err)));
  for (let i = 0; i < trials; i++) {
    const runOurs = async (mode: Mode) => {
      const o = await oursOnce(mode);
      if (mode === 'atLoad') atLoad.ours.push(o.ms);
      else if (mode === 'isolated') isolated.ours.push(o.ms);
      else {
        ours.push(o.ms);
        oursConnect.push(...o.connectMs);
      }
      // preload() has no PeerJS counterpart (its open is the connection): ours only, against PeerJS on call.
      if (mode === 'atLoad') preloaded.push((await oursOnce('preloaded')).ms);
    };
    const runPeerjs = async (mode: Mode) => {
      if (!peerjs || 'error' in peerjs) return;
      try {
        const p = await peerjsOnce(mode);
        if (mode === 'atLoad') atLoad.peerjs.push(p.ms);
        else if (mode === 'isolated') isolated.peerjs.push(p.ms);
        else {
          peerjs.ms.push(p.ms);
          peerjs.connectMs.push(...p.connectMs);
        }
      } catch (err) {
        peerErrors.push(errorText(err));
      }
    };
    // The modes take turns going first, and so do the two libraries within a mode, so that a slow
    // stretch of the machine, or the teardown of the trial before, falls on both alike.
    for (const mode of (i % 2 === 0 ? ['onCall', 'atLoad', 'isolated'] : ['isolated', 'atLoad', 'onCall']) as Mode[]) {
      if (i % 2 === 0) {
        await runOurs(mode);
        await runPeerjs(mode);
      } else {
        await runPeerjs(mode);
        await runOurs(mode);
      }
    }
    await echoWorkerOnce();
  }
  stopPeer?.();

  // Cold against warm: B stays up; A opens the page fresh (cold), closes it, waits for its
  // SharedWorker to stop, and opens it again in the same profile (warm).
  const cb = await c.context();
  const pb = await openPage(cb, meshUrl, c.log);
  const b = await bootMesh(pb);
  const cold: number[] = [], warm: number[] = [], coldConnect: number[] = [], warmConnect: number[] = [];
  const restarted: boolean[] = [];
  for (let i = 0; i < trials; i++) {
    const ca = await c.context();
    const once = async () => {
      const t0 = abs();
      const pa = await openPage(ca, meshUrl, c.log);
      const a = await bootMesh(pa);
      const token = `first:${++seq}`;
      const r = await pa.evaluate((to: string, t: string) => (window as any).T.firstRequest(to, t, 20), b.id, token);
      failedTries.push(...r.errors);
      const at: number = await pb.evaluate((t: string) => (window as any).T.rx.seen[t], token);
      const s = await pa.evaluate(() => (window as any).mesh.status());
      return { ms: at - t0, connectMs: a.connectMs as number, startedAt: s.startedAt as number, page: pa };
    };
    const first = await once();
    cold.push(first.ms);
    coldConnect.push(first.connectMs);
    await sleep(1200); // peer memory is written shortly after a change
    await first.page.close();
    await sleep(1500); // the SharedWorker stops once its last tab has gone
    const second = await once();
    warm.push(second.ms);
    warmConnect.push(second.connectMs);
    restarted.push(second.startedAt > first.startedAt);
    await ca.close();
  }

  await plain.close();
  const med = (xs: number[]) => percentile(xs, 0.5);
  const budgetOf = ({ ours: o, peerjs: p }: { ours: Phases[]; peerjs: Phases[] }) =>
    o.length && p.length ? round(med(p.map((x) => x.connect)) + med(p.map((x) => x.afterConnect)) - med(o.map((x) => x.afterConnect)), 1) : null;
  const pj = peerjs && !('error' in peerjs) && peerjs.ms.length > 0 ? peerjs : undefined;
  return {
    trials,
    oursFirstMessageMs: round(med(ours), 1),
    oursTrialsMs: ours.map((x) => round(x, 1)),
    oursConnectMs: round(med(oursConnect), 1),
    peerjsFirstMessageMs: pj ? round(med(pj.ms), 1) : null,
    peerjsTrialsMs: pj ? pj.ms.map((x) => round(x, 1)) : null,
    peerjsOpenMs: pj ? round(med(pj.connectMs), 1) : null,
    peerjsError: peerjs && 'error' in peerjs ? peerjs.error : peerErrors[0] ?? null,
    connectVsPeerjs: pj ? ratio(med(ours), med(pj.ms)) : null,
    coldMs: round(med(cold), 1),
    warmMs: round(med(warm), 1),
    coldTrialsMs: cold.map((x) => round(x, 1)),
    warmTrialsMs: warm.map((x) => round(x, 1)),
    coldConnectMs: round(med(coldConnect), 1),
    warmConnectMs: round(med(warmConnect), 1),
    warmNodeRestarted: restarted,
    warmColdRatio: ratio(med(warm), med(cold)),
    phasesMedian: { ours: medPhases(phases.onCall.ours), peerjs: medPhases(phases.onCall.peerjs) },
    // Median ms after connect() began, over both pages of the first-message trials, sorted by time.
    bootStepsMedianMs: medSteps(bootStepsOf.onCall),
    // The same trial with connect() (new Peer()) started as each page's module runs.
    atLoad: {
      oursFirstMessageMs: atLoad.ours.length ? round(med(atLoad.ours), 1) : null,
      oursTrialsMs: atLoad.ours.map((x) => round(x, 1)),
      peerjsFirstMessageMs: atLoad.peerjs.length ? round(med(atLoad.peerjs), 1) : null,
      peerjsTrialsMs: atLoad.peerjs.map((x) => round(x, 1)),
      phasesMedian: { ours: medPhases(phases.atLoad.ours), peerjs: medPhases(phases.atLoad.peerjs) },
      bootStepsMedianMs: medSteps(bootStepsOf.atLoad),
    },
    connectAtLoadVsPeerjs: atLoad.ours.length && atLoad.peerjs.length ? ratio(med(atLoad.ours), med(atLoad.peerjs)) : null,
    // The page calls preload() as its module runs and connect() when the driver asks, against PeerJS on call.
    preloaded: {
      oursFirstMessageMs: preloaded.length ? round(med(preloaded), 1) : null,
      oursTrialsMs: preloaded.map((x) => round(x, 1)),
      phasesMedian: { ours: medPhases(phases.preloaded.ours) },
      bootStepsMedianMs: medSteps(bootStepsOf.preloaded),
    },
    // The on-call trial on cross-origin isolated pages, both libraries.
    isolated: {
      oursFirstMessageMs: isolated.ours.length ? round(med(isolated.ours), 1) : null,
      peerjsFirstMessageMs: isolated.peerjs.length ? round(med(isolated.peerjs), 1) : null,
      phasesMedian: { ours: medPhases(phases.isolated.ours), peerjs: medPhases(phases.isolated.peerjs) },
      bootStepsMedianMs: medSteps(bootStepsOf.isolated),
    },
    connectIsolatedVsPeerjs: isolated.ours.length && isolated.peerjs.length ? ratio(med(isolated.ours), med(isolated.peerjs)) : null,
    connectPreloadedVsPeerjs: pj && preloaded.length ? ratio(med(preloaded), med(pj.ms)) : null,
    // The echo SharedWorker's start (above), and what our connect() may take for the on-call trial
    // to tie PeerJS with equal page loads: PeerJS's open plus its first message, less ours.
    sharedWorkerStartMs: workerStart.length ? round(med(workerStart), 1) : null,
    connectBudgetMs: budgetOf(phases.onCall),
    oursFailedFirstTries: failedTries.length,
    oursFailedFirstTryErrors: [...new Set(failedTries)].slice(0, 3),
  };
}
