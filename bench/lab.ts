/**
 * The `lab` part: figures through real NAT routers, in the network lab of test/lab (two homes
 * behind cone routers, `meshwork serve` in a third namespace; needs root). Two Chromium nodes,
 * one per home, nothing configured in the pages:
 * - time to a direct WebRTC link: from the start of both nodes' boot until one reports a
 *   `via: 'direct'` link to the other; against a raw RTCPeerConnection pair in the same two
 *   pages with the same STUN (the server's), signalled by the bench itself in one round trip:
 *   the floor for opening a DataChannel through these routers;
 * - recovery: home 1's uplink down 10 s; time from its return to the first answered request;
 * - then with 20 ms one way on each WAN (40 ms RTT per WAN, 80 ms between the homes; netem, or
 *   the lab's delay line where the kernel has none): request round trips between the homes
 *   against a raw DataChannel's ping between the same two pages; and cold against warm start
 *   of home 1's node, each timed from opening the page until its routing table is as full as
 *   before (its server link and its direct link to home 2: all this three-node mesh has). Warm
 *   is the same browser context (identity, peer memory) in a new tab once the old node stopped.
 * - PeerJS through the same routers: a PeerServer in the server namespace, PeerJS given the same
 *   ICE servers as the mesh nodes (the server's STUN); from both peers open to an open
 *   DataConnection between the homes.
 * - still at 40 ms RTT per WAN, time to first message against PeerJS (bench/lab-connect.ts): both
 *   homes open the page fresh, connect (PeerJS: new Peer()), home 1 sends home 2 one message.
 * Without root the part is skipped with the reason.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, labUnavailable, SERVER_IP } from '../test/lab/netns.js';
import type { RemoteBrowser, RemotePage } from '../test/lab/remote-browser.js';
import { bootPage, browserIn, HTTP_PORT, requests, startServer, statusOf, waitFor, type LabStatus } from '../test/lab/scenario.js';
import { firstMessageAt40ms, labStaticDir } from './lab-connect.js';
import { errorText, percentile, ratio, round } from './lib.js';
import type { BenchContext } from './run.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function labFigures(c: BenchContext): Promise<Record<string, unknown>> {
  const why = labUnavailable();
  if (why) {
    console.log(`# lab: skipped: ${why}`);
    return { skipped: why };
  }
  const trials = c.quick ? 1 : 3;
  const lab = new Lab(['cone', 'cone'], { shapeable: true });
  const browsers = [] as ReturnType<typeof browserIn>[];
  const pagesDir = labStaticDir();
  try {
    await lab.up();
    await startServer(lab, [], c.log, pagesDir);
    browsers.push(browserIn(lab, 1, 'chromium'), browserIn(lab, 2, 'chromium'));
    await startPeerServer(lab, c.log);
    const mesh: number[] = [];
    const raw: number[] = [];
    const pj: number[] = [];
    let recoveryMs: number | null = null;
    for (let i = 0; i < trials; i++) {
      const t0 = Date.now();
      const [a, b] = (await Promise.all(browsers.map((x) => bootPage(x)))) as [Awaited<ReturnType<typeof bootPage>>, Awaited<ReturnType<typeof bootPage>>];
      // Time to boot both, then until the direct link: the page load itself is not counted.
      const booted = Date.now();
      await waitFor('a direct link', async () => (await statusOf(a.page)).links.some((l) => l.id === b.id && l.via === 'direct'), 90_000, 50);
      mesh.push(Date.now() - booted);
      c.log.push(`trial ${i}: boot ${booted - t0} ms, direct link ${Date.now() - booted} ms after`);
      raw.push((await rawPair(a.page, b.page, 0)).openMs);
      pj.push(await peerjsOpenMs(a.page, b.page));
      if (i === trials - 1) {
        await lab.uplink(1, false);
        const downAt = Date.now();
        await waitFor('10 s of outage', async () => Date.now() - downAt >= 10_000, 11_000, 250);
        await lab.uplink(1, true);
        const upAt = Date.now();
        recoveryMs = await waitFor('an answer after the uplink returned', async () => ((await requests(a.page, b.id, 1, 0, 1_500)).ok === 1 ? Date.now() - upAt : undefined), 30_000, 50);
      }
      await Promise.all([a.page.close(), b.page.close()]);
    }
    const slow = await at40msRtt(lab, browsers as [RemoteBrowser, RemoteBrowser], trials, c.log);
    // Still at 40 ms RTT per WAN (at40msRtt leaves the WANs shaped). Its failure leaves the other figures standing.
    const first = 'skipped' in slow
      ? { skipped: slow.skipped }
      : await firstMessageAt40ms(browsers as [RemoteBrowser, RemoteBrowser], trials, PEERJS_OPTIONS, c.log).catch((err: unknown) => ({ error: errorText(err) }));
    const med = (xs: number[]) => percentile(xs, 0.5);
    return {
      trials,
      meshDirectLinkMs: round(med(mesh), 0),
      meshDirectLinkTrialsMs: mesh,
      rawDcOpenMs: round(med(raw), 0),
      rawDcOpenTrialsMs: raw,
      directLinkVsRaw: ratio(med(mesh), med(raw)),
      peerjsOpenMs: round(med(pj), 0),
      peerjsOpenTrialsMs: pj,
      directLinkVsPeerjs: ratio(med(mesh), med(pj)),
      outageRecoveryMs: recoveryMs,
      at40msRtt: slow,
      rttRatioAt40ms: 'rttRatioP50' in slow ? slow.rttRatioP50 : null,
      warmColdRatioAt40ms: 'warmColdRatio' in slow ? slow.warmColdRatio : null,
      firstMessageAt40ms: first,
      connectVsPeerjsAt40ms: 'connectVsPeerjs' in first ? first.connectVsPeerjs : null,
    };
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    await lab.down();
    rmSync(pagesDir, { recursive: true, force: true });
  }
}

const PEERJS_PORT = 9000;
/** PeerJS's options in the lab: its PeerServer in the server namespace, the mesh nodes' ICE servers (the server's STUN). */
const PEERJS_OPTIONS = { host: SERVER_IP, port: PEERJS_PORT, path: '/p', secure: false, debug: 0, config: { iceServers: [{ urls: `stun:${SERVER_IP}:${HTTP_PORT}` }] } };

/** A PeerServer (the `peer` package) in the server namespace; resolves once it listens. */
async function startPeerServer(lab: Lab, log: string[]): Promise<void> {
  const script = `import('peer').then(({ PeerServer }) => PeerServer({ port: ${PEERJS_PORT}, host: '${SERVER_IP}', path: '/p' }, () => console.log('listening')))`;
  const child = lab.spawn(lab.ns('srv'), [process.execPath, '-e', script], { cwd: ROOT });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the PeerServer did not start in 30 s')), 30_000);
    child.stderr!.on('data', (d: Buffer) => log.push(`[peerjs] ${d.toString().trim()}`));
    child.stdout!.on('data', (d: Buffer) => /listening/.test(d.toString()) && (clearTimeout(t), resolve()));
    child.on('exit', (code) => (clearTimeout(t), reject(new Error(`the PeerServer exited ${code}: ${log.slice(-5).join('\n')}`))));
  });
}

/**
 * PeerJS between the two pages, with the mesh's ICE servers: both peers open at the PeerServer,
 * then ms from there until a's DataConnection to b is open. The client library is evaluated
 * into the pages as text (the lab's pages are the mesh's own).
 */
async function peerjsOpenMs(a: RemotePage, b: RemotePage): Promise<number> {
  const lib = readFileSync(join(ROOT, 'node_modules/peerjs/dist/peerjs.min.js'), 'utf8');
  const open = `(() => { ${lib}
    ; return new Promise((resolve, reject) => {
      const peer = new Peer(${JSON.stringify(PEERJS_OPTIONS)});
      window.pjPeer = peer;
      peer.on('open', (id) => resolve(id));
      peer.on('error', (e) => reject(new Error(String(e.type ?? e))));
      setTimeout(() => reject(new Error('no PeerJS id in 20 s')), 20_000);
    }); })()`;
  const [, bId] = await Promise.all([a.evalText<string>(open), b.evalText<string>(open)]);
  const ms = await a.evalText<number>(`new Promise((resolve, reject) => {
    const t0 = performance.now();
    const conn = window.pjPeer.connect(${JSON.stringify(bId)}, { reliable: true });
    conn.on('open', () => resolve(Math.round(performance.now() - t0)));
    conn.on('error', (e) => reject(new Error(String(e))));
    setTimeout(() => reject(new Error('no PeerJS DataConnection in 30 s')), 30_000);
  })`);
  await Promise.all([a.evalText('window.pjPeer.destroy()'), b.evalText('window.pjPeer.destroy()')]);
  return ms;
}

/** The figures at 40 ms RTT per WAN (see the top of the file); `skipped` where no delay can be added. */
async function at40msRtt(lab: Lab, browsers: [RemoteBrowser, RemoteBrowser], trials: number, log: string[]): Promise<Record<string, unknown>> {
  const { delay } = await lab.shape(20, 0);
  if (!delay) return { skipped: lab.noDelayReason ?? 'no way to add delay on this kernel' };
  const full = (s: LabStatus, other: string) => s.links.some((l) => l.transport !== 'webrtc') && s.links.some((l) => l.id === other && l.via === 'direct');
  const untilFull = async (page: RemotePage, other: string, t0: number) => {
    await waitFor('the routing table as full as before', async () => full(await statusOf(page), other), 90_000, 20);
    const ms = Date.now() - t0;
    // A slow start is one dial that timed out: keep what both nodes say about their dials.
    if (ms > 10_000) {
      for (const p of [page, b.page]) {
        const s = await p.eval(() => (window as any).mesh.status());
        log.push(`slow start (${ms} ms): ${p.name} rtcDials ${JSON.stringify(s.rtcDials)} dropped ${JSON.stringify(s.counters?.dropped)} links ${JSON.stringify(s.links.map((l: any) => [String(l.id).slice(0, 8), l.transport]))}`);
      }
    }
    return ms;
  };
  const b = await bootPage(browsers[1]);
  const meshRtt: number[] = [];
  const rawRtt: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < trials; i++) {
    let t0 = Date.now();
    const a = await bootPage(browsers[0]);
    cold.push(await untilFull(a.page, b.id, t0));
    const r = await requests(a.page, b.id, 20, 200, 5_000);
    if (r.ok !== 20) throw new Error(`at 40 ms RTT, ${20 - r.ok} of 20 requests failed: ${r.errors.join('; ')}`);
    meshRtt.push(...r.ms);
    rawRtt.push(...(await rawPair(a.page, b.page, 20)).rttMs);
    // Warm: the same context in a new tab, once home 2 saw the old node go (its worker stopped).
    await a.page.closeTab();
    await waitFor('home 2 sees the closed node go', async () => !(await statusOf(b.page)).links.some((l) => l.id === a.id), 30_000, 50);
    t0 = Date.now();
    await a.page.reopen();
    const again = (await a.page.eval((o) => (window as any).T.boot(o), {})) as { id: string };
    if (again.id !== a.id) throw new Error(`the warm node has another id (${again.id}): the context lost its storage`);
    warm.push(await untilFull(a.page, b.id, t0));
    log.push(`40 ms trial ${i}: cold ${cold.at(-1)} ms, warm ${warm.at(-1)} ms, mesh RTT p50 ${percentile(r.ms, 0.5).toFixed(1)} ms`);
    await a.page.close();
  }
  await b.page.close();
  const med = (xs: number[]) => percentile(xs, 0.5);
  return {
    oneWayDelayPerWanMs: 20,
    meshRttP50Ms: round(med(meshRtt), 1),
    rawDcRttP50Ms: round(med(rawRtt), 1),
    rttRatioP50: ratio(med(meshRtt), med(rawRtt)),
    coldToFullMs: round(med(cold), 0),
    warmToFullMs: round(med(warm), 0),
    coldTrialsMs: cold,
    warmTrialsMs: warm,
    warmColdRatio: ratio(med(warm), med(cold)),
  };
}

/**
 * A raw RTCPeerConnection pair between the two pages, with the server's STUN, signalled by the
 * bench in one round trip: ms until both channels are open, then `pings` round trips of a
 * small message (the far side echoes), one at a time.
 */
async function rawPair(a: RemotePage, b: RemotePage, pings: number): Promise<{ openMs: number; rttMs: number[] }> {
  const ice = [{ urls: `stun:${SERVER_IP}:${HTTP_PORT}` }];
  // As text: the bundler's name-keeping helpers must not end up inside the page's code.
  const setup = (init: boolean) => `(() => {
    const pc = new RTCPeerConnection({ iceServers: ${JSON.stringify(ice)} });
    window.rawPc = pc;
    window.rawT0 = performance.now();
    window.rawOpen = new Promise((resolve) => {
      const on = (ch) => {
        window.rawCh = ch;
        ch.onopen = () => resolve(performance.now() - window.rawT0);
        if (!${init}) ch.onmessage = (e) => ch.send(e.data);
      };
      if (${init}) on(pc.createDataChannel('raw')); else pc.ondatachannel = (e) => on(e.channel);
    });
    window.rawGathered = () => new Promise((r) => {
      if (pc.iceGatheringState === 'complete') r();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
      setTimeout(r, 3000);
    });
    window.rawPing = async (n) => {
      const ch = window.rawCh, out = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await new Promise((r, j) => { ch.onmessage = () => r(); ch.send('p' + i); setTimeout(() => j(new Error('no echo in 5 s')), 5000); });
        out.push(performance.now() - t0);
      }
      return out;
    };
    return true;
  })()`;
  await a.evalText(setup(true));
  await b.evalText(setup(false));
  const offer = await a.eval(async () => {
    const w = window as any;
    await w.rawPc.setLocalDescription();
    await w.rawGathered();
    return w.rawPc.localDescription.sdp as string;
  });
  const answer = await b.eval(async (sdp: string) => {
    const w = window as any;
    await w.rawPc.setRemoteDescription({ type: 'offer', sdp });
    await w.rawPc.setLocalDescription();
    await w.rawGathered();
    return w.rawPc.localDescription.sdp as string;
  }, offer);
  await a.eval(async (sdp: string) => (window as any).rawPc.setRemoteDescription({ type: 'answer', sdp }), answer);
  const ms = await a.eval(() => Promise.race([(window as any).rawOpen, new Promise<number>((r) => setTimeout(() => r(-1), 15_000))]));
  if (ms < 0) throw new Error('the raw DataChannel did not open in 15 s');
  // The answering side's channel opens a moment later: its echo must be in place first.
  await b.eval(() => (window as any).rawOpen);
  const rttMs = pings > 0 ? await a.evalText<number[]>(`window.rawPing(${pings})`) : [];
  await Promise.all([a.eval(() => (window as any).rawPc.close()), b.eval(() => (window as any).rawPc.close())]);
  return { openMs: Math.round(ms), rttMs };
}
